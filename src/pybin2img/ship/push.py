"""Push stage: an image tarball -> a registry, over the registry HTTP API, no Docker daemon.

``push_image(tarball, reference, options=…, log=…)`` reads the tarball's OCI layout (``index.json``
-> manifest -> blobs), uploads the blobs the repository lacks (checking first, mounting from
``mount_from`` when it can, streaming each blob out of the tarball), then ``PUT``s the manifest's
exact bytes: by digest first, then under each tag. Nothing is tagged until every blob is there,
so a failed push leaves the registry's tags as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import ImageWriteError, InvalidImageError, UsageError
from ..log import Log
from ..reference import ImageReference, parse_reference
from .credentials import Credentials, find_credentials
from .registry import RegistryClient, RetryPolicy, is_plain_http_allowed

#: Manifests pybin2img pushes; an index (several platforms) is not something it writes.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
#: Registries accept at least this much; more than that is not an image manifest anyway.
_MAX_MANIFEST = 4 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True, kw_only=True)
class PushOptions:
    """Where credentials come from and how to reach the registry."""

    #: Explicit credentials (``--username`` + ``--password-stdin``); ``None`` looks them up in
    #: ``docker_config``.
    credentials: Credentials | None = None
    #: The directory holding Docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``).
    docker_config: Path | None = None
    #: Environment for credential helpers (``PATH``) and proxies (``HTTPS_PROXY``, ``NO_PROXY``).
    environ: Mapping[str, str] = field(default_factory=dict)
    #: Registries (``host`` or ``host:port``) reached over plain HTTP or unverified TLS, besides
    #: loopback hosts.
    insecure_registries: tuple[str, ...] = ()
    #: CA bundle for TLS (``SSL_CERT_FILE``); ``None`` uses certifi's.
    ca_bundle: Path | None = None
    #: A repository on the same registry to mount missing blobs from (``team/base``).
    mount_from: str | None = None
    #: More tags to push the same manifest under, after the reference's own tag.
    extra_tags: tuple[str, ...] = ()
    #: Where to write a JSON record of the push.
    metadata_file: Path | None = None
    #: Retries of transient failures.
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Chunk size when the registry refuses a blob in one request.
    chunk_size: int = 16 << 20


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
    tarball: Path, reference: ImageReference, *, options: PushOptions, log: Log
) -> PushResult:
    """Push the image in ``tarball`` to ``reference`` (its registry, repository and tag)."""
    registry = reference.registry
    repository = reference.normalized_path
    mount_from = _mount_source(options.mount_from, reference)
    tags = tuple(dict.fromkeys((reference.tag, *options.extra_tags)))
    credentials = options.credentials or find_credentials(
        registry, docker_config=options.docker_config, environ=options.environ, log=log
    )
    with (
        log.stage("push") as stage,
        _open_archive(tarball) as archive,
        RegistryClient(
            registry=registry,
            repository=repository,
            credentials=credentials,
            log=log,
            insecure=is_plain_http_allowed(registry, options.insecure_registries),
            mount_from=mount_from,
            retry=options.retry,
            ca_bundle=str(options.ca_bundle) if options.ca_bundle else None,
            proxy_env=options.environ,
            chunk_size=options.chunk_size,
        ) as client,
    ):
        client.ping()
        pushed = []
        for kind, blob in archive.blobs:
            action = _push_blob(client, archive, blob, mount_from)
            log.detail(f"{kind} {blob.digest}  {blob.size} bytes  {action}")
            pushed.append(
                PushedBlob(
                    kind=kind,
                    digest=blob.digest,
                    size=blob.size,
                    media_type=blob.media_type,
                    action=action,
                )
            )
        # By digest first: the image exists before any tag points at it.
        digest = client.put_manifest(archive.manifest_digest, archive.manifest, archive.media_type)
        for tag in tags:
            client.put_manifest(tag, archive.manifest, archive.media_type)
        result = PushResult(
            reference=reference,
            digest=digest,
            media_type=archive.media_type,
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


def _push_blob(
    client: RegistryClient, archive: _Archive, blob: _Blob, mount_from: str | None
) -> str:
    if client.blob_exists(blob.digest):
        return "exists"
    session = None
    if mount_from:
        session = client.mount_blob(blob.digest, mount_from)
        if session is None:
            return "mounted"
    client.upload_blob(
        blob.digest, blob.size, lambda: archive.open_blob(blob.digest), session=session
    )
    return "uploaded"


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


# --- reading the tarball -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True, kw_only=True)
class _Archive:
    """The image in an open tarball: the manifest's bytes and a way to stream each blob."""

    tar: tarfile.TarFile
    path: Path
    manifest: bytes
    manifest_digest: str
    media_type: str
    #: ``(kind, blob)``: the layers bottom-up, then the config (as the Docker CLI pushes).
    blobs: tuple[tuple[str, _Blob], ...]
    members: Mapping[str, tarfile.TarInfo]

    def open_blob(self, digest: str) -> IO[bytes]:
        stream = self.tar.extractfile(self.members[_member(digest)])
        assert stream is not None  # _blob_member checked it is a regular file
        return stream


@contextmanager
def _open_archive(path: Path) -> Iterator[_Archive]:
    """Open the outer tar once; read ``index.json``, the manifest, and the blob list."""
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (kept open while blobs stream)
    except FileNotFoundError as exc:
        raise UsageError(f"image tarball {path} does not exist") from exc
    except (OSError, tarfile.TarError) as exc:
        raise InvalidImageError(f"cannot read image tarball {path}: {exc}") from exc
    try:
        yield _read_archive(tar, path)
    finally:
        tar.close()


def _read_archive(tar: tarfile.TarFile, path: Path) -> _Archive:
    try:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise InvalidImageError(f"cannot read image tarball {path}: {exc}") from exc

    def bad(why: str) -> InvalidImageError:
        return InvalidImageError(f"{path} is not an OCI image tarball pybin2img can push: {why}")

    def read(name: str, limit: int) -> bytes:
        member = members.get(name)
        if member is None or not member.isfile():
            raise bad(f"it has no {name}")
        if member.size > limit:
            raise bad(f"{name} is larger than {limit} bytes")
        stream = tar.extractfile(member)
        assert stream is not None
        try:
            return stream.read()
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise InvalidImageError(f"cannot read {name} from {path}: {exc}") from exc

    def descriptor(value: Any, what: str) -> _Blob:
        if not isinstance(value, dict):
            raise bad(f"{what} is not a descriptor")
        digest, size = value.get("digest"), value.get("size")
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise bad(f"{what} has digest {digest!r}, expected sha256:<64 hex digits>")
        if not isinstance(size, int) or size < 0:
            raise bad(f"{what} has size {size!r}")
        return _Blob(digest=digest, size=size, media_type=str(value.get("mediaType", "")))

    def document(data: bytes, name: str) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError as exc:
            raise bad(f"{name} is not JSON ({exc})") from exc
        if not isinstance(value, dict):
            raise bad(f"{name} is not a JSON object")
        return value

    index = document(read("index.json", _MAX_MANIFEST), "index.json")
    entries = index.get("manifests")
    if not isinstance(entries, list) or len(entries) != 1:
        count = len(entries) if isinstance(entries, list) else 0
        raise bad(f"index.json lists {count} manifests; pybin2img pushes exactly one image")
    manifest_desc = descriptor(entries[0], "index.json's manifest")
    manifest = read(_member(manifest_desc.digest), _MAX_MANIFEST)
    if "sha256:" + hashlib.sha256(manifest).hexdigest() != manifest_desc.digest:
        raise bad(f"the manifest blob does not match its digest {manifest_desc.digest}")
    parsed = document(manifest, "the manifest")
    media_type = str(parsed.get("mediaType") or manifest_desc.media_type)
    if media_type not in MANIFEST_MEDIA_TYPES:
        raise bad(f"its manifest has media type {media_type!r}, not an image manifest")
    layers = parsed.get("layers")
    if not isinstance(layers, list):
        raise bad("the manifest has no layers list")
    blobs = [("layer", descriptor(layer, f"layer {n}")) for n, layer in enumerate(layers)]
    blobs.append(("config", descriptor(parsed.get("config"), "the manifest's config")))
    # A layer listed twice (an empty layer, say) is pushed and counted once.
    unique: dict[str, tuple[str, _Blob]] = {}
    for kind, blob in blobs:
        unique.setdefault(blob.digest, (kind, blob))
    for _, blob in unique.values():
        member = members.get(_member(blob.digest))
        if member is None or not member.isfile():
            raise bad(f"blob {blob.digest} is missing")
        if member.size != blob.size:
            raise bad(f"blob {blob.digest} has {member.size} bytes, the manifest says {blob.size}")
    return _Archive(
        tar=tar,
        path=path,
        manifest=manifest,
        manifest_digest=manifest_desc.digest,
        media_type=media_type,
        blobs=tuple(unique.values()),
        members=members,
    )


def _member(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)
