"""The one reader of image tarballs: an OCI image layout (what pybin2img writes, ``skopeo copy …
oci-archive:``) or a docker-archive (``docker save``).

``open_archive(path)`` reads the index, the manifest and the config, and checks that every blob
the image needs is in the tarball with the size its descriptor gives. Blobs then stream out of
it: reading a blob's last byte checks its digest, and reading a layer to its end checks the
uncompressed content against the config's diff_id too. Every inconsistency is an
:class:`InvalidImageError` (exit 10) that names the tarball and what is wrong with it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import posixpath
import re
import tarfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, cast

from ..errors import InvalidImageError, UsageError
from .documents import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_LAYER, MEDIA_MANIFEST, Descriptor, blob_path

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
#: Image manifests: what an archive's index must point to.
MANIFEST_MEDIA_TYPES = (MEDIA_MANIFEST, DOCKER_MANIFEST)
CONFIG_MEDIA_TYPES = (MEDIA_CONFIG, DOCKER_CONFIG)
_INDEX_MEDIA_TYPES = (MEDIA_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")
#: Layer media type -> how its blob is compressed.
LAYER_CODECS: dict[str, str] = {
    **{media: codec for codec, media in MEDIA_LAYER.items()},
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}
#: Registries accept at least this much; more than that is not an image manifest anyway.
_MAX_MANIFEST = 4 << 20
_MAX_CONFIG = 64 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
_CHUNK = 1 << 20
#: Symbolic or hard links followed to find a member's content (``docker save`` links the
#: ``layer.tar`` of a layer it already wrote).
_MAX_LINKS = 40


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class HashingReader:
    """A read-only stream that hashes (sha256) and counts the bytes read through it."""

    def __init__(self, raw: _Readable) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        """Read to the end (tar readers stop before the padding)."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def codec_of(head: bytes) -> str:
    """``gzip``, ``zstd`` or ``none`` from a blob's first bytes."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return "none"


def decompressing(stream: _Readable, codec: str) -> _Readable:
    """A readable stream of the uncompressed layer (``stream`` itself for ``none``)."""
    if codec == "gzip":
        return gzip.GzipFile(fileobj=cast(IO[bytes], stream), mode="rb")
    if codec == "zstd":
        import zstandard

        return cast(_Readable, zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], stream)))
    return stream


@dataclass(frozen=True, kw_only=True)
class Layer:
    """A layer of the image (bottom-up), as the manifest and the config describe it."""

    #: Its position in the manifest, from 0.
    index: int
    #: As the manifest gives it; for a docker-archive, computed from the blob (media type from
    #: the compression found).
    descriptor: Descriptor
    #: The config's ``rootfs.diff_ids`` entry: sha256 of the uncompressed tar.
    diff_id: str
    #: ``gzip``, ``zstd`` or ``none``; ``None`` for a media type pybin2img cannot decompress.
    codec: str | None

    @property
    def what(self) -> str:
        return f"layer {self.index}"


class BlobReader(HashingReader):
    """A blob streamed out of the tarball; reading its last byte checks its digest."""

    def __init__(self, raw: _Readable, descriptor: Descriptor, what: str, path: Path) -> None:
        super().__init__(raw)
        self.descriptor = descriptor
        self._what = what
        self._path = path

    def read(self, n: int = -1) -> bytes:
        remaining = self.descriptor.size - self.size
        want = remaining if n < 0 else min(n, remaining)
        if want == 0:
            return b""
        try:
            data = super().read(want)
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise InvalidImageError(
                f"{self._path}: {self._what} blob {self.descriptor.digest} cannot be read "
                f"({exc}); the tarball is truncated or corrupt"
            ) from exc
        if not data:
            raise InvalidImageError(
                f"{self._path}: {self._what} blob {self.descriptor.digest} ends after "
                f"{self.size} of its {self.descriptor.size} bytes; the tarball is truncated"
            )
        if self.size == self.descriptor.size and self.digest != self.descriptor.digest:
            raise InvalidImageError(
                f"{self._path}: {self._what} blob {self.descriptor.digest} is corrupt: "
                f"its content hashes to {self.digest}"
            )
        return data

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LayerStream:
    """The uncompressed tar of a layer. Leaving its ``with`` block (or :meth:`finish`) reads
    it to the end, which checks the blob's digest and the config's diff_id."""

    def __init__(self, blob: BlobReader, layer: Layer, path: Path) -> None:
        assert layer.codec is not None
        self._blob = blob
        self._layer = layer
        self._path = path
        self._plain = HashingReader(decompressing(blob, layer.codec))
        self._tar: tarfile.TarFile | None = None

    @property
    def size(self) -> int:
        """Uncompressed bytes read so far (all of them after :meth:`finish`)."""
        return self._plain.size

    def read(self, n: int = -1) -> bytes:
        try:
            return self._plain.read(n)
        except InvalidImageError:
            raise
        except _decode_errors() as exc:
            raise self._unreadable(exc) from exc

    def tar(self) -> tarfile.TarFile:
        """The layer as a tar read in one pass (``mode="r|"``), its members in order."""
        if self._tar is None:
            self._tar = tarfile.open(fileobj=cast(IO[bytes], self), mode="r|")  # noqa: SIM115
        return self._tar

    def finish(self) -> None:
        """Read what is left and check the blob's digest and the layer's diff_id."""
        if self._tar is not None:
            self._tar.close()
        while self.read(_CHUNK):
            pass
        self._blob.drain()
        if self._plain.digest != self._layer.diff_id:
            raise InvalidImageError(
                f"{self._path}: {self._layer.what} {self._layer.descriptor.digest}: uncompressed "
                f"content hashes to {self._plain.digest}, the config's diff_id is "
                f"{self._layer.diff_id}"
            )

    def __enter__(self) -> LayerStream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, tarfile.ReadError | EOFError):
            # The tar inside is broken (a bad header, data that ends early).
            raise self._unreadable(exc) from exc

    def _unreadable(self, exc: BaseException) -> InvalidImageError:
        return InvalidImageError(
            f"{self._path}: {self._layer.what} {self._layer.descriptor.digest} cannot be read "
            f"({exc.__class__.__name__}: {exc}); it is truncated or corrupt"
        )


def _decode_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, zlib.error)
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a dependency
        return errors
    return (*errors, zstandard.ZstdError)


class Archive:
    """An image tarball, open: its documents, read and checked, and its blobs, streamed on
    demand. Close it (or use it in a ``with`` block) when done."""

    #: ``oci`` (an OCI image layout: ``index.json``) or ``docker`` (``docker save``'s
    #: ``manifest.json`` only).
    layout: str
    #: ``index.json`` (OCI layout only).
    index: dict[str, Any] | None
    #: The annotations of the index's manifest descriptor (image name, ref name).
    annotations: dict[str, Any]
    #: The manifest's exact bytes and its descriptor, with the manifest's own media type
    #: (OCI layout only: a docker-archive holds no manifest).
    manifest: bytes | None
    manifest_descriptor: Descriptor | None
    manifest_document: dict[str, Any] | None
    #: ``manifest.json``'s one entry (``Config``, ``RepoTags``, ``Layers``), when there is one.
    docker_manifest: dict[str, Any] | None
    config: bytes
    config_descriptor: Descriptor
    #: The config, parsed.
    config_document: dict[str, Any]
    layers: tuple[Layer, ...]

    def __init__(self, path: Path, tar: tarfile.TarFile, *, oci: bool) -> None:
        self.path = path
        self._tar = tar
        #: Layer digest -> member, for a docker-archive (which names blobs as it likes).
        self._docker_names: dict[str, str] = {}
        try:
            self._members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise InvalidImageError(f"{path} is not a readable image tarball: {exc}") from exc
        for name in self._members:
            if name.startswith("/") or ".." in name.split("/"):
                raise InvalidImageError(
                    f"{path}: member {name!r} is not a relative path inside the image"
                )
        if self.has("oci-layout"):
            layout = self.read_json("oci-layout", _MAX_MANIFEST)
            if layout != {"imageLayoutVersion": "1.0.0"}:
                raise InvalidImageError(
                    f"{path}: oci-layout is {layout}, expected imageLayoutVersion 1.0.0"
                )
        self.docker_manifest = self._docker_entry() if self.has("manifest.json") else None
        if self.has("index.json"):
            self._read_oci()
        elif oci:
            raise InvalidImageError(f"{path} is not an OCI image layout: it has no index.json")
        elif self.docker_manifest is not None:
            self._read_docker(self.docker_manifest)
        else:
            raise InvalidImageError(
                f"{path} holds neither an OCI layout nor Docker's manifest.json"
            )

    # --- the documents -------------------------------------------------------------------

    def _read_oci(self) -> None:
        self.layout = "oci"
        index = self.read_json("index.json", _MAX_MANIFEST)
        if not isinstance(index, dict):
            raise self._bad("index.json is not a JSON object")
        self.index = index
        entries = index.get("manifests")
        if not isinstance(entries, list) or len(entries) != 1:
            count = len(entries) if isinstance(entries, list) else 0
            raise self._bad(f"index.json lists {count} manifests; expected exactly one image")
        entry = entries[0]
        listed = self._descriptor(entry, "index.json's manifest")
        annotations = entry.get("annotations")
        self.annotations = annotations if isinstance(annotations, dict) else {}
        if listed.media_type in _INDEX_MEDIA_TYPES:
            raise self._multi_platform()
        self._check_member(listed, "manifest")
        manifest = self.read_blob(listed, "manifest", _MAX_MANIFEST)
        document = self._document(manifest, "the manifest")
        if "manifests" in document:
            raise self._multi_platform()
        media_type = str(document.get("mediaType") or listed.media_type)
        if media_type not in MANIFEST_MEDIA_TYPES:
            raise self._bad(f"its manifest has media type {media_type!r}, not an image manifest")
        self.manifest = manifest
        self.manifest_descriptor = Descriptor(
            media_type=media_type, digest=listed.digest, size=listed.size
        )
        self.manifest_document = document
        config = self._descriptor(document.get("config"), "the manifest's config")
        if config.media_type not in CONFIG_MEDIA_TYPES:
            raise self._bad(
                f"the manifest's config has media type {config.media_type!r}, not an image config"
            )
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise self._bad("the manifest has no layers list")
        descriptors = [self._descriptor(layer, f"layer {n}") for n, layer in enumerate(layers)]
        self._check_member(config, "config")
        for n, descriptor in enumerate(descriptors):
            self._check_member(descriptor, f"layer {n}")
        self._set_config(config, self.read_blob(config, "config"))
        self._set_layers([(d, LAYER_CODECS.get(d.media_type)) for d in descriptors])

    def _read_docker(self, entry: dict[str, Any]) -> None:
        self.layout = "docker"
        self.index = None
        self.annotations = {}
        self.manifest = self.manifest_descriptor = self.manifest_document = None
        config_name, layer_names = entry.get("Config"), entry.get("Layers")
        if not isinstance(config_name, str):
            raise self._bad("manifest.json names no Config")
        if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
            raise self._bad("manifest.json has no Layers list")
        data = self._read_member(config_name, _MAX_CONFIG)
        config = Descriptor(
            media_type=DOCKER_CONFIG,
            digest="sha256:" + hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        self._set_config(config, data)
        # docker save gives layers by file name only: their digests and compression are
        # found by reading them.
        layers = []
        for name in layer_names:
            hashing = HashingReader(self._open_member(name))
            try:
                codec = codec_of(hashing.read(4))
                hashing.drain()
            except (OSError, EOFError, tarfile.TarError) as exc:
                raise self._bad(f"{name} cannot be read ({exc})") from exc
            descriptor = Descriptor(
                media_type=MEDIA_LAYER[codec], digest=hashing.digest, size=hashing.size
            )
            self._docker_names[descriptor.digest] = name
            layers.append((descriptor, codec))
        self._set_layers(layers)

    def _set_config(self, descriptor: Descriptor, data: bytes) -> None:
        self.config_descriptor = descriptor
        self.config = data
        self.config_document = self._document(data, "the config")

    def _set_layers(self, layers: Sequence[tuple[Descriptor, str | None]]) -> None:
        if not layers:
            raise self._bad("the manifest lists no layers")
        rootfs = self.config_document.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            raise self._bad("the config has no rootfs.diff_ids list")
        if len(diff_ids) != len(layers):
            raise self._bad(f"the config has {len(diff_ids)} diff_ids for {len(layers)} layers")
        self.layers = tuple(
            Layer(index=n, descriptor=descriptor, diff_id=diff_id, codec=codec)
            for n, ((descriptor, codec), diff_id) in enumerate(zip(layers, diff_ids, strict=True))
        )

    def _docker_entry(self) -> dict[str, Any]:
        entries = self.read_json("manifest.json", _MAX_MANIFEST)
        if not isinstance(entries, list) or len(entries) != 1:
            count = len(entries) if isinstance(entries, list) else 0
            raise self._bad(f"manifest.json lists {count} images; expected exactly one image")
        if not isinstance(entries[0], dict):
            raise self._bad("manifest.json's entry is not a JSON object")
        return entries[0]

    @property
    def repo_tags(self) -> tuple[str, ...]:
        """``manifest.json``'s ``RepoTags``: the tags ``docker load`` gives the image."""
        tags = (self.docker_manifest or {}).get("RepoTags") or []
        return tuple(tag for tag in tags if isinstance(tag, str))

    @property
    def names(self) -> tuple[str, ...]:
        """The tarball's member names (without a leading ``./``)."""
        return tuple(self._members)

    # --- reading members and blobs -------------------------------------------------------

    def has(self, name: str) -> bool:
        return name.removeprefix("./") in self._members

    def is_file(self, name: str) -> bool:
        """``name`` is a regular file of the tarball (not a link, not a directory)."""
        member = self._members.get(name.removeprefix("./"))
        return member is not None and member.isfile()

    def read_json(self, name: str, limit: int = _MAX_CONFIG) -> Any:
        """A JSON member of the tarball (``oci-layout``, ``index.json``, ``manifest.json``)."""
        try:
            return json.loads(self._read_member(name, limit))
        except ValueError as exc:
            raise self._bad(f"{name} is not valid JSON ({exc})") from exc

    def read_blob(self, descriptor: Descriptor, what: str, limit: int = _MAX_CONFIG) -> bytes:
        """A whole (small) blob, checked."""
        if descriptor.size > limit:
            raise self._bad(f"the {what} is larger than {limit} bytes")
        with self.open_blob(descriptor, what) as stream:
            return stream.read()

    def open_blob(self, descriptor: Descriptor, what: str = "blob") -> BlobReader:
        """A blob as a stream; reading its last byte checks its digest."""
        name = self._docker_names.get(descriptor.digest) or blob_path(descriptor.digest)
        return BlobReader(self._open_member(name), descriptor, what, self.path)

    def open_layer(self, layer: Layer) -> LayerStream:
        """A layer's uncompressed tar (see :class:`LayerStream`)."""
        if layer.codec is None:
            raise self._bad(
                f"{layer.what} {layer.descriptor.digest} has media type "
                f"{layer.descriptor.media_type!r}, which pybin2img cannot decompress"
            )
        return LayerStream(self.open_blob(layer.descriptor, layer.what), layer, self.path)

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _member(self, name: str) -> tarfile.TarInfo:
        """The regular file ``name`` stands for, following links."""
        name = posixpath.normpath(name.removeprefix("./"))
        for _ in range(_MAX_LINKS):
            member = self._members.get(name)
            if member is None:
                raise self._bad(f"it has no {name}")
            if member.issym():
                name = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
            elif member.islnk():
                name = posixpath.normpath(member.linkname.removeprefix("./"))
            elif member.isfile():
                return member
            else:
                raise self._bad(f"{name} is not a file")
        raise self._bad(f"{name}: too many levels of links")

    def _open_member(self, name: str) -> IO[bytes]:
        stream = self._tar.extractfile(self._member(name))
        assert stream is not None  # _member returns regular files only
        return stream

    def _read_member(self, name: str, limit: int) -> bytes:
        member = self._member(name)
        if member.size > limit:
            raise self._bad(f"{name} is larger than {limit} bytes")
        try:
            return self._open_member(name).read()
        except (OSError, EOFError, tarfile.TarError) as exc:
            raise self._bad(f"{name} cannot be read ({exc})") from exc

    def _check_member(self, descriptor: Descriptor, what: str) -> None:
        """The blob is in the tarball with the size its descriptor gives."""
        name = blob_path(descriptor.digest)
        if name not in self._members:
            raise self._bad(f"{what} blob {descriptor.digest} is missing: there is no {name}")
        size = self._member(name).size
        if size != descriptor.size:
            raise self._bad(
                f"{what} blob {descriptor.digest} has {size} bytes, its descriptor says "
                f"{descriptor.size}; the tarball is truncated or corrupt"
            )

    def _descriptor(self, value: Any, what: str) -> Descriptor:
        if not isinstance(value, dict):
            raise self._bad(f"{what} is not a descriptor")
        digest, size = value.get("digest"), value.get("size")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise self._bad(f"{what} has digest {digest!r}, expected sha256:<64 hex digits>")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise self._bad(f"{what} has size {size!r}")
        return Descriptor(media_type=str(value.get("mediaType", "")), digest=digest, size=size)

    def _document(self, data: bytes, what: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise self._bad(f"{what} is not valid JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise self._bad(f"{what} is not a JSON object")
        return value

    def _multi_platform(self) -> InvalidImageError:
        return self._bad(
            "index.json points to a multi-platform index, not an image manifest; "
            "save one platform's image"
        )

    def _bad(self, why: str) -> InvalidImageError:
        return InvalidImageError(f"{self.path}: {why}")


def open_archive(path: Path, *, oci: bool = False) -> Archive:
    """Open the image tarball at ``path`` and check its documents (see the module docstring).

    ``oci``: refuse a docker-archive (push and inspect need the manifest's own bytes).
    Raises :class:`UsageError` when ``path`` does not exist, :class:`InvalidImageError` when it
    is not a consistent image tarball.
    """
    try:
        tar = tarfile.open(path, "r:*")  # noqa: SIM115 (kept open while blobs stream)
    except FileNotFoundError as exc:
        raise UsageError(f"image tarball {path} does not exist") from exc
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise InvalidImageError(f"{path} is not a readable image tarball: {exc}") from exc
    try:
        return Archive(path, tar, oci=oci)
    except BaseException:
        tar.close()
        raise
