"""A small client for the registry HTTP API (OCI distribution spec): exactly what a push needs.

:class:`RegistryClient` talks to one repository: ``GET /v2/`` (which also settles the scheme and
the authentication), blob ``HEAD``, cross-repository mount, streamed monolithic upload with a
chunked fallback, and manifest ``PUT`` with the caller's exact bytes. It handles Basic and Bearer
authentication (a token is fetched again on a 401 mid-push), follows redirects without ever
sending ``Authorization`` to another host, and retries transient failures (connection errors,
5xx, 429 with ``Retry-After``) with a bounded backoff. See the README for why pybin2img has its
own client rather than a library.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import functools
import hashlib
import ipaddress
import re
import time
import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import IO, TypeVar
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
import urllib3

from ... import __version__
from ...errors import InvalidImageError, RegistryError
from ...log import Log
from ..credentials import Credentials

T = TypeVar("T")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
#: Answers to a monolithic PUT that mean "not like this" rather than "not at all": a body too
#: large for a proxy in front of the registry, or a registry that only takes chunks.
_MONOLITHIC_REFUSED = frozenset({405, 411, 413, 501})
_MAX_REDIRECTS = 5
_OCTET_STREAM = "application/octet-stream"
#: Docker Hub's API lives on another host than the name users write.
_API_HOSTS = {"docker.io": "registry-1.docker.io"}


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How transient failures are retried: ``attempts`` tries per request, the delay doubling
    from ``delay`` up to ``max_delay`` seconds. A ``Retry-After`` longer than ``max_delay``
    ends the push instead of stalling a CI job."""

    attempts: int = 5
    delay: float = 1.0
    max_delay: float = 30.0
    #: Called to wait; tests pass a fake to keep retries instant.
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait_before(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before try ``attempt + 1``."""
        backoff = min(self.delay * 2.0 ** (attempt - 1), self.max_delay)
        return max(backoff, retry_after or 0.0)


class _Transient(Exception):
    """A failure worth retrying; ``reason`` ends up in the error if retries run out."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def is_plain_http_allowed(registry: str, insecure_registries: Collection[str]) -> bool:
    """Plain HTTP (and unverified TLS) only for loopback hosts and ``--insecure-registry``.

    ``registry`` is ``host[:port]``; an insecure entry may name the host with or without port.
    """
    host = urlsplit(f"//{registry}").hostname or registry
    return registry in insecure_registries or host in insecure_registries or _is_loopback(host)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    ) -> None:
        self.registry = registry
        self.repository = repository
        self._host = _API_HOSTS.get(registry, registry)
        self._credentials = credentials
        self._log = log
        self._insecure = insecure
        self._mount_from = mount_from
        self._retry = retry or RetryPolicy()
        self._verify: bool | str = False if insecure else (ca_bundle or True)
        self._proxy_env = dict(proxy_env or {})
        self._chunk_size = chunk_size
        self._timeout = (30.0, timeout)
        self._base = f"https://{self._host}"
        self._authorization: str | None = None
        self._session = requests.Session()
        # No .netrc, no environment proxies or CA bundles behind our back: the caller decides.
        self._session.trust_env = False
        self._session.headers["User-Agent"] = f"pybin2img/{__version__}"

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # --- operations ---------------------------------------------------------------------------

    def ping(self) -> None:
        """``GET /v2/``: find the scheme, authenticate, and fail early if the registry is not
        there or refuses the credentials."""
        what = f"connecting to {self.registry}"
        if self._insecure:
            # Docker's rule for insecure registries: HTTPS (unverified) first, then plain HTTP.
            try:
                self._send("GET", f"https://{self._host}/v2/", what=what, expected={200})
                return
            except _Transient:
                self._base = f"http://{self._host}"
        self._request("GET", f"{self._base}/v2/", what=what, expected={200})

    def blob_exists(self, digest: str) -> bool:
        """Whether the repository already has the blob (``HEAD``)."""
        response = self._request(
            "HEAD",
            self._url(f"blobs/{digest}"),
            what=f"checking blob {_short(digest)}",
            expected={200, 404},
        )
        return response.status_code == 200

    def mount_blob(self, digest: str, source: str) -> str | None:
        """Mount ``digest`` from repository ``source``; ``None`` when mounted, else the upload
        session the registry opened instead (202)."""
        query = urlencode({"mount": digest, "from": source})
        response = self._request(
            "POST",
            self._url("blobs/uploads/") + "?" + query,
            what=f"mounting blob {_short(digest)} from {source}",
            expected={201, 202},
            headers={"Content-Length": "0"},
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
                response = self._send(
                    "PUT",
                    _with_digest(url, digest),
                    what=what,
                    expected={201} | _MONOLITHIC_REFUSED,
                    headers={"Content-Type": _OCTET_STREAM},
                    body=lambda: _BlobBody(open_blob(), size, digest),
                )
            except RegistryError:
                self._cancel(url)
                raise
            if response.status_code in _MONOLITHIC_REFUSED:
                self._cancel(url)
                refused.append(response.status_code)
                return
            _check_digest(response, digest, what)

        self._retrying(what, attempt)
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
                    response = self._send(
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
                    if response.status_code == 416:
                        # Out of order: the session lost track; a new session is simplest.
                        raise _Transient("the registry lost track of the chunks (416)")
                    url = _location(response)
                    offset += length
                body.finish()
                response = self._send(
                    "PUT", _with_digest(url, digest), what=what, expected={201}, body=b""
                )
            except RegistryError:
                self._cancel(url)
                raise
            _check_digest(response, digest, what)

        self._retrying(what, attempt)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        """``PUT`` the manifest bytes as they are under ``reference`` (a tag or a digest);
        return the digest the registry confirmed."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        what = f"pushing manifest {_short(digest)} as {reference}"
        response = self._request(
            "PUT",
            self._url(f"manifests/{reference}"),
            what=what,
            expected={201},
            headers={"Content-Type": media_type},
            body=data,
        )
        _check_digest(response, digest, what)
        return digest

    # --- upload sessions ----------------------------------------------------------------------

    def _start_upload(self, what: str) -> tuple[str, int]:
        """Open an upload session: its URL and the smallest chunk it takes."""
        response = self._send(
            "POST",
            self._url("blobs/uploads/"),
            what=what,
            expected={202},
            headers={"Content-Length": "0"},
        )
        min_length = response.headers.get("OCI-Chunk-Min-Length", "")
        return _location(response), int(min_length) if min_length.isdigit() else 0

    def _cancel(self, url: str) -> None:
        """Release an upload session; failures do not matter (the registry expires it)."""
        with contextlib.suppress(requests.RequestException):
            self._session.delete(
                url,
                headers=self._auth_headers(url),
                timeout=(5.0, 10.0),
                verify=self._verify,
                proxies=self._proxies(url),
                allow_redirects=False,
            )

    # --- requests, retries, redirects, authentication ------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._base}/v2/{self.repository}/{path}"

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        expected: Collection[int],
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> requests.Response:
        """A request whose body can be sent again, retried on transient failures."""
        return self._retrying(
            what,
            lambda: self._send(
                method, url, what=what, expected=expected, headers=headers, body=body
            ),
        )

    def _retrying(self, what: str, action: Callable[[], T]) -> T:
        attempt = 1
        while True:
            try:
                return action()
            except _Transient as exc:
                if attempt >= self._retry.attempts:
                    raise RegistryError(
                        f"{what}: {exc.reason} (gave up after {attempt} attempts)"
                    ) from exc
                if exc.retry_after is not None and exc.retry_after > self._retry.max_delay:
                    raise RegistryError(
                        f"{what}: {exc.reason}; the registry asks to wait "
                        f"{exc.retry_after:.0f}s, longer than {self._retry.max_delay:.0f}s"
                    ) from exc
                delay = self._retry.wait_before(attempt, exc.retry_after)
                self._log.detail(f"{what}: {exc.reason}; trying again in {delay:.1f}s")
                self._retry.sleep(delay)
                attempt += 1

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        expected: Collection[int],
        headers: Mapping[str, str] | None = None,
        body: bytes | Callable[[], _BlobBody | _Slice] | None = None,
    ) -> requests.Response:
        """One logical request: follows redirects, authenticates once on a 401, and raises
        :class:`_Transient` for what a retry may fix, :class:`RegistryError` for the rest."""
        authenticated = False
        for _ in range(_MAX_REDIRECTS + 1):
            request_headers = {**(headers or {}), **self._auth_headers(url)}
            data = body() if callable(body) else body
            try:
                with warnings.catch_warnings():
                    # Unverified TLS is what --insecure-registry asked for; no warning per call.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = self._session.request(
                        method,
                        url,
                        headers=request_headers,
                        data=data,
                        allow_redirects=False,
                        timeout=self._timeout,
                        verify=self._verify,
                        proxies=self._proxies(url),
                    )
            except requests.exceptions.SSLError as exc:
                if self._insecure:
                    raise _Transient(f"TLS to {_netloc(url)} failed: {_reason(exc)}") from exc
                raise RegistryError(
                    f"{what}: TLS to {_netloc(url)} failed ({_reason(exc)}); if this registry "
                    f"is trusted, pass --insecure-registry {self.registry}"
                ) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _Transient(f"{_netloc(url)}: {_reason(exc)}") from exc
            status = response.status_code
            if status in _REDIRECTS and "Location" in response.headers:
                url = urljoin(url, response.headers["Location"])
                if status in (301, 302, 303) and method not in ("GET", "HEAD"):
                    method, body = "GET", None
                continue
            if (
                status == 401
                and not authenticated
                and self._on_registry(url)
                and response.headers.get("WWW-Authenticate")
            ):
                self._authenticate(response.headers["WWW-Authenticate"], what)
                authenticated = True
                continue
            if status in expected:
                return response
            if status in _TRANSIENT:
                raise _Transient(
                    f"{status} {response.reason}{_error_text(response, ' (', ')')}",
                    retry_after=_retry_after(response),
                )
            raise RegistryError(self._failure(what, response))
        raise RegistryError(f"{what}: more than {_MAX_REDIRECTS} redirects")

    def _on_registry(self, url: str) -> bool:
        return _netloc(url) == self._host.lower()

    def _auth_headers(self, url: str) -> dict[str, str]:
        # Never to another host: redirects to storage carry their own (presigned) credentials.
        if self._authorization and self._on_registry(url):
            return {"Authorization": self._authorization}
        return {}

    def _proxies(self, url: str) -> dict[str, str]:
        env = self._proxy_env
        parts = urlsplit(url)
        host = parts.hostname or ""
        if _is_loopback(host):
            return {}  # like Go's ProxyFromEnvironment: loopback is never proxied
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        if _bypasses_proxy(host, parts.port, no_proxy):
            return {}
        scheme = parts.scheme
        proxy = (
            env.get(f"{scheme}_proxy")
            or env.get(f"{scheme.upper()}_PROXY")
            or env.get("all_proxy")
            or env.get("ALL_PROXY")
        )
        return {scheme: proxy} if proxy else {}

    def _authenticate(self, header: str, what: str) -> None:
        challenges = parse_challenges(header)
        if "bearer" in challenges:
            self._authorization = "Bearer " + self._fetch_token(challenges["bearer"], what)
        elif "basic" in challenges:
            credentials = self._credentials
            if credentials is None or not credentials.password:
                raise RegistryError(self._needs_credentials())
            if self._authorization and self._authorization.startswith("Basic "):
                raise RegistryError(self._refused_credentials())
            pair = f"{credentials.username}:{credentials.password}".encode()
            self._authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            raise RegistryError(f"{what}: unsupported authentication {header!r}")

    def _fetch_token(self, challenge: Mapping[str, str], what: str) -> str:
        realm = challenge.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RegistryError(f"{what}: the registry names no usable token server ({realm!r})")
        if parts.scheme == "http" and not self._insecure:
            raise RegistryError(
                f"{what}: the token server {realm} is plain HTTP; pass --insecure-registry "
                f"{self.registry} if that is expected"
            )
        scopes = [f"repository:{self.repository}:pull,push"]
        if self._mount_from:
            scopes.append(f"repository:{self._mount_from}:pull")
        if challenge.get("scope") and challenge["scope"] not in scopes:
            scopes.append(challenge["scope"])
        service = challenge.get("service", "")
        credentials = self._credentials
        try:
            if credentials and credentials.identity_token:
                response = self._session.post(
                    realm,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": credentials.identity_token,
                        "service": service,
                        "scope": " ".join(scopes),
                        "client_id": "pybin2img",
                    },
                    timeout=self._timeout,
                    verify=self._verify,
                    proxies=self._proxies(realm),
                )
                if response.status_code in (404, 405):  # no OAuth endpoint: the plain GET
                    response = self._token_get(realm, service, scopes, credentials.identity_token)
            else:
                password = credentials.password if credentials else ""
                response = self._token_get(realm, service, scopes, password)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Transient(f"token server {_netloc(realm)}: {_reason(exc)}") from exc
        if response.status_code in (401, 403):
            if credentials is None:
                raise RegistryError(self._needs_credentials())
            raise RegistryError(self._refused_credentials())
        if response.status_code in _TRANSIENT:
            raise _Transient(
                f"token server: {response.status_code} {response.reason}",
                retry_after=_retry_after(response),
            )
        if response.status_code != 200:
            raise RegistryError(
                f"{what}: the token server {realm} answered {response.status_code} "
                f"{response.reason}{_error_text(response, ' (', ')')}"
            )
        try:
            document = response.json()
            token = document.get("token") or document.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"{what}: the token server {realm} sent no token")
        return token

    def _token_get(
        self, realm: str, service: str, scopes: list[str], secret: str
    ) -> requests.Response:
        credentials = self._credentials
        auth = (credentials.username or "<token>", secret) if credentials and secret else None
        # requests drops this Authorization if the token server redirects to another host.
        return self._session.get(
            realm,
            params={"service": service, "scope": scopes} if service else {"scope": scopes},
            auth=auth,
            timeout=self._timeout,
            verify=self._verify,
            proxies=self._proxies(realm),
        )

    def _needs_credentials(self) -> str:
        return (
            f"{self.registry} requires authentication to push to {self.repository} and no "
            f"credentials were found for it; run 'docker login {self.registry}' or pass "
            "--username and --password-stdin"
        )

    def _refused_credentials(self) -> str:
        source = self._credentials.source if self._credentials else "nowhere"
        return (
            f"authentication to {self.registry} failed: it refused the credentials from "
            f"{source} (401 Unauthorized); check the user name and password"
        )

    def _failure(self, what: str, response: requests.Response) -> str:
        status = response.status_code
        if status == 401:
            if self._credentials is None:
                return self._needs_credentials()
            if self._authorization and self._authorization.startswith("Bearer "):
                return (
                    f"{what}: {self.registry} does not let the token it issued push to "
                    f"{self.repository} (401 Unauthorized{_error_text(response, ': ')}); "
                    f"check that the account ({self._credentials.source}) has push access"
                )
            return self._refused_credentials()
        if status == 403:
            return (
                f"{what}: access to {self.registry}/{self.repository} denied (403 Forbidden"
                f"{_error_text(response, ': ')}); the account may lack push permission"
            )
        if status == 404 and response.request.url and response.request.url.endswith("/v2/"):
            return f"{what}: {self.registry} does not serve the registry API (GET /v2/ was 404)"
        return f"{what}: {status} {response.reason}{_error_text(response, ' (', ')')}"


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
        except Exception as exc:  # tarfile raises ReadError/EOFError/OSError for a bad member
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
            raise _Transient("a chunk had to be sent again; restarting the upload")
        used = True
        return make()

    return factory


# --- small helpers ---------------------------------------------------------------------------

_PARAM = re.compile(r'\s*,?\s*([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)')
_SCHEME = re.compile(r"\s*,?\s*([A-Za-z][\w-]*)(?=\s|,|$)")


def parse_challenges(header: str) -> dict[str, dict[str, str]]:
    """``WWW-Authenticate`` -> ``{scheme (lower case): {param: value}}``.

    ``Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"``
    """
    challenges: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    pos = 0
    while pos < len(header):
        param = _PARAM.match(header, pos)
        if param and current is not None:
            value = param.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            current[param.group(1).lower()] = value
            pos = param.end()
            continue
        scheme = _SCHEME.match(header, pos)
        if not scheme:
            break
        current = challenges.setdefault(scheme.group(1).lower(), {})
        pos = scheme.end()
    return challenges


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After``: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _retry_after(response: requests.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


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


def _error_text(response: requests.Response, prefix: str = " ", suffix: str = "") -> str:
    """The registry's error codes and messages, compact for a one-line error; ``""`` if none."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError, TypeError):
        text = ""
    return f"{prefix}{text}{suffix}" if text else ""


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _reason(exc: BaseException) -> str:
    """A short reason out of requests' long nested connection errors."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip().rstrip(".").lower()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "the connection was closed by the registry"
    if "timed out" in text.lower():
        return "timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return text.rsplit(":", 1)[-1].strip(" ')\"") or "TLS failure"
    return type(exc).__name__


def _bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (``*``, ``host``, ``.domain``, ``host:port``) covers the host."""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.partition(":")
        if entry_port and entry_port != str(port):
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def _netloc(url: str) -> str:
    return urlsplit(url).netloc.lower()


def _short(digest: str) -> str:
    return digest[:19]
