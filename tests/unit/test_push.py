"""The pure parts of the push stage: the blobs it sends, options, the metadata document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybin2img.errors import UsageError
from pybin2img.oci.archive import open_archive
from pybin2img.reference import parse_reference
from pybin2img.ship.push import PushedBlob, PushResult, _blobs, _mount_source
from tests.imagegen import write_test_image


def test_blobs_in_push_order(tmp_path: Path) -> None:
    """The layers bottom-up, then the config, as the Docker CLI pushes them."""
    written = write_test_image(
        tmp_path / "img.tar", [{"etc/a": b"a\n"}, {"app/b": b"b\n"}, {"app/c": b"c\n"}]
    )
    with open_archive(written.path) as archive:
        blobs = [(kind, blob.digest) for kind, blob in _blobs(archive)]
    assert blobs == [
        *[("layer", layer.descriptor.digest) for layer in written.layers],
        ("config", archive.config_descriptor.digest),
    ]


def test_mount_source() -> None:
    local = parse_reference("reg.example.com:5000/team/app:1")
    hub = parse_reference("team/app:1")
    assert _mount_source(None, local) is None
    assert _mount_source("base", local) == "base"
    assert _mount_source("reg.example.com:5000/team/base", local) == "team/base"
    assert _mount_source("base", hub) == "library/base"
    with pytest.raises(UsageError, match="only be mounted within one registry"):
        _mount_source("other.example.com/team/base", local)
    with pytest.raises(UsageError, match="names a repository, not a tag"):
        _mount_source("team/base:1", local)


def test_metadata_document_counts_bytes_blob_by_blob() -> None:
    def blob(kind: str, n: int, size: int, action: str) -> PushedBlob:
        return PushedBlob(
            kind=kind, digest=f"sha256:{n:064x}", size=size, media_type="m", action=action
        )

    result = PushResult(
        reference=parse_reference("127.0.0.1:5000/a/b:1"),
        digest="sha256:" + "f" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        tags=("1", "latest"),
        blobs=(
            blob("layer", 1, 100, "exists"),
            blob("layer", 2, 30, "mounted"),
            blob("layer", 3, 7, "uploaded"),
            blob("config", 4, 5, "uploaded"),
        ),
    )
    document = result.to_json()
    assert document["pinned_reference"] == "127.0.0.1:5000/a/b:1@sha256:" + "f" * 64
    assert document["repository"] == "a/b"
    assert (document["bytes_uploaded"], document["bytes_skipped"]) == (12, 130)
    assert [b["bytes_uploaded"] for b in document["blobs"]] == [0, 0, 7, 5]
    assert json.loads(json.dumps(document)) == document
