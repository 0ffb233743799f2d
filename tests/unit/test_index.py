"""Image tarballs merged into an index (oci/index.py): one manifest per platform, written as
an OCI layout, the same bytes from the same inputs; two images of one platform refused.

What registries and engines make of the index is in tests/integration/test_release.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from pybin2img.errors import InvalidImageError, UsageError
from pybin2img.oci.archive import open_archive
from pybin2img.oci.documents import MEDIA_INDEX
from pybin2img.oci.index import merge_index, write_index
from pybin2img.reference import parse_reference
from tests.imagegen import write_test_image


def _docker_save(path: Path, architecture: str) -> Path:
    """A ``docker save``-style tarball: manifest.json, the config and uncompressed layers."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        info = tarfile.TarInfo("etc/arch")
        info.size = len(architecture)
        tar.addfile(info, io.BytesIO(architecture.encode()))
    data = layer.getvalue()
    config = json.dumps(
        {
            "architecture": architecture,
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(data).hexdigest()],
            },
        }
    ).encode()
    members = {
        "manifest.json": json.dumps(
            [{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]
        ).encode(),
        "c.json": config,
        "l/layer.tar": data,
    }
    with tarfile.open(path, "w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def test_index_of_two_platforms_written_as_an_oci_layout(tmp_path: Path) -> None:
    amd64 = tmp_path / "amd64.tar"
    write_test_image(amd64, [{"etc/a": b"amd64"}])
    arm64 = _docker_save(tmp_path / "arm64.tar", "arm64")
    reference = parse_reference("registry.example/team/app:2")
    with merge_index([amd64, arm64]) as merged:
        index = json.loads(merged.index)
        assert index["mediaType"] == MEDIA_INDEX
        assert [m["platform"] for m in index["manifests"]] == [
            {"architecture": "amd64", "os": "linux"},
            {"architecture": "arm64", "os": "linux"},
        ]
        # pybin2img's manifest keeps its bytes; docker save's gets an OCI manifest.
        with open_archive(amd64) as archive:
            assert index["manifests"][0]["digest"] == archive.manifest_descriptor.digest
        assert json.loads(merged.children[1].manifest)["layers"][0]["mediaType"] == (
            "application/vnd.oci.image.layer.v1.tar"
        )
        output = tmp_path / "out" / "multi.tar"
        size = write_index(merged, reference, output)
        digest = merged.descriptor.digest
    assert size == output.stat().st_size
    with tarfile.open(output) as tar:
        names = tar.getnames()
        layout = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        blobs = {n: tar.extractfile(n).read() for n in names if n.startswith("blobs/")}  # type: ignore[union-attr]
    assert names[:2] == ["oci-layout", "index.json"]
    (entry,) = layout["manifests"]
    assert entry["digest"] == digest
    assert entry["mediaType"] == MEDIA_INDEX
    assert entry["annotations"]["io.containerd.image.name"] == reference.fully_qualified
    for name, data in blobs.items():
        assert name == "blobs/sha256/" + hashlib.sha256(data).hexdigest()
    assert len(blobs) == 1 + 2 * 3  # the index; each image's manifest, config and layer
    # The same inputs give the same bytes.
    with merge_index([amd64, arm64]) as merged:
        write_index(merged, reference, tmp_path / "again.tar")
    assert (tmp_path / "again.tar").read_bytes() == output.read_bytes()


def test_two_images_of_one_platform_are_named(tmp_path: Path) -> None:
    first, second = tmp_path / "one.tar", tmp_path / "two.tar"
    write_test_image(first, [{"etc/a": b"1"}], architecture="arm64")
    write_test_image(second, [{"etc/a": b"2"}], architecture="arm64", variant="v8")
    with pytest.raises(UsageError, match=r"one.tar and .*two.tar are both linux/arm64/v8 images"):
        merge_index([first, second])
    broken = tmp_path / "broken.tar"
    broken.write_bytes(gzip.compress(b"not a tar"))
    with pytest.raises(InvalidImageError):
        merge_index([first, broken])
