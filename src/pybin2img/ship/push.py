"""Push stage: an image tarball -> a registry, over the registry HTTP API, no Docker daemon.

``push_image(tarball, reference, options=…, log=…)`` reads the tarball's OCI layout (``index.json``
-> manifest -> blobs, through ``oci.archive``), uploads the blobs the repository lacks (checking
first, mounting from ``mount_from`` when it can, streaming each blob out of the tarball), then
``PUT``s the manifest's exact bytes: by digest first, then under each tag. Nothing is tagged
until every blob is there, so a failed push leaves the registry's tags as they were.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ImageWriteError, UsageError
from ..log import Log
from ..oci import Archive, Descriptor, open_archive
from ..reference import ImageReference, parse_reference
from ..registry import RegistryClient, RegistryOptions, open_client

if TYPE_CHECKING:
    from ..oci import BaseImage, MergedIndex


@dataclass(frozen=True, kw_only=True)
class PushOptions:
    """What one push needs besides reaching the registry
    (:class:`~pybin2img.registry.RegistryOptions`)."""

    #: A repository on the same registry to mount missing blobs from (``team/base``).
    mount_from: str | None = None
    #: More tags to push the same manifest under, after the reference's own tag.
    extra_tags: tuple[str, ...] = ()
    #: Where to write a JSON record of the push.
    metadata_file: Path | None = None


@dataclass(frozen=True, kw_only=True)
class PushedBlob:
    """One blob of the image and what the push did with it."""

    #: ``layer`` or ``config``.
    kind: str
    digest: str
    size: int
    media_type: str
    #: ``uploaded``, ``exists`` (the repository had it) or ``mounted`` (from ``mount_from``).
    action: str

    @property
    def uploaded(self) -> int:
        """Bytes this push sent for the blob."""
        return self.size if self.action == "uploaded" else 0


@dataclass(frozen=True, kw_only=True)
class PushResult:
    """What a push did."""

    reference: ImageReference
    #: The manifest digest, as the registry confirmed it.
    digest: str
    media_type: str
    #: Every tag the manifest was pushed under.
    tags: tuple[str, ...]
    blobs: tuple[PushedBlob, ...]

    @property
    def pinned_reference(self) -> str:
        """``REFERENCE@sha256:…``, the line printed on stdout."""
        return self.reference.with_digest(self.digest)

    @property
    def bytes_uploaded(self) -> int:
        return sum(blob.uploaded for blob in self.blobs)

    @property
    def bytes_skipped(self) -> int:
        return sum(blob.size for blob in self.blobs if blob.action != "uploaded")

    def to_json(self) -> dict[str, Any]:
        """The ``--metadata-file`` document."""
        return {
            "reference": self.reference.familiar,
            "pinned_reference": self.pinned_reference,
            "registry": self.reference.registry,
            "repository": self.reference.normalized_path,
            "digest": self.digest,
            "media_type": self.media_type,
            "tags": list(self.tags),
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_skipped": self.bytes_skipped,
            "blobs": [
                {
                    "kind": blob.kind,
                    "digest": blob.digest,
                    "size": blob.size,
                    "media_type": blob.media_type,
                    "action": blob.action,
                    "bytes_uploaded": blob.uploaded,
                }
                for blob in self.blobs
            ],
        }


def push_image(
    tarball: Path,
    reference: ImageReference,
    *,
    registry: RegistryOptions,
    options: PushOptions = PushOptions(),
    log: Log,
) -> PushResult:
    """Push the image in ``tarball`` to ``reference`` (its registry, repository and tag),
    reached with ``registry``."""
    mount_from = _mount_source(options.mount_from, reference)
    tags = tuple(dict.fromkeys((reference.tag, *options.extra_tags)))
    with (
        log.stage("push") as stage,
        open_archive(tarball, oci=True) as archive,
        open_client(reference, registry, log, mount_from=mount_from) as client,
    ):
        client.ping()
        pushed = []
        for kind, blob in _blobs(archive):
            opener = functools.partial(archive.open_blob, blob, kind)
            pushed.append(_push_blob(client, opener, kind, blob, mount_from, log))
        # By digest first: the image exists before any tag points at it.
        manifest, descriptor = archive.manifest, archive.manifest_descriptor
        assert manifest is not None  # oci=True: an OCI layout has one
        assert descriptor is not None
        digest = client.put_manifest(descriptor.digest, manifest, descriptor.media_type)
        for tag in tags:
            client.put_manifest(tag, manifest, descriptor.media_type)
        result = PushResult(
            reference=reference,
            digest=digest,
            media_type=descriptor.media_type,
            tags=tags,
            blobs=tuple(pushed),
        )
        uploaded = [b for b in pushed if b.action == "uploaded"]
        stage.summary = (
            f"{reference.familiar}: {len(uploaded)} of {len(pushed)} blobs uploaded "
            f"({result.bytes_uploaded} bytes), {result.bytes_skipped} bytes already there"
        )
    if options.metadata_file:
        _write_metadata(options.metadata_file, result.to_json())
    return result


def push_index(
    merged: MergedIndex,
    reference: ImageReference,
    *,
    registry: RegistryOptions,
    options: PushOptions = PushOptions(),
    log: Log,
) -> PushResult:
    """Push an image index (:func:`pybin2img.oci.index.merge_index`): each platform's blobs
    and manifest by digest, then the index under the tags. Nothing is tagged until every
    image is there."""
    mount_from = _mount_source(options.mount_from, reference)
    tags = tuple(dict.fromkeys((reference.tag, *options.extra_tags)))
    pushed: list[PushedBlob] = []
    with (
        log.stage("push") as stage,
        open_client(reference, registry, log, mount_from=mount_from) as client,
    ):
        client.ping()
        for child in merged.children:
            for kind, blob in child.blobs:
                opener = functools.partial(child.open_blob, kind, blob)
                pushed.append(
                    _push_blob(client, opener, kind, blob, mount_from, log, f"{child.platform} ")
                )
            digest = child.descriptor.digest
            client.put_manifest(digest, child.manifest, child.descriptor.media_type)
            log.detail(f"{child.platform} manifest {digest}")
        index = merged.descriptor
        digest = client.put_manifest(index.digest, merged.index, index.media_type)
        for tag in tags:
            client.put_manifest(tag, merged.index, index.media_type)
        result = PushResult(
            reference=reference,
            digest=digest,
            media_type=index.media_type,
            tags=tags,
            blobs=tuple(pushed),
        )
        platforms = ", ".join(str(child.platform) for child in merged.children)
        stage.summary = (
            f"{reference.familiar}: index of {platforms} ({result.bytes_uploaded} bytes "
            f"uploaded, {result.bytes_skipped} already there)"
        )
    if options.metadata_file:
        _write_metadata(options.metadata_file, result.to_json())
    return result


def _blobs(archive: Archive) -> list[tuple[str, Descriptor]]:
    """``(kind, blob)``: the layers bottom-up, then the config (as the Docker CLI pushes them);
    a layer listed twice (an empty layer, say) is pushed and counted once."""
    blobs = [("layer", layer.descriptor) for layer in archive.layers]
    blobs.append(("config", archive.config_descriptor))
    unique: dict[str, tuple[str, Descriptor]] = {}
    for kind, blob in blobs:
        unique.setdefault(blob.digest, (kind, blob))
    return list(unique.values())


def _push_blob(
    client: RegistryClient,
    open_blob: Callable[[], Any],
    kind: str,
    blob: Descriptor,
    mount_from: str | None,
    log: Log,
    label: str = "",
) -> PushedBlob:
    """Make ``blob`` exist in the repository: there already, mounted, or uploaded."""
    action = _put_blob(client, open_blob, blob, mount_from)
    log.detail(f"{label}{kind} {blob.digest}  {blob.size} bytes  {action}")
    return PushedBlob(
        kind=kind, digest=blob.digest, size=blob.size, media_type=blob.media_type, action=action
    )


def _put_blob(
    client: RegistryClient, open_blob: Callable[[], Any], blob: Descriptor, mount_from: str | None
) -> str:
    if client.blob_exists(blob.digest):
        return "exists"
    session = None
    if mount_from:
        session = client.mount_blob(blob.digest, mount_from)
        if session is None:
            return "mounted"
    client.upload_blob(blob.digest, blob.size, open_blob, session=session)
    return "uploaded"


def base_repository(base_image: BaseImage | None, target: ImageReference) -> str | None:
    """The base image's repository when it lives on the registry pushed to, else ``None``:
    ``build --push`` mounts the base's layers from there."""
    if base_image is None:
        return None
    try:
        base = parse_reference(base_image.name.rsplit("@", 1)[0])
    except UsageError:
        return None
    if base.domain is None or base.registry != target.registry or base.path == target.path:
        return None
    return base.repository


def _mount_source(mount_from: str | None, reference: ImageReference) -> str | None:
    """``--mount-from`` as a repository path on the reference's registry."""
    if not mount_from:
        return None
    source = parse_reference(mount_from)
    if source.explicit_tag:
        raise UsageError(f"--mount-from {mount_from!r} names a repository, not a tag")
    if source.domain is None:
        # A bare name belongs to the target registry; only Docker Hub adds ``library/``.
        return source.normalized_path if reference.registry == "docker.io" else source.path
    if source.registry != reference.registry:
        raise UsageError(
            f"--mount-from {mount_from!r} is on {source.registry}, not {reference.registry}: "
            "blobs can only be mounted within one registry"
        )
    return source.normalized_path


def _write_metadata(path: Path, document: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ImageWriteError(f"cannot write {path}: {exc.strerror or exc}") from exc
