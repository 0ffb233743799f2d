"""The Docker engines users build next to: Debian 13's Docker 26.1 with its own image store and
with the containerd image store (Docker 29's default for new installations, Docker Desktop's
too), where an image's ID is its manifest's digest, not its config's. Debian 12's Docker 20.10
is every other test's engine.

Each build here runs its start check in the engine (a reference of its own, so no earlier
verdict is reused), then loads or leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import tarfile
from pathlib import Path

import pytest

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


def test_build_checks_loads_and_runs_it(debian13_engine: RootEngine, tmp_path: Path) -> None:
    import docker

    reference = f"pybin2img-test/engine-{debian13_engine.store}:{RUN_ID}"
    env = {**os.environ, "DOCKER_HOST": debian13_engine.host}
    metadata = tmp_path / "build.json"
    tarball = tmp_path / "hello.tar"
    proc = pybin2img("build", HELLO, "-t", reference, "-o", str(tarball), "--load",
                     "--metadata-file", str(metadata), env=env)  # fmt: skip
    assert "start check, Docker engine: exit code 0" in proc.stderr
    config, manifest = _digests(tarball)
    assert json.loads(metadata.read_text())["image_id"] == config
    with contextlib.closing(docker.DockerClient(base_url=debian13_engine.host)) as client:
        image = client.images.get(reference)
        # What the engine calls the image depends on its store.
        assert image.id == (manifest if debian13_engine.store == "containerd" else config)
        output = client.containers.run(reference, ["e"], network_mode="none", remove=True)
        assert b"args: e" in output
        client.images.remove(reference, force=True)


def test_a_build_without_load_leaves_the_engine_as_it_was(
    debian13_engine: RootEngine, tmp_path: Path
) -> None:
    """The start check and --compare load the image into the engine to run it; a build that
    did not ask for --load takes it out again."""
    import docker

    reference = f"pybin2img-test/engine-check-{debian13_engine.store}:{RUN_ID}"
    env = {**os.environ, "DOCKER_HOST": debian13_engine.host}
    out = str(tmp_path / "h.tar")
    with contextlib.closing(docker.DockerClient(base_url=debian13_engine.host)) as client:
        before = sorted(image.id for image in client.images.list(all=True))
        proc = pybin2img("build", HELLO, "-t", reference, "-o", out, "--compare", "c", env=env)
        assert "start check, Docker engine: exit code 0" in proc.stderr
        assert "in the image (Docker engine)" in proc.stderr
        assert sorted(image.id for image in client.images.list(all=True)) == before
        assert not client.containers.list(all=True)
