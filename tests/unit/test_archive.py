"""The image-archive reader: OCI layouts (pybin2img's own, built by tests/imagegen.py, and
hand-made ones) and docker-archives, and every inconsistency named as an InvalidImageError."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pybin2img.errors import InvalidImageError, UsageError
from pybin2img.oci.archive import Archive, open_archive
from pybin2img.oci.documents import MEDIA_CONFIG, MEDIA_LAYER, MEDIA_MANIFEST, blob_path
from tests.imagegen import write_test_image


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer_tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _write_tar(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _oci(
    path: Path,
    layers: Sequence[bytes],
    *,
    media_types: Sequence[str] | None = None,
    diff_ids: Sequence[str] | None = None,
    change_manifest: Callable[[dict[str, Any]], None] = lambda _manifest: None,
) -> Path:
    """An OCI layout around the given layer blobs, consistent unless told otherwise."""
    if diff_ids is None:
        diff_ids = [_digest(_decompress(blob)) for blob in layers]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        }
    ).encode()
    manifest_doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": [
            {"mediaType": media, "digest": _digest(blob), "size": len(blob)}
            for media, blob in zip(
                media_types or [MEDIA_LAYER["gzip"]] * len(layers), layers, strict=True
            )
        ],
    }
    change_manifest(manifest_doc)
    manifest = json.dumps(manifest_doc).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": manifest_doc["mediaType"],
                "digest": _digest(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "1"},
            }
        ],
    }
    members = {
        "oci-layout": b'{"imageLayoutVersion":"1.0.0"}',
        "index.json": json.dumps(index).encode(),
        blob_path(_digest(manifest)): manifest,
        blob_path(_digest(config)): config,
        **{blob_path(_digest(blob)): blob for blob in layers},
    }
    return _write_tar(path, members)


def _decompress(blob: bytes) -> bytes:
    if blob[:2] == b"\x1f\x8b":
        return gzip.decompress(blob)
    if blob[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompress(blob)
    return blob


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


def _member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        return tar.extractfile(name).read()  # type: ignore[union-attr]


def _files(archive: Archive) -> list[list[tuple[str, bytes]]]:
    """Each layer's regular files and their content, read through the archive."""
    layers = []
    for layer in archive.layers:
        with archive.open_layer(layer) as stream:
            tar = stream.tar()
            layers.append(
                [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]  # type: ignore[union-attr]
            )
    return layers


# --- a good image ------------------------------------------------------------------------------


def test_reads_what_the_writer_wrote(tmp_path: Path) -> None:
    written = write_test_image(
        tmp_path / "img.tar", [{"etc/a": b"a\n"}, {"app/b": b"b\n", "app/c": b"c\n"}]
    )
    with open_archive(written.path) as archive:
        assert archive.layout == "oci"
        assert archive.manifest == written.manifest
        assert archive.manifest_descriptor is not None
        assert archive.manifest_descriptor.digest == written.manifest_digest
        assert archive.manifest_descriptor.media_type == MEDIA_MANIFEST
        assert archive.config == written.config
        assert archive.config_descriptor.digest == written.config_digest
        assert archive.config_document["architecture"] == "amd64"
        assert [layer.descriptor for layer in archive.layers] == [
            layer.descriptor for layer in written.layers
        ]
        assert [layer.diff_id for layer in archive.layers] == [
            layer.diff_id for layer in written.layers
        ]
        assert [layer.codec for layer in archive.layers] == ["gzip", "gzip"]
        assert archive.repo_tags == ("docker.io/test/image:1",)
        assert archive.annotations["io.containerd.image.name"] == "docker.io/test/image:1"
        assert _files(archive) == [[("etc/a", b"a\n")], [("app/b", b"b\n"), ("app/c", b"c\n")]]
        with archive.open_layer(archive.layers[1]) as stream:
            stream.tar()
        assert stream.size == written.layers[1].uncompressed_size
        blob = archive.open_blob(archive.layers[0].descriptor).read()
        assert _digest(blob) == written.layers[0].descriptor.digest


def test_layers_of_every_codec(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    tars = [_layer_tar({f"f{n}": bytes([n]) * 100}) for n in range(3)]
    blobs = [gzip.compress(tars[0]), zstandard.ZstdCompressor().compress(tars[1]), tars[2]]
    media = [MEDIA_LAYER["gzip"], MEDIA_LAYER["zstd"], MEDIA_LAYER["none"]]
    with open_archive(_oci(tmp_path / "img.tar", blobs, media_types=media)) as archive:
        assert [layer.codec for layer in archive.layers] == ["gzip", "zstd", "none"]
        assert _files(archive) == [[(f"f{n}", bytes([n]) * 100)] for n in range(3)]


def test_docker_archive(tmp_path: Path) -> None:
    """``docker save`` (before Docker 25): blobs named by layer ID, a layer it wrote already
    linked, no digests but the config's diff_ids."""
    first, second = _layer_tar({"etc/a": b"a\n"}), _layer_tar({"app/b": b"b\n"})
    config = json.dumps(
        {"rootfs": {"type": "layers", "diff_ids": [_digest(first), _digest(second)] * 2}}
    ).encode()
    manifest = [
        {
            "Config": "c0ffee.json",
            "RepoTags": ["example/base:1"],
            "Layers": ["l1/layer.tar", "l2/layer.tar", "l3/layer.tar", "l4/layer.tar"],
        }
    ]
    path = _write_tar(
        tmp_path / "saved.tar",
        {
            "manifest.json": json.dumps(manifest).encode(),
            "c0ffee.json": config,
            "l1/layer.tar": first,
            "l2/layer.tar": gzip.compress(second, mtime=0),
        },
        links={"l3/layer.tar": "../l1/layer.tar", "l4/layer.tar": "../l2/layer.tar"},
    )
    with open_archive(path) as archive:
        assert archive.layout == "docker"
        assert archive.manifest is None
        assert archive.manifest_descriptor is None
        assert archive.repo_tags == ("example/base:1",)
        assert archive.config == config
        assert archive.config_descriptor.digest == _digest(config)
        assert [layer.codec for layer in archive.layers] == ["none", "gzip", "none", "gzip"]
        assert archive.layers[0].descriptor.digest == _digest(first)
        assert archive.layers[1].descriptor.media_type == MEDIA_LAYER["gzip"]
        assert archive.layers[1].descriptor.size == len(gzip.compress(second, mtime=0))
        assert _files(archive) == [[("etc/a", b"a\n")], [("app/b", b"b\n")]] * 2
    with pytest.raises(InvalidImageError, match=r"not an OCI image layout: it has no index.json"):
        open_archive(path, oci=True)


# --- what is wrong, named ----------------------------------------------------------------------


def test_not_a_tarball_or_missing(tmp_path: Path) -> None:
    (tmp_path / "x.tar").write_text("hello")
    with pytest.raises(InvalidImageError, match=r"x.tar is not a readable image tarball"):
        open_archive(tmp_path / "x.tar")
    with pytest.raises(UsageError, match=r"image tarball .*nope.tar does not exist"):
        open_archive(tmp_path / "nope.tar")
    empty = _write_tar(tmp_path / "empty.tar", {"hello": b""})
    with pytest.raises(InvalidImageError, match="holds neither an OCI layout nor Docker's"):
        open_archive(empty)


def test_bad_layouts_are_named(tmp_path: Path) -> None:
    written = write_test_image(
        tmp_path / "img.tar", [{"etc/a": b"a\n"}, {"app/b": b"b\n"}, {"app/c": b"c\n"}]
    )
    tarball = written.path
    index = json.loads(_member(tarball, "index.json"))
    manifest_name = blob_path(written.manifest_digest)
    layer_name = blob_path(written.layers[0].descriptor.digest)
    layer = _member(tarball, layer_name)
    corrupt = bytearray(layer)
    corrupt[len(layer) // 2] ^= 0xFF
    cases: list[tuple[dict[str, bytes | None], str]] = [
        (
            {"index.json": json.dumps({"manifests": index["manifests"] * 2}).encode()},
            "index.json lists 2 manifests; expected exactly one image",
        ),
        ({"index.json": b"{"}, "index.json is not valid JSON"),
        ({"oci-layout": b'{"imageLayoutVersion":"9"}'}, "expected imageLayoutVersion 1.0.0"),
        (
            {manifest_name: _member(tarball, manifest_name) + b" "},
            "manifest blob .* has \\d+ bytes, its descriptor says",
        ),
        ({layer_name: None}, f"layer 0 blob .* is missing: there is no {layer_name}"),
        ({layer_name: b"short"}, "has 5 bytes, its descriptor says .*truncated or corrupt"),
        ({"manifest.json": b"[]"}, "manifest.json lists 0 images"),
    ]
    for number, (change, message) in enumerate(cases):
        broken = _rewrite(tarball, tmp_path / f"broken{number}.tar", change)
        with pytest.raises(InvalidImageError, match=message):
            open_archive(broken)
    evil = _rewrite(tarball, tmp_path / "evil.tar", {})
    with tarfile.open(evil, "a") as tar:
        tar.addfile(tarfile.TarInfo("../evil"))
    with pytest.raises(InvalidImageError, match=r"member '\.\./evil' is not a relative path"):
        open_archive(evil)

    # Same size, one byte flipped: found when the blob is read, by its digest.
    broken = _rewrite(tarball, tmp_path / "corrupt.tar", {layer_name: bytes(corrupt)})
    with open_archive(broken) as archive:
        with pytest.raises(InvalidImageError, match=r"layer 0 blob .* is corrupt|cannot be read"):
            _files(archive)
        with pytest.raises(InvalidImageError, match=r"blob .* is corrupt: its content hashes to"):
            archive.open_blob(archive.layers[0].descriptor).read()


def test_inconsistent_documents(tmp_path: Path) -> None:
    tar = _layer_tar({"etc/a": b"a\n"})
    blob = gzip.compress(tar)

    def index_instead(manifest: dict[str, Any]) -> None:
        manifest["mediaType"] = "application/vnd.oci.image.index.v1+json"
        manifest["manifests"] = []

    def artifact(manifest: dict[str, Any]) -> None:
        manifest["config"]["mediaType"] = "application/vnd.example.thing"

    def no_layers(manifest: dict[str, Any]) -> None:
        manifest["layers"] = []

    cases: list[tuple[Path, str]] = [
        (_oci(tmp_path / "a.tar", [blob], diff_ids=[]), "the config has 0 diff_ids for 1 layers"),
        (_oci(tmp_path / "b.tar", [blob], change_manifest=index_instead), "multi-platform index"),
        (_oci(tmp_path / "c.tar", [blob], change_manifest=artifact), "config has media type"),
        (_oci(tmp_path / "d.tar", [blob], change_manifest=no_layers), "lists no layers"),
    ]
    for path, message in cases:
        with pytest.raises(InvalidImageError, match=message):
            open_archive(path)

    # Found when the layer is read: its uncompressed content is not what the config says.
    wrong = _oci(tmp_path / "e.tar", [blob], diff_ids=[_digest(b"other")])
    with open_archive(wrong) as archive, pytest.raises(InvalidImageError, match="diff_id is"):
        _files(archive)
    odd = _oci(tmp_path / "f.tar", [blob], media_types=["application/vnd.example.layer"])
    with open_archive(odd) as archive:
        with pytest.raises(InvalidImageError, match="which pybin2img cannot decompress"):
            archive.open_layer(archive.layers[0])
        assert archive.open_blob(archive.layers[0].descriptor).read() == blob


def test_truncated_gzip_layer(tmp_path: Path) -> None:
    """A blob that is whole (its digest matches) but holds half a gzip stream."""
    tar = _layer_tar({"data": bytes(range(256)) * 512})
    blob = gzip.compress(tar)[:-100]
    with (
        open_archive(_oci(tmp_path / "img.tar", [blob], diff_ids=[_digest(tar)])) as archive,
        pytest.raises(InvalidImageError, match=r"layer 0 .* cannot be read .*truncated or corrupt"),
    ):
        _files(archive)
