"""zstd layers (``--compression zstd``, ``--compression-level``) end to end: the same image as
gzip's, smaller; read by skopeo, podman and containerd; pushed and read back from a registry;
refused before the compile by an engine that cannot load them (Debian 12's Docker 20.10), whose
presence no longer breaks the build's start check; loaded and run by Debian 13's Docker 26,
with either image store, started from the cached Debian 13 root (tests/integration/conftest.py).

umoci (Debian 12's 0.4.7) reads gzip layers only; test_hello.py checks it on gzip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pybin2img.errors import EngineError
from tests.conftest import require
from tests.integration.conftest import EXAMPLES, RUN_ID, BuiltImage, RootEngine, pybin2img

pytestmark = [pytest.mark.integration, pytest.mark.debian_roots("trixie")]

HELLO = str(EXAMPLES / "hello" / "hello.py")
MEDIA_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
CONTAINERD = "/var/run/docker/containerd/containerd.sock"


def _member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def _manifest_and_config(tarball: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    index = json.loads(_member(tarball, "index.json"))
    digest = index["manifests"][0]["digest"].replace(":", "/")
    manifest = json.loads(_member(tarball, f"blobs/{digest}"))
    config = json.loads(_member(tarball, "blobs/" + manifest["config"]["digest"].replace(":", "/")))
    return manifest, config


@pytest.fixture(scope="module")
def zstd_image(hello_image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """examples/hello at zstd's highest level, under hello_image's name (the SBOM layer names
    the image), built with Debian 12's engine up (hello_image loaded it), not loaded."""
    tarball = tmp_path_factory.mktemp("zstd") / "hello-zstd.tar"
    reference = hello_image.reference
    proc = pybin2img(
        "build", HELLO, "-t", reference, "-o", str(tarball),
        "--compression", "zstd", "--compression-level", "19",
    )  # fmt: skip
    return BuiltImage(
        tarball=tarball, reference=reference, pinned=proc.stdout.strip(), stderr=proc.stderr
    )


def test_the_same_image_as_gzip_and_smaller(
    hello_image: BuiltImage, zstd_image: BuiltImage
) -> None:
    gzip_manifest, gzip_config = _manifest_and_config(hello_image.tarball)
    manifest, config = _manifest_and_config(zstd_image.tarball)
    assert {layer["mediaType"] for layer in manifest["layers"]} == {MEDIA_ZSTD}
    # The same layer tars (diff_ids), the same configuration.
    assert config["rootfs"] == gzip_config["rootfs"]
    assert config["config"] == gzip_config["config"]
    zstd_size = sum(layer["size"] for layer in manifest["layers"])
    gzip_size = sum(layer["size"] for layer in gzip_manifest["layers"])
    assert zstd_size < 0.85 * gzip_size, (zstd_size, gzip_size)
    report = json.loads(pybin2img("inspect", "--json", str(zstd_image.tarball)).stdout)
    assert report["digest"] == zstd_image.pinned.rsplit("@", 1)[1]
    # Debian 12's engine cannot load it, so the start check ran outside it.
    assert "zstd layers need Docker 23 or newer" in zstd_image.stderr
    assert "start check, private namespaces: exit code 0" in zstd_image.stderr


def test_a_level_is_its_compressions_and_decides_the_bytes(tmp_path: Path) -> None:
    out = tmp_path / "x.tar"
    wrong = pybin2img("build", HELLO, "-t", "x:1", "-o", str(out), "--compression-level", "12",
                      check=False)  # fmt: skip
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines()[-1] == (
        "pybin2img: error: --compression-level 12: gzip has no level 12; its levels are 1 to 9"
    )
    assert not out.exists()
    one = pybin2img("build", HELLO, "-t", "x:1", "-o", str(out), "--compression-level", "1")
    nine = pybin2img("build", HELLO, "-t", "x:1", "-o", str(out), "--compression-level", "9")
    assert one.stdout != nine.stdout


def test_skopeo_podman_and_containerd_read_it(zstd_image: BuiltImage) -> None:
    for tool in ("skopeo", "podman", "ctr"):
        require(shutil.which(tool), f"{tool} not installed")
    info = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{zstd_image.tarball}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert info.returncode == 0, info.stderr
    assert zstd_image.pinned.endswith(json.loads(info.stdout)["Digest"])

    name = "docker.io/" + zstd_image.reference
    loaded = subprocess.run(["podman", "load", "-i", str(zstd_image.tarball)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    try:
        run = subprocess.run(["podman", "run", "--rm", "--network", "none", *limits, name, "p"],
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "args: p" in run.stdout
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True, check=False)

    # containerd 1.6, the one Debian 12's engine runs, in a namespace of this test's own.
    require(Path(CONTAINERD).is_socket(), f"no containerd at {CONTAINERD}")
    ctr = ["ctr", "--address", CONTAINERD, "--namespace", f"p2i-zstd-{RUN_ID}"]
    try:
        imported = subprocess.run([*ctr, "images", "import", str(zstd_image.tarball)],
                                  capture_output=True, text=True, check=False)  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        run = subprocess.run(
            [*ctr, "run", "--rm", name, f"p2i-zstd-{RUN_ID}", "/app/hello", "c"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        assert "args: c" in run.stdout
    finally:
        _remove_namespace(ctr)


def _remove_namespace(ctr: list[str]) -> None:
    """Everything the test put in its containerd namespace, then the namespace."""
    subprocess.run([*ctr, "images", "rm", "--sync", *_lines([*ctr, "images", "ls", "-q"])],
                   capture_output=True, check=False)  # fmt: skip
    # Snapshots from the top down: a parent goes once its children have.
    for _ in range(16):
        keys = [line.split()[0] for line in _lines([*ctr, "snapshots", "ls"])[1:]]
        if not keys:
            break
        subprocess.run([*ctr, "snapshots", "rm", *keys], capture_output=True, check=False)
    content = _lines([*ctr, "content", "ls", "-q"])
    if content:
        subprocess.run([*ctr, "content", "rm", *content], capture_output=True, check=False)
    namespace = ctr[ctr.index("--namespace") + 1]
    subprocess.run([*ctr[:3], "namespaces", "rm", namespace], capture_output=True, check=False)


def _lines(argv: list[str]) -> list[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return [line for line in proc.stdout.splitlines() if line.strip()]


def test_pushed_and_read_back_from_a_registry(
    zstd_image: BuiltImage, open_registry: str, tmp_path: Path
) -> None:
    require(shutil.which("skopeo"), "skopeo not installed")
    reference = f"{open_registry}/pybin2img-test/zstd-{RUN_ID}:1"
    pushed = pybin2img("push", str(zstd_image.tarball), reference)
    assert pushed.stdout.strip().endswith(zstd_image.pinned.rsplit("@", 1)[1])
    layout = tmp_path / "layout"
    copied = subprocess.run(
        ["skopeo", "copy", "--src-tls-verify=false", f"docker://{reference}", f"oci:{layout}:x"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    manifest, _ = _manifest_and_config(zstd_image.tarball)
    for layer in manifest["layers"]:
        blob = layout / "blobs" / "sha256" / layer["digest"].split(":", 1)[1]
        assert blob.stat().st_size == layer["size"]


@pytest.mark.parametrize("zstd", ["--compression", "--base"])
def test_load_into_an_engine_that_cannot_fails_before_the_compile(
    hello_image: BuiltImage, zstd_image: BuiltImage, tmp_path: Path, zstd: str
) -> None:
    out = tmp_path / "out" / "hello.tar"
    given = ["--compression", "zstd"] if zstd == "--compression" else ["--base", zstd_image.tarball]
    proc = pybin2img("build", HELLO, "-t", "x:1", "-o", str(out), *map(str, given), "--load",
                     check=False)  # fmt: skip
    assert proc.returncode == EngineError.exit_code, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("pybin2img: error: --load: the Docker engine at ")
    assert "cannot load zstd layers (Docker 23 and newer can), and " in line
    assert line.endswith("; build with gzip layers, or load into a newer engine")
    why = (
        "--compression zstd writes them" if zstd == "--compression" else "the --base image has them"
    )
    assert why in line
    assert not (tmp_path / "out").exists()


# --- Debian 13's Docker ------------------------------------------------------------------------


def test_debian_13_docker_loads_and_runs_it(debian13_engine: RootEngine, tmp_path: Path) -> None:
    import docker

    assert int(debian13_engine.version.split(".")[0]) >= 23, debian13_engine.version
    reference = f"pybin2img-test/hello-zstd13-{debian13_engine.store}:{RUN_ID}"
    env = {**os.environ, "DOCKER_HOST": debian13_engine.host}
    proc = pybin2img(
        "build", HELLO, "-t", reference, "-o", str(tmp_path / "hello.tar"),
        "--compression", "zstd", "--load", env=env,
    )  # fmt: skip
    assert "zstd layers need" not in proc.stderr
    assert "start check, Docker engine: exit code 0" in proc.stderr
    _, config = _manifest_and_config(tmp_path / "hello.tar")
    client = docker.DockerClient(base_url=debian13_engine.host)
    try:
        image = client.images.get(reference)
        assert image.attrs["RootFS"]["Layers"] == config["rootfs"]["diff_ids"]
        output = client.containers.run(reference, ["z"], network_mode="none", remove=True)
        assert b"args: z" in output
    finally:
        client.close()
