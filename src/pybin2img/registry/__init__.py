"""A small client for the registry HTTP API (OCI distribution spec): exactly what a push needs.

:class:`RegistryClient` talks to one repository: ``GET /v2/`` (which also settles the scheme and
the authentication), blob ``HEAD``, cross-repository mount, streamed monolithic upload with a
chunked fallback, and manifest ``PUT`` with the caller's exact bytes. It handles Basic and Bearer
authentication (a token is fetched again on a 401 mid-push), follows redirects without ever
sending ``Authorization`` to another host, and retries transient failures (connection errors,
5xx, 429 with ``Retry-After``) with a bounded backoff. See the README for why pybin2img has its
own client rather than a library.

``client`` holds the operations, ``auth`` the authentication and its messages, ``transport``
the HTTP side (TLS, proxies, redirects, retries), ``credentials`` reads Docker's and podman's
stores, and ``access`` holds :class:`RegistryOptions` and opens a client with them. Used by the
ship stages and by compile's cache repository.
"""

from .access import RegistryOptions, check_registry, open_client
from .auth import parse_challenges
from .client import RegistryClient
from .credentials import Credentials, podman_auth_files
from .transport import RetryPolicy, is_plain_http_allowed, parse_retry_after

__all__ = [
    "Credentials",
    "RegistryClient",
    "RegistryOptions",
    "RetryPolicy",
    "check_registry",
    "is_plain_http_allowed",
    "open_client",
    "parse_challenges",
    "parse_retry_after",
    "podman_auth_files",
]
