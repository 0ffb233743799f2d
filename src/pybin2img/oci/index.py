"""One OCI image index out of image tarballs of different platforms: ``merge_index`` and
``write_index``.

Nuitka compiles for the machine it runs on, so a multi-platform image is built on one native
machine per platform and merged afterwards. :func:`merge_index` reads each tarball through
:mod:`.archive` (pybin2img's own, ``docker save``'s, ``skopeo copy … oci-archive:``'s), takes
the platform from each image's config and refuses two of the same platform. An OCI layout keeps
its manifest's exact bytes (and so its digest); a docker-archive, which holds no manifest, gets
an OCI manifest written for it. :func:`write_index` writes the index with every blob as an OCI
image layout tarball (``skopeo … oci-archive:``, ``podman load``); ``ship.push.push_index``
pushes it.
"""

from __future__ import annotations

import functools
import io
import os
import tarfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ImageWriteError, InvalidImageError, UsageError
from ..reference import ImageReference
from .archive import Archive, open_archive
from .documents import (
    MEDIA_CONFIG,
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    OCI_LAYOUT,
    Descriptor,
    blob_path,
    canonical_json,
    sha256_digest,
)

#: The variant an architecture has when its config names none (as containerd normalizes).
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


@dataclass(frozen=True, kw_only=True)
class Platform:
    """Where an image runs, from its config."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Equal for platforms a runtime would not tell apart."""
        variant = self.variant or _DEFAULT_VARIANTS.get(self.architecture, "")
        return (self.os, self.architecture, variant, self.os_version or "")

    def to_json(self) -> dict[str, str]:
        document = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            document["variant"] = self.variant
        if self.os_version:
            document["os.version"] = self.os_version
        return document

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass(frozen=True, kw_only=True)
class IndexChild:
    """One platform's image, read from its tarball."""

    path: Path
    platform: Platform
    #: The manifest's exact bytes and its descriptor (with the media type it has).
    manifest: bytes
    descriptor: Descriptor
    #: ``(kind, blob)``: the layers bottom-up, then the config; each blob once.
    blobs: tuple[tuple[str, Descriptor], ...]
    archive: Archive

    def index_entry(self) -> dict[str, Any]:
        return {**self.descriptor.to_json(), "platform": self.platform.to_json()}

    def open_blob(self, kind: str, blob: Descriptor) -> Any:
        """A stream of one of :attr:`blobs` (the config from memory: a docker-archive names
        it by file, not by digest)."""
        if kind == "config":
            return io.BytesIO(self.archive.config)
        return self.archive.open_blob(blob, kind)


@dataclass(frozen=True, kw_only=True)
class MergedIndex:
    """The index over the children; the children's tarballs stay open until :meth:`close`."""

    children: tuple[IndexChild, ...]
    #: The image index's exact bytes and descriptor.
    index: bytes
    descriptor: Descriptor
    _stack: ExitStack

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> MergedIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_index(paths: Sequence[Path]) -> MergedIndex:
    """Read the tarballs at ``paths`` into one index, in the order given. Two tarballs of the
    same platform are a :class:`UsageError` naming both."""
    if not paths:
        raise UsageError("give at least one image tarball")
    stack = ExitStack()
    try:
        children: list[IndexChild] = []
        for path in paths:
            archive = stack.enter_context(open_archive(path))
            child = _child(path, archive)
            for other in children:
                if other.platform.key == child.platform.key:
                    raise UsageError(
                        f"{other.path} and {path} are both {child.platform} images; an index "
                        "holds one image per platform"
                    )
            children.append(child)
        index = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_INDEX,
                "manifests": [child.index_entry() for child in children],
            }
        )
        descriptor = Descriptor(
            media_type=MEDIA_INDEX, digest=sha256_digest(index), size=len(index)
        )
        return MergedIndex(
            children=tuple(children), index=index, descriptor=descriptor, _stack=stack
        )
    except BaseException:
        stack.close()
        raise


def _child(path: Path, archive: Archive) -> IndexChild:
    config = archive.config_document
    os_name, architecture = config.get("os"), config.get("architecture")
    if not isinstance(os_name, str) or not os_name or not isinstance(architecture, str):
        raise InvalidImageError(f"{path}: the image config names no os and architecture")
    if not architecture:
        raise InvalidImageError(f"{path}: the image config names no architecture")
    variant, os_version = config.get("variant"), config.get("os.version")
    platform = Platform(
        os=os_name,
        architecture=architecture,
        variant=variant if isinstance(variant, str) and variant else None,
        os_version=os_version if isinstance(os_version, str) and os_version else None,
    )
    blobs: dict[str, tuple[str, Descriptor]] = {}
    for layer in archive.layers:
        blobs.setdefault(layer.descriptor.digest, ("layer", layer.descriptor))
    blobs.setdefault(archive.config_descriptor.digest, ("config", archive.config_descriptor))
    if archive.manifest is not None and archive.manifest_descriptor is not None:
        manifest, descriptor = archive.manifest, archive.manifest_descriptor
    else:
        # docker save holds no manifest: write the OCI one that describes the same blobs.
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_MANIFEST,
                "config": {
                    "mediaType": MEDIA_CONFIG,
                    "digest": archive.config_descriptor.digest,
                    "size": archive.config_descriptor.size,
                },
                "layers": [layer.descriptor.to_json() for layer in archive.layers],
            }
        )
        descriptor = Descriptor(
            media_type=MEDIA_MANIFEST, digest=sha256_digest(manifest), size=len(manifest)
        )
    return IndexChild(
        path=path,
        platform=platform,
        manifest=manifest,
        descriptor=descriptor,
        blobs=tuple(blobs.values()),
        archive=archive,
    )


def write_index(merged: MergedIndex, reference: ImageReference, output: Path) -> int:
    """Write ``merged`` as an OCI image layout tarball at ``output`` (atomically, with fixed
    metadata: the same inputs give the same bytes). Returns its size."""
    entry = {
        **merged.descriptor.to_json(),
        "annotations": {
            "io.containerd.image.name": reference.fully_qualified,
            "org.opencontainers.image.ref.name": reference.tag,
        },
    }
    layout_index = canonical_json(
        {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry]}
    )
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, "oci-layout", OCI_LAYOUT)
            _add(tar, "index.json", layout_index)
            for name, size, open_blob in sorted(_blobs(merged), key=lambda b: b[0]):
                with open_blob() as stream:
                    tar.addfile(_info(name, size), stream)
        os.replace(partial, output)
        return output.stat().st_size
    except OSError as exc:
        raise ImageWriteError(f"cannot write {output}: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def _blobs(merged: MergedIndex) -> Iterator[tuple[str, int, Callable[[], Any]]]:
    """``(member name, size, opener)`` for every blob once: the index, the manifests, and
    each image's config and layers (streamed out of its tarball)."""
    seen: set[str] = set()
    documents = [(merged.descriptor.digest, merged.index)]
    documents += [(child.descriptor.digest, child.manifest) for child in merged.children]
    for digest, data in documents:
        if digest not in seen:
            seen.add(digest)
            yield blob_path(digest), len(data), functools.partial(io.BytesIO, data)
    for child in merged.children:
        for kind, blob in child.blobs:
            if blob.digest not in seen:
                seen.add(blob.digest)
                opener = functools.partial(child.open_blob, kind, blob)
                yield blob_path(blob.digest), blob.size, opener


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(_info(name, len(data)), io.BytesIO(data))
