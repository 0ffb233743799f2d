"""The pure parts of the push stage: reading the tarball, options, the metadata document."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from pybin2img.errors import InvalidImageError, UsageError
from pybin2img.reference import parse_reference
from pybin2img.ship.push import PushedBlob, PushResult, _mount_source, _open_archive
from tests.imagegen import write_test_image


def _image(tmp_path: Path) -> Path:
    out = tmp_path / "img.tar"
    write_test_image(out, [{"etc/a": b"a\n"}, {"app/b": b"b\n"}, {"app/c": b"c\n"}])
    return out


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None]) -> Path:
    """Copy a tarball, replacing (bytes) or dropping (None) members by name."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin.getmembers():
            if member.name in change:
                data = change[member.name]
                if data is None:
                    continue
                member.size = len(data)
                tout.addfile(member, io.BytesIO(data))
            else:
                tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
    return dst


def test_reads_manifest_bytes_and_blobs_in_push_order(tmp_path: Path) -> None:
    tarball = _image(tmp_path)
    with tarfile.open(tarball) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        digest = index["manifests"][0]["digest"]
        manifest_bytes = tar.extractfile("blobs/" + digest.replace(":", "/")).read()  # type: ignore[union-attr]
    manifest = json.loads(manifest_bytes)
    with _open_archive(tarball) as archive:
        assert archive.manifest == manifest_bytes
        assert archive.manifest_digest == digest
        assert archive.media_type == "application/vnd.oci.image.manifest.v1+json"
        assert [(kind, blob.digest, blob.size) for kind, blob in archive.blobs] == [
            *[("layer", layer["digest"], layer["size"]) for layer in manifest["layers"]],
            ("config", manifest["config"]["digest"], manifest["config"]["size"]),
        ]
        _, blob = archive.blobs[0]
        assert len(archive.open_blob(blob.digest).read()) == blob.size


def test_not_a_tarball_or_missing(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_text("hello")
    with (
        pytest.raises(InvalidImageError, match="cannot read image tarball"),
        _open_archive(tmp_path / "x.tar"),
    ):
        pass
    with pytest.raises(UsageError, match="does not exist"), _open_archive(tmp_path / "nope.tar"):
        pass


def test_bad_layouts_are_named(tmp_path: Path) -> None:
    tarball = _image(tmp_path)
    with tarfile.open(tarball) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    manifest_name = "blobs/" + index["manifests"][0]["digest"].replace(":", "/")
    manifest = json.loads(tar_read(tarball, manifest_name))
    layer_name = "blobs/" + manifest["layers"][0]["digest"].replace(":", "/")

    cases: list[tuple[dict[str, bytes | None], str]] = [
        ({"index.json": None}, "it has no index.json"),
        (
            {"index.json": json.dumps({"manifests": index["manifests"] * 2}).encode()},
            "lists 2 manifests",
        ),
        ({manifest_name: tar_read(tarball, manifest_name) + b" "}, "does not match its digest"),
        ({layer_name: None}, "is missing"),
        ({layer_name: b"short"}, "has 5 bytes, the manifest says"),
    ]
    for number, (change, message) in enumerate(cases):
        broken = _rewrite(tarball, tmp_path / f"broken{number}.tar", change)
        with pytest.raises(InvalidImageError, match=message), _open_archive(broken):
            pass


def tar_read(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


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
