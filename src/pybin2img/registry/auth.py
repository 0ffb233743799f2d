"""Authentication to the registry: Basic, or Bearer tokens from the registry's token server.

The registry says how in a 401's ``WWW-Authenticate``. :class:`Authenticator` answers it, once
per request, so a token that expires mid-push is simply fetched again, and words the failures a
user can act on: no credentials found, credentials refused, an account without push access.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from ..errors import RegistryError
from .credentials import Credentials
from .transport import TRANSIENT, Connection, Transient, error_text, netloc, reason, retry_after


class Authenticator:
    """The credentials for one repository, and the ``Authorization`` they earned."""

    def __init__(
        self,
        *,
        connection: Connection,
        registry: str,
        repository: str,
        credentials: Credentials | None,
        insecure: bool,
        mount_from: str | None,
        actions: str = "pull,push",
    ) -> None:
        self._connection = connection
        #: What the token is asked to allow on the repository: ``pull,push``, or ``pull``
        #: for a client that only reads.
        self._actions = actions
        self._registry = registry
        self._repository = repository
        self._credentials = credentials
        self._insecure = insecure
        self._mount_from = mount_from
        #: The ``Authorization`` header for the registry; ``None`` until a 401 asked for one.
        self.authorization: str | None = None

    def authenticate(self, challenge: str, what: str) -> None:
        """Answer a 401's ``WWW-Authenticate``: fetch a token, or send the Basic credentials
        (once: Basic credentials refused a second time are wrong)."""
        challenges = parse_challenges(challenge)
        if "bearer" in challenges:
            self.authorization = "Bearer " + self._fetch_token(challenges["bearer"], what)
        elif "basic" in challenges:
            credentials = self._credentials
            if credentials is None or not credentials.password:
                raise RegistryError(self._needs_credentials())
            if self.authorization and self.authorization.startswith("Basic "):
                raise RegistryError(self._refused_credentials())
            pair = f"{credentials.username}:{credentials.password}".encode()
            self.authorization = "Basic " + base64.b64encode(pair).decode()
        else:
            raise RegistryError(f"{what}: unsupported authentication {challenge!r}")

    def refusal(self, what: str, response: requests.Response) -> str:
        """The message for a 401 or 403 that authenticating did not cure."""
        if response.status_code == 403:
            return (
                f"{what}: access to {self._registry}/{self._repository} denied (403 Forbidden"
                f"{error_text(response, ': ')}); the account may lack push permission"
            )
        if self._credentials is None:
            return self._needs_credentials()
        if self.authorization and self.authorization.startswith("Bearer "):
            return (
                f"{what}: {self._registry} does not let the token it issued push to "
                f"{self._repository} (401 Unauthorized{error_text(response, ': ')}); "
                f"check that the account ({self._credentials.source}) has push access"
            )
        return self._refused_credentials()

    def _fetch_token(self, challenge: Mapping[str, str], what: str) -> str:
        realm = challenge.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise RegistryError(f"{what}: the registry names no usable token server ({realm!r})")
        if parts.scheme == "http" and not self._insecure:
            raise RegistryError(
                f"{what}: the token server {realm} is plain HTTP; pass --insecure-registry "
                f"{self._registry} if that is expected"
            )
        scopes = [f"repository:{self._repository}:{self._actions}"]
        if self._mount_from:
            scopes.append(f"repository:{self._mount_from}:pull")
        if challenge.get("scope") and challenge["scope"] not in scopes:
            scopes.append(challenge["scope"])
        service = challenge.get("service", "")
        credentials = self._credentials
        try:
            if credentials and credentials.identity_token:
                response = self._connection.request(
                    "POST",
                    realm,
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": credentials.identity_token,
                        "service": service,
                        "scope": " ".join(scopes),
                        "client_id": "pybin2img",
                    },
                )
                if response.status_code in (404, 405):  # no OAuth endpoint: the plain GET
                    response = self._token_get(realm, service, scopes, credentials.identity_token)
            else:
                password = credentials.password if credentials else ""
                response = self._token_get(realm, service, scopes, password)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"token server {netloc(realm)}: {reason(exc)}") from exc
        if response.status_code in (401, 403):
            if credentials is None:
                raise RegistryError(self._needs_credentials())
            raise RegistryError(self._refused_credentials())
        if response.status_code in TRANSIENT:
            raise Transient(
                f"token server: {response.status_code} {response.reason}",
                retry_after=retry_after(response),
            )
        if response.status_code != 200:
            raise RegistryError(
                f"{what}: the token server {realm} answered {response.status_code} "
                f"{response.reason}{error_text(response, ' (', ')')}"
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
        return self._connection.request(
            "GET",
            realm,
            params={"service": service, "scope": scopes} if service else {"scope": scopes},
            auth=auth,
        )

    def _needs_credentials(self) -> str:
        return (
            f"{self._registry} requires authentication to push to {self._repository} and no "
            f"credentials were found for it; run 'docker login {self._registry}' or pass "
            "--username and --password-stdin"
        )

    def _refused_credentials(self) -> str:
        source = self._credentials.source if self._credentials else "nowhere"
        return (
            f"authentication to {self._registry} failed: it refused the credentials from "
            f"{source} (401 Unauthorized); check the user name and password"
        )


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
