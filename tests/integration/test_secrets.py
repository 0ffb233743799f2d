"""Secrets and host paths stay out of what a build produces.

A build runs with canary values in GITHUB_TOKEN and AWS_SECRET_ACCESS_KEY and pushes with a
registry password given on stdin; the app is compiled in that environment. Every decompressed
layer, every document of the tarball, the SBOM, the metadata file, pybin2img's output and its
logs are searched for them. The image is also searched for the build machine's paths: the home
folder, the cache folder and the app's folder appear nowhere in it, except inside the build
interpreter's installation prefix, which CPython compiles into libpython (README:
"Reliability"). And in the process that built, pushed and signed, no options or result object
prints a secret (``repr()``, ``str()``): anything may log one.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import uuid
from pathlib import Path

import pytest
import requests

from pybin2img.build import build_image
from pybin2img.log import Log
from pybin2img.options import build_options, cache_dir
from pybin2img.settings import Project, merge
from pybin2img.ship.keys import generate_key_pair
from tests.conftest import require
from tests.integration.conftest import EXAMPLES, RUN_ID

pytestmark = pytest.mark.integration

REGISTRY = "127.0.0.1:5001"
CREDENTIALS = Path(os.environ.get("PYBIN2IMG_REGISTRY_DIR", "/var/lib/pybin2img-registry"))


def _documents(tarball: Path) -> dict[str, bytes]:
    """Every member of the image tarball, layers decompressed."""
    found = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member)
            if f is None:
                continue
            data = f.read()
            found[member.name] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return found


def test_no_secret_and_no_host_path_in_anything_a_build_writes(tmp_path: Path) -> None:
    try:
        status = requests.get(f"http://{REGISTRY}/v2/", timeout=3).status_code
    except requests.RequestException:
        status = None
    credentials = CREDENTIALS / "credentials"
    require(status == 401 and credentials.is_file(), f"no Basic-auth registry on {REGISTRY}")
    user, _, password = credentials.read_text().strip().partition(":")
    app_dir = tmp_path / "app-folder"
    app_dir.mkdir()
    app = app_dir / "hello.py"
    # An app no build has compiled: the compile runs with the canaries in its environment.
    app.write_text((EXAMPLES / "hello" / "hello.py").read_text() + f"# {uuid.uuid4()}\n")
    canaries = {
        "GITHUB_TOKEN": f"ghp_canary{uuid.uuid4().hex}",
        "AWS_SECRET_ACCESS_KEY": f"awscanary{uuid.uuid4().hex}",
    }
    out = tmp_path / "out"
    reference = f"{REGISTRY}/secrets/app:{RUN_ID}"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pybin2img",
            "build",
            str(app),
            "-t",
            reference,
            "-o",
            str(out / "app.tar"),
            "--push",
            "--username",
            user,
            "--password-stdin",
            "--metadata-file",
            str(out / "meta.json"),
            "-v",
        ],
        input=password + "\n",
        env={**os.environ, **canaries, "DOCKER_CONFIG": str(tmp_path / "docker-config")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((out / "meta.json").read_text())
    cache = cache_dir(os.environ)
    searched = {
        "stdout": proc.stdout.encode(),
        "stderr": proc.stderr.encode(),
        **{p.name: p.read_bytes() for p in out.iterdir() if p.name != "app.tar"},
        **{f"cache log {p.name}": p.read_bytes() for p in (cache / "logs").iterdir()},
        **_documents(out / "app.tar"),
    }
    assert "app.sbom.cdx.json" in searched
    assert len([name for name in searched if name.startswith("blobs/")]) >= 6
    for secret in [*canaries.values(), password]:
        leaks = [name for name, data in searched.items() if secret.encode() in data]
        assert leaks == [], f"a secret is in {leaks}"
    assert not (tmp_path / "docker-config").exists(), "no credentials were stored"

    # The image itself: no path of the build machine but the interpreter's own prefix.
    prefix = os.path.realpath(sysconfig.get_config_var("prefix") or sys.base_prefix).encode()
    image = {name: data for name, data in _documents(out / "app.tar").items()}
    paths = {str(Path.home()), str(cache), str(app_dir), str(tmp_path)}
    for name, data in image.items():
        rest = data.replace(prefix, b"")
        for path in paths:
            assert path.encode() + b"/" not in rest, f"{path} is in {name} of the image"
    assert meta["digest"] in {f"sha256:{n.rsplit('/', 1)[1]}" for n in image if "blobs/" in n}


def _registry_password() -> tuple[str, str]:
    try:
        status = requests.get(f"http://{REGISTRY}/v2/", timeout=3).status_code
    except requests.RequestException:
        status = None
    credentials = CREDENTIALS / "credentials"
    require(status == 401 and credentials.is_file(), f"no Basic-auth registry on {REGISTRY}")
    user, _, password = credentials.read_text().strip().partition(":")
    return user, password


def _dataclasses(value: object, seen: set[int]) -> list[object]:
    """``value`` and every dataclass reachable from its fields (through tuples and lists)."""
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, (tuple, list)):
        return [found for item in value for found in _dataclasses(item, seen)]
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        return []
    found: list[object] = [value]
    for item in dataclasses.fields(value):
        found += _dataclasses(getattr(value, item.name), seen)
    return found


def test_no_options_or_result_object_prints_a_secret(tmp_path: Path) -> None:
    """Built in this process (hello, a cached compile): push with a password, sign with a key
    whose password is COSIGN_PASSWORD, with tokens in the environment."""
    user, password = _registry_password()
    canary = uuid.uuid4().hex
    environ = {
        **os.environ,
        "GITHUB_TOKEN": f"ghp_canary{canary}",
        "AWS_SECRET_ACCESS_KEY": f"awscanary{canary}",
        "HTTPS_PROXY": f"http://proxy:proxycanary{canary}@proxy.invalid:3128",
        "CCACHE_REMOTE_STORAGE": f"redis://cache:ccachecanary{canary}@127.0.0.1:1",
        "COSIGN_PASSWORD": f"cosigncanary{canary}",
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
    }
    key, _ = generate_key_pair(tmp_path / "cosign", environ["COSIGN_PASSWORD"])
    given = {
        "tag": f"{REGISTRY}/secrets/inprocess:{RUN_ID}",
        "output": tmp_path / "hello.tar",
        "push": True,
        "username": user,
        "password_stdin": True,
        "sign_key": key,
    }
    values, sources = merge({k: (v, "flag") for k, v in given.items()}, Project())
    options = build_options(
        values,
        sources=sources,
        app=EXAMPLES / "hello" / "hello.py",
        project=Project(),
        environ=environ,
        password=f"{password}",
        default_python=Path(sys.executable),
    )
    result = build_image(options, Log(verbosity=-1))

    assert result.pushed is not None
    assert len(result.signatures) == 2
    objects = _dataclasses(options, set()) + _dataclasses(result, set())
    kinds = {type(o).__name__ for o in objects}
    assert {"BuildOptions", "RegistryOptions", "Credentials", "BuildResult", "PushResult"} <= kinds
    assert {"Attachment", "Signature"} <= kinds
    for obj in objects:
        for text in (repr(obj), str(obj)):
            assert canary not in text, f"a secret is in the repr of {type(obj).__name__}"
            assert password not in text, f"the password is in the repr of {type(obj).__name__}"
