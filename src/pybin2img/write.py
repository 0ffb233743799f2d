"""Write stage: layers + config -> one deterministic tarball holding an OCI image layout and
Docker's ``manifest.json``, which ``docker load``, ``podman load``, ``skopeo`` and ``umoci`` read.

Same inputs, same bytes: PAX tar members sorted by path with fixed owners, modes and mtime; gzip
with a fixed level, no file name and mtime 0. The tarball is written to a temporary file beside
the output and renamed into place only when complete.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ImageWriteError
from .image import (
    MEDIA_CONFIG,
    MEDIA_LAYER,
    MEDIA_MANIFEST,
    OCI_LAYOUT,
    Descriptor,
    ImageConfig,
    LayerBlob,
    blob_path,
    canonical_json,
    config_document,
    docker_manifest_document,
    index_document,
    manifest_document,
    sha256_digest,
)
from .reference import ImageReference
from .rootfs import Entry, Kind, Layer

GZIP_LEVEL = 6
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class WrittenImage:
    """The finished tarball and the digests that identify the image."""

    path: Path
    size: int
    #: Digest of the manifest: what ``REFERENCE@sha256:…`` names and what a registry reports.
    manifest_digest: str
    #: Digest of the config: the image ID engines show.
    config_digest: str
    layers: tuple[LayerBlob, ...]
    manifest: bytes
    config: bytes


class _HashingWriter(io.RawIOBase):
    """Passes bytes through to ``out`` while hashing and counting them."""

    def __init__(self, out: BinaryIO | io.RawIOBase | gzip.GzipFile) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.hash.update(data)
        self.size += len(data)
        self.out.write(data)
        return len(data)

    def tell(self) -> int:
        return self.size


def write_layer(layer: Layer, out: BinaryIO, *, mtime: int, compression: str) -> LayerBlob:
    """Write ``layer`` as a compressed tar to ``out``; return its digests and sizes."""
    compressed = _HashingWriter(out)
    compressor: gzip.GzipFile | None = None
    if compression == "gzip":
        # filename="" keeps the output file's name out of the gzip header (FNAME).
        compressor = gzip.GzipFile(
            filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=GZIP_LEVEL
        )
    elif compression != "none":
        raise ImageWriteError(f"unknown compression {compression!r}")
    uncompressed = _HashingWriter(compressor or compressed)
    with tarfile.open(fileobj=uncompressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        files = 0
        for entry in layer.entries:
            info = _tarinfo(entry, mtime)
            if entry.kind is Kind.FILE:
                files += 1
                if entry.data is not None:
                    tar.addfile(info, io.BytesIO(entry.data))
                else:
                    assert entry.source is not None
                    _add_host_file(tar, info, entry.source)
            else:
                tar.addfile(info)
    if compressor is not None:
        compressor.close()
    media_type = MEDIA_LAYER[compression]
    return LayerBlob(
        name=layer.name,
        description=layer.description,
        descriptor=Descriptor(
            media_type=media_type,
            digest="sha256:" + compressed.hash.hexdigest(),
            size=compressed.size,
        ),
        diff_id="sha256:" + uncompressed.hash.hexdigest(),
        uncompressed_size=uncompressed.size,
        files=files,
    )


def _tarinfo(entry: Entry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mtime = mtime
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    if entry.kind is Kind.DIR:
        info.type = tarfile.DIRTYPE
    elif entry.kind is Kind.SYMLINK:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target or ""
    else:
        info.type = tarfile.REGTYPE
        info.size = len(entry.data) if entry.data is not None else 0
    return info


def _add_host_file(tar: tarfile.TarFile, info: tarfile.TarInfo, source: str) -> None:
    try:
        with open(source, "rb") as f:
            info.size = os.fstat(f.fileno()).st_size
            tar.addfile(info, f)
    except OSError as exc:
        raise ImageWriteError(f"cannot read {source}: {exc.strerror}") from exc


def write_image(
    *,
    layers: Sequence[Layer],
    config: ImageConfig,
    reference: ImageReference,
    annotations: dict[str, str],
    output: Path,
    workdir: Path,
    compression: str = "gzip",
) -> WrittenImage:
    """Write the image tarball to ``output`` (atomically); blobs are staged in ``workdir``."""
    if not layers:
        raise ImageWriteError("an image needs at least one layer")
    blob_dir = workdir / "blobs"
    blob_dir.mkdir(parents=True, exist_ok=True)
    blobs: list[LayerBlob] = []
    staged: dict[str, Path] = {}
    for index, layer in enumerate(layers):
        tmp = blob_dir / f"layer-{index}.tmp"
        with tmp.open("wb") as out:
            blob = write_layer(layer, out, mtime=config.created, compression=compression)
        final = blob_dir / blob.descriptor.digest.replace(":", "-")
        os.replace(tmp, final)
        if blob.descriptor.digest in staged:
            raise ImageWriteError(f"layers {layer.name!r} and another one are identical")
        staged[blob.descriptor.digest] = final
        blobs.append(blob)

    config_bytes = canonical_json(config_document(config, blobs))
    config_desc = Descriptor(
        media_type=MEDIA_CONFIG, digest=sha256_digest(config_bytes), size=len(config_bytes)
    )
    manifest_bytes = canonical_json(manifest_document(config_desc, blobs, annotations))
    manifest_desc = Descriptor(
        media_type=MEDIA_MANIFEST, digest=sha256_digest(manifest_bytes), size=len(manifest_bytes)
    )
    members: dict[str, bytes | Path] = {
        "oci-layout": OCI_LAYOUT,
        "index.json": canonical_json(index_document(manifest_desc, reference)),
        "manifest.json": canonical_json(docker_manifest_document(config_desc, blobs, reference)),
        blob_path(config_desc.digest): config_bytes,
        blob_path(manifest_desc.digest): manifest_bytes,
    }
    for digest, path in staged.items():
        members[blob_path(digest)] = path

    size = _write_tarball(output, members, mtime=config.created)
    return WrittenImage(
        path=output,
        size=size,
        manifest_digest=manifest_desc.digest,
        config_digest=config_desc.digest,
        layers=tuple(blobs),
        manifest=manifest_bytes,
        config=config_bytes,
    )


def _write_tarball(output: Path, members: dict[str, bytes | Path], *, mtime: int) -> int:
    """Write the outer tar atomically: a temp file beside ``output``, renamed at the end."""
    directory = output.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise ImageWriteError(f"cannot write to {directory}: {exc.strerror}") from exc
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for dirname in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(dirname)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
                tar.addfile(info)
            for name in sorted(members):
                content = members[name]
                info = tarfile.TarInfo(name)
                info.mode, info.mtime = 0o644, mtime
                if isinstance(content, bytes):
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
                else:
                    with content.open("rb") as f:
                        info.size = os.fstat(f.fileno()).st_size
                        tar.addfile(info, f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, output)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise ImageWriteError(f"cannot write {output}: {exc.strerror or exc}") from exc
        raise
    return output.stat().st_size
