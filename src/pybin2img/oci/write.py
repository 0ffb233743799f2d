"""Write stage: layers + config -> one deterministic tarball holding an OCI image layout and
Docker's ``manifest.json``, which ``docker load``, ``podman load``, ``skopeo`` and ``umoci`` read.

Same inputs, same bytes: PAX tar members sorted by path with fixed owners, modes and mtime; gzip
(no file name, mtime 0) or zstd at the level asked for, which with the compressor's version
decides the bytes. The tarball is written to a temporary file beside the output and renamed
into place only when complete (see :mod:`pybin2img.pending`).

Nothing unverified is shipped: a compressed layer reused from the blob cache is hashed and
compared with its digest first (a damaged one is compressed again, with a warning), and every
blob is hashed again as it is copied into the tarball.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import shutil
import struct
import tarfile
import zlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import HostError, ImageWriteError
from ..log import Log
from ..pending import PendingFile
from ..reference import ImageReference
from .documents import (
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
from .layer import Entry, Kind, Layer

#: Each compression's levels, and the one used when none is asked for (``--compression-level``).
#: zstd's 9 takes the time gzip's 6 takes and writes a tenth less (bench/compression.py); its
#: 3, which other tools default to, writes what gzip's 6 writes.
LEVELS: dict[str, tuple[range, int]] = {
    "gzip": (range(1, 10), 6),
    "zstd": (range(1, 20), 9),
    "none": (range(0, 1), 0),
}
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

    def __init__(self, out: BinaryIO | io.RawIOBase) -> None:
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


@dataclass(frozen=True, kw_only=True)
class LayerTar:
    """An uncompressed layer tar on disk."""

    path: Path
    diff_id: str
    size: int
    files: int


def write_layer_tar(layer: Layer, path: Path, *, mtime: int) -> LayerTar:
    """Write ``layer`` as an uncompressed PAX tar to ``path``; its sha256 is the diff_id."""
    files = 0
    with path.open("wb") as out:
        hashing = _HashingWriter(out)
        with tarfile.open(fileobj=hashing, mode="w", format=tarfile.PAX_FORMAT) as tar:
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
    return LayerTar(
        path=path, diff_id="sha256:" + hashing.hash.hexdigest(), size=hashing.size, files=files
    )


def checked_level(compression: str, level: int | None = None) -> int:
    """``level``, checked against ``compression``'s levels, or that compression's default."""
    if compression not in LEVELS:
        raise ImageWriteError(f"unknown compression {compression!r}")
    levels, default = LEVELS[compression]
    if level is None:
        return default
    if level not in levels:
        raise ImageWriteError(
            f"{compression} has no level {level}; its levels are {levels[0]} to {levels[-1]}"
        )
    return level


def compress(
    source: Path,
    dest: Path,
    compression: str,
    pool: ThreadPoolExecutor | None = None,
    jobs: int = 1,
    level: int | None = None,
) -> Descriptor:
    """Compress ``source`` into ``dest`` deterministically; return the blob's descriptor.

    gzip uses ``pool`` (of ``jobs`` threads) when given (see :func:`_gzip_blocks`); zstd its
    own ``jobs`` threads, in the compressor's multi-threaded mode, whose output is the same
    for any number of threads.
    """
    level = checked_level(compression, level)
    with source.open("rb") as src, dest.open("wb") as out:
        hashing = _HashingWriter(out)
        if compression == "gzip":
            _gzip_blocks(src, hashing, pool, jobs, level)
        elif compression == "zstd":
            import zstandard

            params = zstandard.ZstdCompressor(
                level=level, threads=max(1, jobs), write_checksum=True
            )
            with params.stream_writer(hashing, closefd=False) as zs:  # type: ignore[arg-type]
                shutil.copyfileobj(src, zs, _CHUNK)
        elif compression == "none":
            shutil.copyfileobj(src, hashing, _CHUNK)
        else:
            raise ImageWriteError(f"unknown compression {compression!r}")
    return Descriptor(
        media_type=MEDIA_LAYER[compression],
        digest="sha256:" + hashing.hash.hexdigest(),
        size=hashing.size,
    )


#: Input compressed as one unit by one thread; each unit primes its compressor with the 32 KiB
#: before it, so the ratio stays within a fraction of a percent of a single stream.
GZIP_BLOCK = 1 << 20
_WINDOW = 1 << 15
#: No file name, mtime 0, no extra flags, OS "unknown": the same header on every machine.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _deflate(block: bytes, history: bytes, last: bool, level: int) -> bytes:
    if history:
        c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, 0, history)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return c.compress(block) + c.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)


def _gzip_blocks(
    src: BinaryIO, out: _HashingWriter, pool: ThreadPoolExecutor | None, jobs: int, level: int
) -> None:
    """One gzip stream, its input deflated block by block in parallel (as pigz does).

    Each block but the last ends on a byte boundary with a sync flush, so the raw deflate
    outputs simply follow each other; the output depends only on the input, the block size and
    the level, never on the number of threads.
    """
    out.write(_GZIP_HEADER)
    crc = size = 0
    history = b""
    pending: deque[Future[bytes]] = deque()
    # Enough blocks in flight to keep every thread busy, few enough to bound the memory.
    ahead = 4 * max(1, jobs)
    block = src.read(GZIP_BLOCK)
    while True:
        following = src.read(GZIP_BLOCK)
        last = not following
        crc = zlib.crc32(block, crc)
        size += len(block)
        if pool is None:
            out.write(_deflate(block, history, last, level))
        else:
            pending.append(pool.submit(_deflate, block, history, last, level))
            while len(pending) >= ahead:
                out.write(pending.popleft().result())
        history = block[-_WINDOW:]
        if last:
            break
        block = following
    while pending:
        out.write(pending.popleft().result())
    out.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))


def _compressed_blob(
    tar: LayerTar,
    compression: str,
    level: int,
    blob_cache: Path,
    workdir: Path,
    pool: ThreadPoolExecutor,
    jobs: int,
    log: Log,
) -> tuple[Descriptor, Path]:
    """The compressed blob for ``tar``: from the cache by diff_id once its digest is checked,
    or compressed now."""
    codec = _codec(compression, level)
    directory = blob_cache / codec
    hexdigest = tar.diff_id.split(":", 1)[1]
    blob, meta = directory / hexdigest, directory / f"{hexdigest}.json"
    try:
        cached = json.loads(meta.read_text())
        descriptor = Descriptor(
            media_type=MEDIA_LAYER[compression], digest=cached["digest"], size=cached["size"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        descriptor = None
    if descriptor is not None and blob.exists():
        damage = _blob_damage(blob, descriptor)
        if damage is None:
            return descriptor, blob
        log.warning(f"cached layer blob {blob} is damaged ({damage}); compressing it again")
        blob.unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = workdir / f"{hexdigest}.{codec}"
    descriptor = compress(tar.path, tmp, compression, pool, jobs, level)
    # Renames are atomic: a concurrent build sees the old blob or the new one, never half.
    os.replace(tmp, blob)
    meta_tmp = workdir / f"{hexdigest}.json"
    meta_tmp.write_text(json.dumps({"digest": descriptor.digest, "size": descriptor.size}))
    os.replace(meta_tmp, meta)
    return descriptor, blob


def _codec(compression: str, level: int) -> str:
    """The blob cache's name for a way of compressing: it says everything that decides the
    bytes, so a blob made another way is not reused."""
    if compression == "gzip":
        return f"gzip-{level}-b{GZIP_BLOCK >> 10}k-zlib{zlib.ZLIB_RUNTIME_VERSION}"
    if compression == "zstd":
        import zstandard

        version = ".".join(str(part) for part in zstandard.ZSTD_VERSION)
        return f"zstd-{level}-mt-libzstd{version}"
    return "none"


def _blob_damage(path: Path, descriptor: Descriptor) -> str | None:
    """Why the file at ``path`` is not the blob ``descriptor`` describes, or ``None``."""
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size != descriptor.size:
                return f"{size} bytes instead of {descriptor.size}"
            h = hashlib.sha256()
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if "sha256:" + h.hexdigest() != descriptor.digest:
        return f"its digest is not {descriptor.digest}"
    return None


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
        f = open(source, "rb")  # noqa: SIM115 - closed below; only its opening is checked here
    except OSError as exc:
        raise ImageWriteError(f"cannot read {source}: {exc.strerror}") from exc
    with f:
        info.size = os.fstat(f.fileno()).st_size
        tar.addfile(info, f)


def write_image(
    *,
    layers: Sequence[Layer],
    config: ImageConfig,
    reference: ImageReference,
    annotations: dict[str, str],
    output: Path | PendingFile,
    workdir: Path,
    compression: str = "gzip",
    compression_level: int | None = None,
    blob_cache: Path | None = None,
    jobs: int = 2,
    base_blobs: Sequence[tuple[LayerBlob, Path]] = (),
    log: Log | None = None,
) -> WrittenImage:
    """Write the image tarball to ``output``: a path (written through a temporary file renamed
    into place), or a :class:`PendingFile` that the caller commits.

    Uncompressed layer tars are staged in ``workdir``; compressed blobs are looked up in (and
    added to) ``blob_cache`` by diff_id, so unchanged layers are not compressed again. Layers
    are compressed with ``jobs`` threads (zlib releases the GIL). ``base_blobs`` are a base
    image's layers, stored as they are, below pybin2img's own. ``workdir`` and ``blob_cache``
    being unwritable (a full disk) is a :class:`HostError`; ``output``, an
    :class:`ImageWriteError`.
    """
    if not layers:
        raise ImageWriteError("an image needs at least one layer")
    level = checked_level(compression, compression_level)
    cache_dir = blob_cache or workdir / "blobs"
    try:
        tars = [
            write_layer_tar(layer, workdir / f"layer-{index}.tar", mtime=config.created)
            for index, layer in enumerate(layers)
        ]
    except OSError as exc:
        raise HostError(f"cannot write layers in {workdir}: {exc.strerror or exc}") from exc
    seen = {tar.diff_id for tar in tars}
    if len(seen) != len(tars):
        raise ImageWriteError("two layers of the image have the same content")
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            compressed = [
                _compressed_blob(
                    tar, compression, level, cache_dir, workdir, pool, jobs, log or Log()
                )
                for tar in tars
            ]
    except OSError as exc:
        raise HostError(
            f"cannot store layer blobs in {cache_dir}: {exc.strerror or exc}"
            + ("; free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "")
        ) from exc
    blobs: list[LayerBlob] = [blob for blob, _ in base_blobs]
    staged: dict[str, Path] = {blob.descriptor.digest: path for blob, path in base_blobs}
    if seen & {blob.diff_id for blob in blobs}:
        raise ImageWriteError("a layer of the image has the same content as a base layer")
    for layer, tar, (descriptor, path) in zip(layers, tars, compressed, strict=True):
        blobs.append(
            LayerBlob(
                name=layer.name,
                description=layer.description,
                descriptor=descriptor,
                diff_id=tar.diff_id,
                uncompressed_size=tar.size,
                files=tar.files,
            )
        )
        staged[descriptor.digest] = path
        tar.path.unlink()

    config_bytes = canonical_json(config_document(config, blobs, base_layers=len(base_blobs)))
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

    if isinstance(output, PendingFile):
        size = _write_tarball(output, members, mtime=config.created)
        path = output.path
    else:
        with pending_output(output) as pending:
            size = _write_tarball(pending, members, mtime=config.created)
            commit_output(pending)
        path = output
    return WrittenImage(
        path=path,
        size=size,
        manifest_digest=manifest_desc.digest,
        config_digest=config_desc.digest,
        layers=tuple(blobs),
        manifest=manifest_bytes,
        config=config_bytes,
    )


def pending_output(output: Path) -> PendingFile:
    """A :class:`PendingFile` for ``output`` (its folder made when missing); a folder that
    cannot be written is an :class:`ImageWriteError`."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return PendingFile(output)
    except OSError as exc:
        raise ImageWriteError(f"cannot write to {output.parent}: {exc.strerror}") from exc


def commit_output(pending: PendingFile) -> None:
    """Rename a finished output into place."""
    try:
        pending.commit()
    except OSError as exc:
        raise ImageWriteError(f"cannot write {pending.final}: {exc.strerror or exc}") from exc


def _write_tarball(pending: PendingFile, members: dict[str, bytes | Path], *, mtime: int) -> int:
    """Write the outer tar into ``pending``; each blob file is hashed as it is copied and must
    match the digest in its name."""
    try:
        with tarfile.open(fileobj=pending.file, mode="w", format=tarfile.PAX_FORMAT) as tar:
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
                    _add_blob(tar, info, content)
        pending.file.flush()
        return os.fstat(pending.file.fileno()).st_size
    except OSError as exc:
        raise ImageWriteError(f"cannot write {pending.final}: {exc.strerror or exc}") from exc


class _HashingReader:
    """Reads from ``f`` while hashing what was read."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.f.read(size)
        self.hash.update(data)
        return data


def _add_blob(tar: tarfile.TarFile, info: tarfile.TarInfo, source: Path) -> None:
    """Copy the blob file ``source`` into ``tar`` as ``info.name`` (``blobs/sha256/<hex>``)."""
    with source.open("rb") as f:
        info.size = os.fstat(f.fileno()).st_size
        reader = _HashingReader(f)
        tar.addfile(info, reader)
    if info.name.startswith("blobs/sha256/") and reader.hash.hexdigest() != info.name[13:]:
        raise ImageWriteError(
            f"the blob {source} changed while it was copied into the image (its digest is no "
            f"longer {info.name[13:19]}…); run the build again"
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with PendingFile(path) as pending:
            pending.file.write(data)
            pending.commit()
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
