"""--base IMAGE.tar: an image saved by `docker save` (and the same as an OCI archive) below
pybin2img's layers, reused unchanged, its config merged."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.conftest import EXAMPLES, RUN_ID, BuiltImage, docker, pybin2img

pytestmark = pytest.mark.integration

HELLO = str(EXAMPLES / "hello" / "hello.py")


@pytest.fixture(scope="module")
def saved_base(docker_engine: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small base made with `docker import`, written by `docker save` (docker-archive)."""
    d = tmp_path_factory.mktemp("base")
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        for name, data in {
            "etc/passwd": b"root:x:0:0:root:/root:/bin/false\nbaseuser:x:1234:1234::/:/bin/false\n",
            "opt/base/hello.txt": b"from the base\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("lib")
        link.type, link.linkname = tarfile.SYMTYPE, "usr/lib"
        tar.addfile(link)
        usr = tarfile.TarInfo("usr/lib")
        usr.type, usr.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(usr)
    tag = f"pybin2img-test/base:{RUN_ID}"
    subprocess.run(
        ["docker", "import", "-c", "ENV BASEVAR=1", "-c", "LABEL from=base", "-", tag],
        input=layer.getvalue(),
        check=True,
        capture_output=True,
    )
    path = d / "base.tar"
    docker("save", "-o", str(path), tag)
    docker("rmi", tag)
    return path


def _build_on(base: Path, build_dir: Path, name: str) -> tuple[str, Path]:
    reference = f"pybin2img-test/{name}:{RUN_ID}"
    tarball = build_dir / f"{name}.tar"
    pybin2img("build", HELLO, "-t", reference, "-o", str(tarball), "--base", str(base), "--load")
    return reference, tarball


def _layer_digests(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return [
            layer.rsplit("/", 1)[1]
            for layer in json.loads(tar.extractfile("manifest.json").read())[0]["Layers"]  # type: ignore[union-attr]
        ]


def test_docker_saved_base(saved_base: Path, build_dir: Path, hello_image: BuiltImage) -> None:
    reference, tarball = _build_on(saved_base, build_dir, "on-docker-base")
    try:
        run = docker("run", "--rm", "--read-only", "--network", "none", reference, "x")
        assert "args: x" in run.stdout
        cat = docker("run", "--rm", "--entrypoint", "/app/hello", reference)
        assert "Hello" in cat.stdout
        config = json.loads(docker("image", "inspect", reference).stdout)[0]["Config"]
        assert "BASEVAR=1" in config["Env"]
        assert "LANG=C.UTF-8" in config["Env"]
        assert config["Labels"]["from"] == "base"
        assert config["Labels"]["org.opencontainers.image.base.name"].endswith(f"base:{RUN_ID}")
        assert config["User"] == "65532"
        # The base's layer is reused byte for byte, at the bottom; the dependencies' layer is
        # the same as in the scratch build. The app's is not: on a base image, whose loader may
        # be older than glibc 2.36, the binary is linked without packed relative relocations.
        with tarfile.open(saved_base) as tar:
            base_layer = json.loads(tar.extractfile("manifest.json").read())[0]["Layers"][0]  # type: ignore[union-attr]
            base_digest = hashlib.sha256(tar.extractfile(base_layer).read()).hexdigest()  # type: ignore[union-attr]
        layers = _layer_digests(tarball)
        assert layers[0] == base_digest
        assert layers[-3] == _layer_digests(hello_image.tarball)[-3]
        # pybin2img adds only the base files the base lacks: its own /etc/passwd stays.
        with tarfile.open(tarball) as tar:
            own_base = tar.extractfile(f"blobs/sha256/{layers[1]}").read()  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(own_base))) as tar:
            names = tar.getnames()
        assert "etc/passwd" not in names
        assert "etc/group" in names
    finally:
        docker("rmi", "-f", reference, check=False)


def test_oci_archive_base(saved_base: Path, build_dir: Path) -> None:
    require(shutil.which("skopeo"), "skopeo not installed")
    oci = build_dir / "base-oci.tar"
    subprocess.run(
        ["skopeo", "copy", f"docker-archive:{saved_base}", f"oci-archive:{oci}:base"],
        check=True,
        capture_output=True,
    )
    reference, tarball = _build_on(oci, build_dir, "on-oci-base")
    try:
        assert "args: y" in docker("run", "--rm", reference, "y").stdout
        inspect = json.loads(pybin2img("inspect", "--json", str(tarball)).stdout)
        annotations = inspect["annotations"]
        assert annotations["org.opencontainers.image.base.digest"].startswith("sha256:")
    finally:
        docker("rmi", "-f", reference, check=False)


def test_not_an_image(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar"
    with tarfile.open(bogus, "w") as tar:
        tar.addfile(tarfile.TarInfo("hello"))
    proc = pybin2img(
        "build", HELLO, "-t", "x", "-o", str(tmp_path / "x.tar"), "--base", str(bogus), check=False
    )
    assert proc.returncode == 2
    assert "neither an OCI layout nor Docker's manifest.json" in proc.stderr


def test_push_mounts_the_base_layers_from_the_base_repository(build_dir: Path) -> None:
    """A base that lives on the registry pushed to: its layers are mounted, not uploaded."""
    import urllib.request

    registry = "127.0.0.1:5000"
    try:
        urllib.request.urlopen(f"http://{registry}/v2/", timeout=5).close()
        up = True
    except OSError:
        up = False
    require(up, f"no registry on {registry} (ci/start-registry.sh starts one)")
    # Repositories of their own: the registry may keep blobs from earlier runs in others.
    base_ref = f"{registry}/pybin2img-test/mount-base-{RUN_ID}:1"
    base = build_dir / "mount-base.tar"
    pybin2img("build", HELLO, "-t", base_ref, "-o", str(base), "--push")
    meta = build_dir / "on-mount-base.json"
    pybin2img(
        "build",
        str(EXAMPLES / "data" / "greeter"),
        "-t",
        f"{registry}/pybin2img-test/on-mount-base:{RUN_ID}",
        "-o",
        str(build_dir / "omb.tar"),
        "--base",
        str(base),
        "--push",
        "--metadata-file",
        str(meta),
    )
    blobs = json.loads(meta.read_text())["pushed"]["blobs"]
    base_layers = set(_layer_digests(base))
    actions = {b["digest"].split(":")[1]: b["action"] for b in blobs if b["kind"] == "layer"}
    # None uploaded: mounted from the base's repository (this registry also answers "exists"
    # for blobs any repository holds, which the base's top layer, unique to this run, is not).
    assert {actions[d] for d in base_layers} <= {"mounted", "exists"}
    assert "mounted" in {actions[d] for d in base_layers}


def test_distroless_base_has_what_distroless_static_has(build_dir: Path) -> None:
    tarball = build_dir / "hello-distroless.tar"
    pybin2img(
        "build",
        HELLO,
        "-t",
        "distroless-hello:1",
        "-o",
        str(tarball),
        "--base",
        "distroless",
        "--smoke-test",
    )
    files: dict[str, tarfile.TarInfo] = {}
    with tarfile.open(tarball) as outer:
        manifest = json.loads(outer.extractfile("manifest.json").read())[0]  # type: ignore[union-attr]
        config = json.loads(outer.extractfile(manifest["Config"]).read())  # type: ignore[union-attr]
        for layer in manifest["Layers"]:
            data = gzip.decompress(outer.extractfile(layer).read())  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                files.update({m.name: m for m in tar.getmembers()})
    for path in (
        "etc/ssl/certs/ca-certificates.crt",
        "usr/share/zoneinfo/UTC",
        "usr/share/zoneinfo/Europe/Paris",
        "usr/lib/os-release",
        "etc/passwd",
    ):
        assert path in files, path
    assert files["etc/os-release"].issym()
    assert files["etc/os-release"].linkname == "../usr/lib/os-release"
    assert files["root"].mode == 0o700
    assert files["var/tmp"].mode == 0o1777
    assert files["home/nonroot"].uid == 65532
    assert "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" in config["config"]["Env"]
