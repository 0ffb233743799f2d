"""The Docker engines users build next to: Debian 13's Docker 26.1 with its own image store and
with the containerd image store (Docker 29's default for new installations, Docker Desktop's
too), where an image's ID is its manifest's digest, not its config's. Debian 12's Docker 20.10
is every other test's engine.

Each build here runs its start check in the engine (a reference of its own, so no earlier
verdict is reused), then loads or leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from pybin2img.oci import open_archive
from tests.integration.conftest import EXAMPLES, RUN_ID, RootEngine, pybin2img

pytestmark = [pytest.mark.integration, pytest.mark.debian_roots("trixie")]

HELLO = str(EXAMPLES / "hello" / "hello.py")


def _digests(tarball: Path) -> tuple[str, str]:
    """The image's config digest and manifest digest."""
    with tarfile.open(tarball) as tar:
        index = tar.extractfile("index.json")
        docker_manifest = tar.extractfile("manifest.json")
        assert index is not None
        assert docker_manifest is not None
        manifest = json.load(index)["manifests"][0]["digest"]
        config = json.load(docker_manifest)[0]["Config"].removeprefix("blobs/sha256/")
    return f"sha256:{config}", manifest


@pytest.fixture(scope="module")
def debian12_engine(docker_engine: Any) -> RootEngine:
    """The host's engine (Debian 12's Docker 20.10), which every other test uses."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return RootEngine(host=host, version=docker_engine.version()["Version"], store="docker")


def test_build_checks_loads_and_runs_it(debian13_engine: RootEngine, tmp_path: Path) -> None:
    _build_check_load_and_run(debian13_engine, tmp_path, "13")


def test_build_checks_loads_and_runs_it_on_debian_12(
    debian12_engine: RootEngine, tmp_path: Path
) -> None:
    _build_check_load_and_run(debian12_engine, tmp_path, "12")


def test_a_build_without_load_leaves_the_engine_as_it_was(
    debian13_engine: RootEngine, tmp_path: Path
) -> None:
    _build_without_load(debian13_engine, tmp_path, "13")


def test_a_build_without_load_leaves_debian_12s_engine_as_it_was(
    debian12_engine: RootEngine, tmp_path: Path
) -> None:
    _build_without_load(debian12_engine, tmp_path, "12")


def _build_check_load_and_run(engine: RootEngine, tmp_path: Path, release: str) -> None:
    import docker

    reference = f"pybin2img-test/engine-{release}-{engine.store}:{RUN_ID}"
    env = {**os.environ, "DOCKER_HOST": engine.host}
    metadata = tmp_path / "build.json"
    tarball = tmp_path / "hello.tar"
    proc = pybin2img("build", HELLO, "-t", reference, "-o", str(tarball), "--load",
                     "--metadata-file", str(metadata), env=env)  # fmt: skip
    assert "start check, Docker engine: exit code 0" in proc.stderr
    config, manifest = _digests(tarball)
    assert json.loads(metadata.read_text())["image_id"] == config
    with contextlib.closing(docker.DockerClient(base_url=engine.host)) as client:
        image = client.images.get(reference)
        # What the engine calls the image depends on its store.
        assert image.id == (manifest if engine.store == "containerd" else config)
        output = client.containers.run(reference, ["e"], network_mode="none", remove=True)
        assert b"args: e" in output
        client.images.remove(reference, force=True)


def _build_without_load(engine: RootEngine, tmp_path: Path, release: str) -> None:
    """The start check and --compare load the image into the engine to run it; a build that
    did not ask for --load takes it out again, and its tag names the image it named before."""
    import docker

    reference = f"pybin2img-test/engine-check-{release}-{engine.store}:{RUN_ID}"
    env = {**os.environ, "DOCKER_HOST": engine.host}
    out = str(tmp_path / "h.tar")
    with contextlib.closing(docker.DockerClient(base_url=engine.host)) as client:
        pybin2img("build", HELLO, "-t", reference, "-o", out, "--label", "v=1", "--load", env=env)
        first = client.images.get(reference).id
        before = sorted(image.id for image in client.images.list(all=True))
        proc = pybin2img("build", HELLO, "-t", reference, "-o", out, "--label", "v=2",
                         "--compare", "c", env=env)  # fmt: skip
        assert "start check, Docker engine: exit code 0" in proc.stderr
        assert "in the image (Docker engine)" in proc.stderr
        assert client.images.get(reference).id == first
        assert not client.images.list(filters={"label": "v=2"})
        if release == "13":  # an engine of the test's own: nothing else changes it meanwhile
            assert sorted(image.id for image in client.images.list(all=True)) == before
            assert not client.containers.list(all=True)
        client.images.remove(reference, force=True)


def test_a_base_saved_by_debian_13s_docker(debian13_engine: RootEngine, tmp_path: Path) -> None:
    """`docker save` of Docker 25 and later writes an OCI layout (index.json, blobs/sha256/…)
    beside manifest.json, with each store its own way: either serves as --base."""
    import docker

    env = {**os.environ, "DOCKER_HOST": debian13_engine.host}
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        data = b"from the base\n"
        info = tarfile.TarInfo("opt/base/hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    base_tag = f"pybin2img-test/saved-base-{debian13_engine.store}:{RUN_ID}"
    reference = f"pybin2img-test/on-saved-base-{debian13_engine.store}:{RUN_ID}"
    base = tmp_path / "base.tar"
    with contextlib.closing(docker.DockerClient(base_url=debian13_engine.host)) as client:
        client.api.import_image_from_data(
            layer.getvalue(), repository=base_tag, changes=["ENV BASEVAR=1"]
        )
        with base.open("wb") as f:
            for chunk in client.images.get(base_tag).save(named=True):
                f.write(chunk)
        client.images.remove(base_tag)
        with tarfile.open(base) as tar:
            assert "index.json" in tar.getnames()
        out = tmp_path / "on.tar"
        pybin2img("build", HELLO, "-t", reference, "-o", str(out), "--base", str(base), "--load",
                  env=env)  # fmt: skip
        output = client.containers.run(reference, ["b"], remove=True, network_mode="none")
        assert b"args: b" in output
        assert "BASEVAR=1" in client.images.get(reference).attrs["Config"]["Env"]
        client.images.remove(reference, force=True)
    with open_archive(out) as archive, archive.open_layer(archive.layers[0]) as stream:
        assert "opt/base/hello.txt" in stream.tar().getnames()
