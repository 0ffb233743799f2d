"""The registry operations a push needs, on one repository: :class:`RegistryClient`.

``GET /v2/`` (which also settles the scheme and the authentication), blob ``HEAD``,
cross-repository mount, streamed monolithic upload with a chunked fallback, and manifest ``PUT``
with the caller's exact bytes. Blobs stream out of the tarball and are checked (size, digest) as
they go. Authentication is :mod:`.auth`'s, redirects and retries :mod:`.transport`'s.
"""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from ..errors import InvalidImageError, RegistryError
from ..log import Log
from .auth import Authenticator
from .credentials import Credentials
from .transport import Connection, Request, RetryPolicy, Transient, Transport, reason

T = TypeVar("T")

#: Answers to a monolithic PUT that mean "not like this" rather than "not at all": a body too
#: large for a proxy in front of the registry, or a registry that only takes chunks.
_MONOLITHIC_REFUSED = frozenset({405, 411, 413, 501})
_OCTET_STREAM = "application/octet-stream"
#: Docker Hub's API lives on another host than the name users write.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}
#: What a manifest ``GET`` accepts: images and indexes, OCI and Docker.
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
#: Larger than any manifest a registry takes.
_MAX_MANIFEST = 4 << 20


@dataclass(frozen=True)
class Manifest:
    """A manifest as the registry holds it: its exact bytes, media type and digest."""

    data: bytes
    media_type: str
    digest: str


class RegistryClient:
    """One repository on one registry. Call :meth:`ping` first; use as a context manager."""

    def __init__(
        self,
        *,
        registry: str,
        repository: str,
        credentials: Credentials | None,
        log: Log,
        insecure: bool = False,
        mount_from: str | None = None,
        retry: RetryPolicy | None = None,
        ca_bundle: str | None = None,
        proxy_env: Mapping[str, str] | None = None,
        chunk_size: int = 16 << 20,
        timeout: float = 300.0,
        pull_only: bool = False,
        extra_ca: Sequence[str] = (),
    ) -> None:
        self.registry = registry
        self.repository = repository
        self._host = _API_HOSTS.get(registry, registry)
        self._insecure = insecure
        self._log = log
        self._chunk_size = chunk_size
        self._base = f"https://{self._host}"
        self._connection = Connection(
            verify=False if insecure else (ca_bundle or True),
            timeout=timeout,
            proxy_env=proxy_env or {},
            extra_ca=() if insecure else extra_ca,
        )
        self._transport = Transport(
            connection=self._connection,
            auth=Authenticator(
                connection=self._connection,
                registry=registry,
                repository=repository,
                credentials=credentials,
                insecure=insecure,
                mount_from=mount_from,
                actions="pull" if pull_only else "pull,push",
            ),
            registry=registry,
            host=self._host,
            insecure=insecure,
            retry=retry or RetryPolicy(),
            log=log,
        )

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def ping(self) -> None:
        """``GET /v2/``: find the scheme, authenticate, and fail early if the registry is not
        there or refuses the credentials."""
        what = f"connecting to {self.registry}"
        if self._insecure:
            # Docker's rule for insecure registries: HTTPS (unverified) first, then plain HTTP.
            try:
                self._transport.send(
                    Request("GET", f"https://{self._host}/v2/", what=what, expected={200})
                )
                return
            except Transient:
                self._base = f"http://{self._host}"
        self._transport.send_retrying(
            Request("GET", f"{self._base}/v2/", what=what, expected={200})
        )

    def blob_exists(self, digest: str) -> bool:
        """Whether the repository already has the blob (``HEAD``)."""
        response = self._transport.send_retrying(
            Request(
                "HEAD",
                self._url(f"blobs/{digest}"),
                what=f"checking blob {_short(digest)}",
                expected={200, 404},
            )
        )
        return response.status_code == 200

    def mount_blob(self, digest: str, source: str) -> str | None:
        """Mount ``digest`` from repository ``source``; ``None`` when mounted, else the upload
        session the registry opened instead (202)."""
        query = urlencode({"mount": digest, "from": source})
        response = self._transport.send_retrying(
            Request(
                "POST",
                self._url("blobs/uploads/") + "?" + query,
                what=f"mounting blob {_short(digest)} from {source}",
                expected={201, 202},
                headers={"Content-Length": "0"},
            )
        )
        if response.status_code == 201:
            return None
        return _location(response)

    def upload_blob(
        self,
        digest: str,
        size: int,
        open_blob: Callable[[], IO[bytes]],
        *,
        session: str | None = None,
    ) -> None:
        """Upload a blob in one streamed ``PUT`` (POST then PUT); when the registry refuses a
        body that large, upload it in chunks instead. ``open_blob`` opens the blob afresh for
        every try; its size and digest are checked as it streams."""
        what = f"uploading blob {_short(digest)} ({size} bytes)"
        refused: list[int] = []

        def attempt() -> None:
            nonlocal session
            url = session or self._start_upload(what)[0]
            session = None  # an upload session serves one try only
            try:
                response = self._transport.send(
                    Request(
                        "PUT",
                        _with_digest(url, digest),
                        what=what,
                        expected={201} | _MONOLITHIC_REFUSED,
                        headers={"Content-Type": _OCTET_STREAM},
                        body=lambda: _BlobBody(open_blob(), size, digest),
                    )
                )
            except RegistryError:
                self._cancel(url)
                raise
            if response.status_code in _MONOLITHIC_REFUSED:
                self._cancel(url)
                refused.append(response.status_code)
                return
            _check_digest(response, digest, what)

        self._transport.retrying(what, attempt)
        if refused:
            self._log.detail(f"{what}: a single PUT was refused ({refused[0]}), sending chunks")
            self.upload_blob_chunked(digest, size, open_blob)

    def upload_blob_chunked(
        self, digest: str, size: int, open_blob: Callable[[], IO[bytes]]
    ) -> None:
        """Upload a blob as ``PATCH`` chunks (at least ``OCI-Chunk-Min-Length`` each) and a
        closing ``PUT``. A chunk that cannot be resent as is restarts the upload."""
        what = f"uploading blob {_short(digest)} ({size} bytes) in chunks"

        def attempt() -> None:
            url, min_length = self._start_upload(what)
            chunk = max(self._chunk_size, min_length)
            body = _BlobBody(open_blob(), size, digest)
            offset = 0
            try:
                while offset < size:
                    length = min(chunk, size - offset)
                    response = self._transport.send(
                        Request(
                            "PATCH",
                            url,
                            what=what,
                            expected={202, 416},
                            headers={
                                "Content-Type": _OCTET_STREAM,
                                "Content-Range": f"{offset}-{offset + length - 1}",
                            },
                            body=_once(functools.partial(_Slice, body, length)),
                        )
                    )
                    if response.status_code == 416:
                        # Out of order: the session lost track; a new session is simplest.
                        raise Transient("the registry lost track of the chunks (416)")
                    url = _location(response)
                    offset += length
                body.finish()
                response = self._transport.send(
                    Request("PUT", _with_digest(url, digest), what=what, expected={201}, body=b"")
                )
            except RegistryError:
                self._cancel(url)
                raise
            _check_digest(response, digest, what)

        self._transport.retrying(what, attempt)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """``PUT`` the manifest bytes as they are under ``reference`` (a tag or a digest);
        return the digest the registry confirmed."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self._put_manifest(reference, digest, data, media_type, f" as {reference}")
        return digest

    def _put_manifest(
        self, reference: str, digest: str, data: bytes, media_type: str, suffix: str = ""
    ) -> requests.Response:
        what = f"pushing manifest {_short(digest)}{suffix}"
        response = self._transport.send_retrying(
            Request(
                "PUT",
                self._url(f"manifests/{reference}"),
                what=what,
                expected={201},
                headers={"Content-Type": media_type},
                body=data,
            )
        )
        _check_digest(response, digest, what)
        return response

    def get_manifest(
        self, reference: str, accept: Collection[str] = MANIFEST_TYPES
    ) -> Manifest | None:
        """``GET`` the manifest under ``reference`` (a tag or a digest); ``None`` if there is
        none. A manifest fetched by digest is checked against it."""
        what = f"fetching manifest {reference}"
        response = self._transport.send_retrying(
            Request(
                "GET",
                self._url(f"manifests/{reference}"),
                what=what,
                expected={200, 404},
                headers={"Accept": ", ".join(accept)},
            )
        )
        if response.status_code == 404:
            return None
        data = response.content
        if len(data) > _MAX_MANIFEST:
            raise RegistryError(f"{what}: larger than {_MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise RegistryError(f"{what}: the registry sent content with digest {digest}")
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return Manifest(data=data, media_type=media_type, digest=digest)

    def put_blob(self, data: bytes) -> str:
        """Upload a small blob held in memory unless the repository has it; its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.blob_exists(digest):
            self.upload_blob(digest, len(data), lambda: io.BytesIO(data))
        return digest

    def put_referrer(self, data: bytes, media_type: str) -> tuple[str, bool]:
        """``PUT`` a manifest with a ``subject`` by digest: its digest, and whether the
        registry indexed the subject itself (``OCI-Subject``; OCI distribution 1.1). When it
        did not, the caller maintains the referrers tag."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        response = self._put_manifest(digest, digest, data, media_type)
        return digest, "OCI-Subject" in response.headers

    def get_blob(self, digest: str, size: int, out: IO[bytes]) -> None:
        """``GET`` a blob into ``out`` (a file opened for writing), streamed and checked as it
        comes: another size or another digest than the descriptor's is a
        :class:`RegistryError`. A connection lost midway starts the download again."""
        what = f"downloading blob {_short(digest)} ({size} bytes)"

        def attempt() -> None:
            out.seek(0)
            out.truncate()
            url = self._url(f"blobs/{digest}")
            response = self._transport.send(
                Request("GET", url, what=what, expected={200}, stream=True)
            )
            hashing = hashlib.sha256()
            received = 0
            try:
                for block in response.iter_content(1 << 20):
                    received += len(block)
                    if received > size:
                        raise RegistryError(f"{what}: the registry sent more than {size} bytes")
                    hashing.update(block)
                    out.write(block)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Transient(reason(exc)) from exc
            except requests.RequestException as exc:  # a truncated chunked body, say
                raise Transient(type(exc).__name__) from exc
            finally:
                response.close()
            if received != size:
                raise RegistryError(f"{what}: the registry sent {received} bytes")
            actual = "sha256:" + hashing.hexdigest()
            if actual != digest:
                raise RegistryError(f"{what}: the registry sent content with digest {actual}")

        self._transport.retrying(what, attempt)

    def _url(self, path: str) -> str:
        return f"{self._base}/v2/{self.repository}/{path}"

    def _start_upload(self, what: str) -> tuple[str, int]:
        """Open an upload session: its URL and the smallest chunk it takes."""
        response = self._transport.send(
            Request(
                "POST",
                self._url("blobs/uploads/"),
                what=what,
                expected={202},
                headers={"Content-Length": "0"},
            )
        )
        min_length = response.headers.get("OCI-Chunk-Min-Length", "")
        return _location(response), int(min_length) if min_length.isdigit() else 0

    def _cancel(self, url: str) -> None:
        """Release an upload session; failures do not matter (the registry expires it)."""
        self._transport.discard(url)


# --- streaming bodies ------------------------------------------------------------------------


class _BlobBody:
    """An upload body read from the tarball in blocks, never whole, checking the blob's size
    and digest as it goes: a corrupt tarball fails before its last byte leaves."""

    def __init__(self, stream: IO[bytes], size: int, digest: str) -> None:
        self._stream = stream
        self._size = size
        self._digest = digest
        self._hash = hashlib.sha256()
        self._read = 0

    def __len__(self) -> int:
        # requests takes Content-Length from here (and so sends no chunked encoding).
        return self._size - self._read

    def read(self, size: int = -1) -> bytes:
        remaining = self._size - self._read
        want = remaining if size < 0 else min(size, remaining)
        if want == 0:
            return b""
        try:
            data = self._stream.read(want)
        except (tarfile.TarError, EOFError, OSError) as exc:  # a truncated or unreadable member
            # Not an OSError: urllib3 would take that for a network failure and retry.
            raise InvalidImageError(f"cannot read blob {_short(self._digest)}: {exc}") from exc
        if not data:
            raise InvalidImageError(
                f"blob {_short(self._digest)} in the tarball is shorter than its {self._size} bytes"
            )
        self._hash.update(data)
        self._read += len(data)
        if self._read == self._size:
            self.finish()
        return data

    def finish(self) -> None:
        """Check the digest once every byte was read."""
        actual = "sha256:" + self._hash.hexdigest()
        if self._read == self._size and actual != self._digest:
            raise InvalidImageError(
                f"blob {_short(self._digest)} in the tarball is corrupt: its content has "
                f"digest {actual}"
            )


class _Slice:
    """``length`` bytes of a :class:`_BlobBody`: one chunk of a chunked upload."""

    def __init__(self, body: _BlobBody, length: int) -> None:
        self._body = body
        self._left = length

    def __len__(self) -> int:
        return self._left

    def read(self, size: int = -1) -> bytes:
        want = self._left if size < 0 else min(size, self._left)
        data = self._body.read(want)
        self._left -= len(data)
        return data


def _once(make: Callable[[], T]) -> Callable[[], T]:
    """A body factory that works once: a chunk already streamed cannot be sent again."""
    used = False

    def factory() -> T:
        nonlocal used
        if used:
            raise Transient("a chunk had to be sent again; restarting the upload")
        used = True
        return make()

    return factory


# --- small helpers ---------------------------------------------------------------------------


def _location(response: requests.Response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise RegistryError(
            f"{response.request.method} {response.url}: the registry answered "
            f"{response.status_code} without a Location"
        )
    # Relative Locations are common; resolve against the URL that answered, keeping the query.
    return urljoin(response.url, location)


def _with_digest(url: str, digest: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), ("digest", digest)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _check_digest(response: requests.Response, digest: str, what: str) -> None:
    # Absent is fine: a PUT by digest is checked by the registry itself.
    reported = response.headers.get("Docker-Content-Digest")
    if reported and reported != digest:
        raise RegistryError(f"{what}: the registry stored {reported}, expected {digest}")


def _short(digest: str) -> str:
    return digest[:19]
