"""The HTTP side of the registry client: TLS, proxies, redirects, retries.

:class:`Connection` is one ``requests`` session with the TLS, timeout and proxy settings the
caller chose, and nothing from the environment behind its back; it trusts a registry's own CA
(:func:`registry_ca_files`) besides the usual bundle. :class:`Transport` sends one
:class:`Request` to the registry over it: it follows redirects without ever sending
``Authorization`` to another host, answers a 401 once (through :mod:`.auth`), and sorts what goes
wrong into :class:`Transient` (connection errors, 5xx, 429 with ``Retry-After``), which
:meth:`Transport.retrying` tries again with a bounded backoff, and :class:`RegistryError`.
"""

from __future__ import annotations

import contextlib
import email.utils
import ipaddress
import os
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from .._version import __version__
from ..errors import RegistryError
from ..log import Log

T = TypeVar("T")

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: Statuses a later try may not get.
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})
_MAX_REDIRECTS = 5


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


class Transient(Exception):
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


class Stream(Protocol):
    """An upload body that ``requests`` streams: read until empty, ``Content-Length`` from
    ``len`` (so no chunked transfer encoding)."""

    def read(self, size: int = -1) -> bytes: ...

    def __len__(self) -> int: ...


#: A request body: bytes, or a factory that opens the stream afresh for every send.
Body: TypeAlias = bytes | Callable[[], Stream] | None


@dataclass(frozen=True)
class Request:
    """One request to the registry, as an operation describes it."""

    method: str
    url: str
    _: KW_ONLY
    #: What the request is for, in messages: ``"checking blob sha256:0123456789ab"``.
    what: str
    #: The statuses that answer it; others are redirects, a 401 to authenticate, or failures.
    expected: Collection[int]
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Body = None
    #: Leave the response body unread, for the caller to stream (a blob download).
    stream: bool = False


#: Where Docker and podman look for a registry's own CA: ``<dir>/<host[:port]>/*.crt``.
CERTS_DIRS = (Path("/etc/docker/certs.d"), Path("/etc/containers/certs.d"))


def registry_ca_files(
    registry: str, extra: Sequence[Path] = (), *, certs_dirs: Sequence[Path] = CERTS_DIRS
) -> tuple[Path, ...]:
    """The CA certificates to trust for ``registry`` (``host[:port]``) besides the usual
    bundle: ``--registry-ca`` files, then every ``*.crt`` in ``certs.d/<host[:port]>/`` of
    Docker (``ca.crt``) and of podman/containers, as those engines read them."""
    found = list(extra)
    for root in certs_dirs:
        directory = root / registry
        if directory.is_dir():
            found.extend(sorted(p for p in directory.glob("*.crt") if p.is_file()))
    return tuple(dict.fromkeys(found))


class Connection:
    """One ``requests`` session with the TLS, timeout and proxy settings the caller chose: no
    ``.netrc``, no environment proxies or CA bundles behind the caller's back. ``extra_ca``
    files are trusted on top of the bundle ``verify`` names (certifi's when ``True``)."""

    def __init__(
        self,
        *,
        verify: bool | str,
        timeout: float,
        proxy_env: Mapping[str, str],
        extra_ca: Sequence[str] = (),
    ) -> None:
        self._bundle: str | None = None
        if extra_ca and verify is not False:
            self._bundle = _combined_bundle(None if verify is True else str(verify), extra_ca)
            verify = self._bundle
        self._verify = verify
        # Connecting never waits longer than reading may.
        self._timeout = (min(30.0, timeout), timeout)
        self._proxy_env = dict(proxy_env)
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.headers["User-Agent"] = f"pybin2img/{__version__}"

    def close(self) -> None:
        self._session.close()
        if self._bundle:
            with contextlib.suppress(OSError):
                os.unlink(self._bundle)
            self._bundle = None

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: tuple[float, float] | None = None,
        **options: Any,
    ) -> requests.Response:
        """One HTTP exchange with these settings; ``options`` are ``requests``' own."""
        return self._session.request(
            method,
            url,
            timeout=timeout or self._timeout,
            verify=self._verify,
            proxies=self._proxies(url),
            **options,
        )

    def _proxies(self, url: str) -> dict[str, str]:
        env = self._proxy_env
        parts = urlsplit(url)
        host = parts.hostname or ""
        if _is_loopback(host):
            return {}  # like Go's ProxyFromEnvironment: loopback is never proxied
        no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
        if bypasses_proxy(host, parts.port, no_proxy):
            return {}
        scheme = parts.scheme
        proxy = (
            env.get(f"{scheme}_proxy")
            or env.get(f"{scheme.upper()}_PROXY")
            or env.get("all_proxy")
            or env.get("ALL_PROXY")
        )
        return {scheme: proxy} if proxy else {}


class Authentication(Protocol):
    """What a :class:`Transport` needs of authentication (:class:`.auth.Authenticator`)."""

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header for the registry, once a 401 asked for one."""

    def authenticate(self, challenge: str, what: str) -> None:
        """Answer a 401's ``WWW-Authenticate`` challenge."""

    def refusal(self, what: str, response: requests.Response) -> str:
        """The message for a 401 or 403 that authenticating did not cure."""


class Transport:
    """Requests to one registry host: redirects, authentication, and retries."""

    def __init__(
        self,
        *,
        connection: Connection,
        auth: Authentication,
        registry: str,
        host: str,
        insecure: bool,
        retry: RetryPolicy,
        log: Log,
    ) -> None:
        self._connection = connection
        self._auth = auth
        self._registry = registry
        self._host = host
        self._insecure = insecure
        self._retry = retry
        self._log = log

    def send_retrying(self, request: Request) -> requests.Response:
        """:meth:`send`, tried again on transient failures; the body must be sendable again."""
        return self.retrying(request.what, lambda: self.send(request))

    def retrying(self, what: str, action: Callable[[], T]) -> T:
        """Run ``action`` until it no longer raises :class:`Transient`, within the policy."""
        attempt = 1
        while True:
            try:
                return action()
            except Transient as exc:
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

    def send(self, request: Request) -> requests.Response:
        """One logical request: follows redirects, authenticates once on a 401, and raises
        :class:`Transient` for what a retry may fix, :class:`RegistryError` for the rest."""
        method, url, body, what = request.method, request.url, request.body, request.what
        authenticated = False
        for _ in range(_MAX_REDIRECTS + 1):
            headers = {**request.headers, **self._auth_headers(url)}
            data = body() if callable(body) else body
            try:
                with warnings.catch_warnings():
                    # Unverified TLS is what --insecure-registry asked for; no warning per call.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = self._connection.request(
                        method,
                        url,
                        headers=headers,
                        data=data,
                        allow_redirects=False,
                        stream=request.stream,
                    )
            except requests.exceptions.SSLError as exc:
                if self._insecure:
                    raise Transient(f"TLS to {netloc(url)} failed: {reason(exc)}") from exc
                raise RegistryError(
                    f"{what}: TLS to {netloc(url)} failed ({reason(exc)}); give the "
                    f"registry's CA with --registry-ca FILE (or put it in "
                    f"/etc/docker/certs.d/{self._registry}/ca.crt), or if this registry is "
                    f"trusted, pass --insecure-registry {self._registry}"
                ) from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise Transient(f"{netloc(url)}: {reason(exc)}") from exc
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
                self._auth.authenticate(response.headers["WWW-Authenticate"], what)
                authenticated = True
                continue
            if status in request.expected:
                return response
            if status in TRANSIENT:
                raise Transient(
                    f"{status} {response.reason}{error_text(response, ' (', ')')}",
                    retry_after=retry_after(response),
                )
            raise RegistryError(self._failure(what, response))
        raise RegistryError(f"{what}: more than {_MAX_REDIRECTS} redirects")

    def discard(self, url: str) -> None:
        """``DELETE`` once, quickly, ignoring any failure: for what the registry also expires."""
        with contextlib.suppress(requests.RequestException):
            self._connection.request(
                "DELETE",
                url,
                headers=self._auth_headers(url),
                timeout=(5.0, 10.0),
                allow_redirects=False,
            )

    def _on_registry(self, url: str) -> bool:
        return netloc(url) == self._host.lower()

    def _auth_headers(self, url: str) -> dict[str, str]:
        # Never to another host: redirects to storage carry their own (presigned) credentials.
        authorization = self._auth.authorization
        if authorization and self._on_registry(url):
            return {"Authorization": authorization}
        return {}

    def _failure(self, what: str, response: requests.Response) -> str:
        status = response.status_code
        if status in (401, 403):
            return self._auth.refusal(what, response)
        if status == 404 and response.request.url and response.request.url.endswith("/v2/"):
            return f"{what}: {self._registry} does not serve the registry API (GET /v2/ was 404)"
        return f"{what}: {status} {response.reason}{error_text(response, ' (', ')')}"


def _combined_bundle(base: str | None, extra: Sequence[str]) -> str:
    """A temporary PEM file: the ``base`` bundle (certifi's if ``None``) and the ``extra``
    CAs, since ``requests`` takes one file. The caller removes it."""
    if base is None:
        import certifi

        base = certifi.where()
    parts = []
    for path in (base, *extra):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise RegistryError(f"cannot read CA certificate {path}: {exc.strerror}") from exc
        if path != base and b"-----BEGIN CERTIFICATE-----" not in data:
            raise RegistryError(f"{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        parts.append(data.rstrip(b"\n") + b"\n")
    fd, name = tempfile.mkstemp(prefix="pybin2img-ca-", suffix=".pem")
    with os.fdopen(fd, "wb") as f:
        f.write(b"".join(parts))
    return name


# --- small helpers ---------------------------------------------------------------------------


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


def retry_after(response: requests.Response) -> float | None:
    """The response's ``Retry-After`` in seconds, if it has one."""
    return parse_retry_after(response.headers.get("Retry-After"))


def error_text(response: requests.Response, prefix: str = " ", suffix: str = "") -> str:
    """The registry's error codes and messages, compact for a one-line error; ``""`` if none."""
    try:
        errors = response.json().get("errors") or []
        text = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except (ValueError, AttributeError, TypeError):
        text = ""
    return f"{prefix}{text}{suffix}" if text else ""


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")
_SSL_REASON = re.compile(r"\[SSL: [A-Z_]+\] ([^(']+?)\s*\(_ssl")


def reason(exc: BaseException) -> str:
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
        # "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: <why> (_ssl.c:1006)"
        found = _SSL_REASON.search(text)
        if found:
            return found.group(1).strip()
        return text.rsplit(":", 1)[-1].strip(" ')\"") or "TLS failure"
    return type(exc).__name__


def bypasses_proxy(host: str, port: int | None, no_proxy: str) -> bool:
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


def netloc(url: str) -> str:
    """``host[:port]`` of a URL, lower case."""
    return urlsplit(url).netloc.lower()
