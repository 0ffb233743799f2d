"""The image config pybin2img writes (plan/config.py's ``image_config``): what ``docker inspect``
shows of the options and the plan, and the architecture of the entry binary (its ELF machine,
as the resolver read it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pybin2img import __version__
from pybin2img.app import AppKind, AppSpec
from pybin2img.errors import HostError
from pybin2img.oci.baseimage import BaseImage
from pybin2img.oci.documents import ImageConfig, config_document
from pybin2img.options import BuildOptions
from pybin2img.plan.config import image_config
from pybin2img.plan.planner import DEFAULT_PATH, ImagePlan
from pybin2img.reference import parse_reference
from pybin2img.resolve.elf import read_elf

from .elfgen import EM_AARCH64, EM_X86_64, make_elf

TINI = ("/usr/bin/tini-static", "-s", "--", "/app/app")
LABELS = {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "team": "from-keys"}


def _options(tmp_path: Path, **fields: Any) -> BuildOptions:
    return BuildOptions(
        app=AppSpec(kind=AppKind.SCRIPT, path=tmp_path / "app.py"),
        reference=parse_reference("reg.example/team/app:1.2"),
        output=tmp_path / "app.tar",
        python=Path("/usr/bin/python3"),
        cache_dir=tmp_path / "cache",
        **fields,
    )


def _plan(**fields: Any) -> ImagePlan:
    values: dict[str, Any] = {"layers": (), "nodes": {}, "binary": "/app/app", "roots": ()}
    values["env"] = ("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",)
    return ImagePlan(**{**values, **fields})


def _config(
    tmp_path: Path,
    options: BuildOptions,
    plan: ImagePlan,
    *,
    machine: int = EM_X86_64,
    base_image: BaseImage | None = None,
) -> ImageConfig:
    binary = make_elf(tmp_path / "app.bin", machine=machine)
    # The resolver reads the entry binary's machine (Closure.machine); the config maps it.
    return image_config(
        options,
        machine=read_elf(str(binary)).machine,
        binary=binary,
        plan=plan,
        epoch=1700000000,
        base_image=base_image,
        labels=LABELS,
    )


def test_the_config_holds_the_options_and_the_plan(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        cmd=("--port", "8080"),
        user="1000:1000",
        workdir="/srv",
        env=("MODE=prod", "PATH=/opt/bin:/usr/bin"),
        labels=(("team", "from-flag"), ("tier", "web")),
        ports=("8080/tcp", "53/udp"),
        stop_signal="SIGINT",
    )
    config = _config(tmp_path, options, _plan(entrypoint=TINI))
    run = config_document(config, [])["config"]
    assert run == {
        "Entrypoint": list(TINI),
        "Cmd": ["--port", "8080"],
        "User": "1000:1000",
        "WorkingDir": "/srv",
        # PATH keeps its place and takes the --env value; the plan's entries come before --env's.
        "Env": [
            "PATH=/opt/bin:/usr/bin",
            "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "MODE=prod",
        ],
        # --label wins over pybin2img's own keys of the same name.
        "Labels": {
            "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
            "team": "from-flag",
            "tier": "web",
        },
        "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
        "Volumes": {"/tmp": {}},
        "StopSignal": "SIGINT",
    }
    assert (config.architecture, config.variant) == ("amd64", None)
    assert (config.created, config.created_by) == (1700000000, f"pybin2img {__version__}")
    assert config.base is None


def test_the_defaults(tmp_path: Path) -> None:
    """Without init the binary is the entrypoint; the app runs as the nonroot user in /app,
    /tmp is a volume, and nothing else is declared."""
    config = _config(tmp_path, _options(tmp_path), _plan(env=()))
    run = config_document(config, [])["config"]
    assert run == {
        "Entrypoint": ["/app/app"],
        "User": "65532",
        "WorkingDir": "/app",
        "Env": [DEFAULT_PATH],
        "Labels": LABELS,
        "Volumes": {"/tmp": {}},
    }


def test_no_tmp_volume(tmp_path: Path) -> None:
    config = _config(tmp_path, _options(tmp_path, tmp_volume=False), _plan())
    assert config.volumes == ()
    assert "Volumes" not in config_document(config, [])["config"]


def test_the_architecture_is_the_entry_binary_s(tmp_path: Path) -> None:
    config = _config(tmp_path, _options(tmp_path), _plan(), machine=EM_AARCH64)
    document = config_document(config, [])
    assert (document["architecture"], document["variant"], document["os"]) == (
        "arm64",
        "v8",
        "linux",
    )
    with pytest.raises(HostError, match=r"unsupported machine EM_SPARC for .*app\.bin"):
        _config(tmp_path, _options(tmp_path), _plan(), machine=2)


def test_a_base_image_s_config_is_carried_to_be_merged_under_pybin2img_s(tmp_path: Path) -> None:
    base_config = {"config": {"Env": ["LANG=C.UTF-8"]}, "history": [{"created_by": "base"}]}
    base = BaseImage(
        path=tmp_path / "base.tar",
        name="base:1",
        digest=None,
        layers=(),
        config=base_config,
        rootfs=tmp_path / "rootfs",
        tree={},
    )
    options = dataclasses.replace(_options(tmp_path), base=str(base.path))
    config = _config(tmp_path, options, _plan(env=()), base_image=base)
    assert config.base is base_config
    document = config_document(config, [])
    assert document["config"]["Env"] == ["LANG=C.UTF-8", DEFAULT_PATH]
    assert document["history"] == [{"created_by": "base"}]
