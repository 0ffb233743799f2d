"""Registry credentials the way ``docker login`` and ``podman login`` store them.

Docker's ``config.json`` first, then podman's ``auth.json`` files in the order podman reads them
(:func:`podman_auth_files`); the first file with an entry for the registry wins. Within a file,
as the Docker CLI does it: ``credHelpers[host]``, else ``credsStore``, else the ``auths`` entry
(base64 ``user:password`` or an ``identitytoken``). A helper is the program
``docker-credential-<name>``; ``get`` reads the server URL on stdin and prints
``{"ServerURL", "Username", "Secret"}``, where the user name ``<token>`` marks an identity token.

A helper runs with only the part of the environment helpers and proxies read
(:func:`helper_environment`), never the whole of a CI job's environment.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import RegistryError
from ..log import Log

#: The key Docker Hub credentials are stored under (and the URL its helpers are asked about).
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
_DOCKER_HUB_HOSTS = ("docker.io", "index.docker.io", "registry-1.docker.io")
_HELPER_TIMEOUT = 60

#: The variables a push keeps of the process environment (:func:`helper_environment`).
HELPER_VARIABLES = frozenset(
    {
        # Finding and running a helper, and the files it keeps in the user's home.
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "DOCKER_CONFIG",
        "REGISTRY_AUTH_FILE",
        # docker-credential-pass (pass, gpg) and -secretservice (D-Bus).
        "PASSWORD_STORE_DIR",
        "GNUPGHOME",
        "GPG_AGENT_INFO",
        "DBUS_SESSION_BUS_ADDRESS",
        # The CA certificates a helper calling a cloud API trusts.
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        # Proxies, for the registry and for helpers (either case, as curl and Go read them).
        *(f"{name}_proxy" for name in ("http", "https", "all", "no")),
        *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "ALL", "NO")),
    }
)
#: Prefixes of the variables the cloud registries' helpers read: docker-credential-ecr-login
#: (the AWS SDK's ``AWS_*``), -gcr and gcloud (``GOOGLE_*``, ``CLOUDSDK_*``), -acr-env
#: (``AZURE_*``).
HELPER_PREFIXES = ("AWS_", "GOOGLE_", "CLOUDSDK_", "AZURE_")


def helper_environment(environ: Mapping[str, str]) -> Mapping[str, str]:
    """What credential helpers and the registry client's proxies read of ``environ``
    (:data:`HELPER_VARIABLES`, :data:`HELPER_PREFIXES`), read-only: a push keeps nothing else
    of the process environment, so a token of the CI job is in no object a push holds and is
    never handed to a helper."""
    return MappingProxyType(
        {
            key: value
            for key, value in sorted(environ.items())
            if key in HELPER_VARIABLES or key.startswith(HELPER_PREFIXES)
        }
    )


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """What to authenticate with, and where it came from (named in error messages)."""

    username: str = ""
    #: The password (or a personal access token used as one); never in ``repr()``.
    password: str = field(default="", repr=False)
    #: An OAuth refresh token (``identitytoken``) exchanged at a Bearer token server; never in
    #: ``repr()``.
    identity_token: str = field(default="", repr=False)
    #: Where these came from: ``--username/--password-stdin``, a file, a helper.
    source: str


def podman_auth_files(environ: Mapping[str, str], *, home: Path, uid: int) -> tuple[Path, ...]:
    """podman's ``auth.json`` files, in the order it reads them (containers-auth.json(5)):
    ``$REGISTRY_AUTH_FILE`` alone when set; else ``$XDG_RUNTIME_DIR/containers/auth.json``
    (``/run/containers/<uid>/auth.json`` without it), then
    ``${XDG_CONFIG_HOME:-~/.config}/containers/auth.json``."""
    if environ.get("REGISTRY_AUTH_FILE"):
        return (Path(environ["REGISTRY_AUTH_FILE"]),)
    runtime = environ.get("XDG_RUNTIME_DIR")
    config = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    return (
        Path(runtime, "containers", "auth.json")
        if runtime
        else Path("/run/containers", str(uid), "auth.json"),
        Path(config, "containers", "auth.json"),
    )


def find_credentials(
    registry: str,
    *,
    docker_config: Path | None,
    environ: Mapping[str, str],
    log: Log,
    auth_files: Sequence[Path] = (),
) -> Credentials | None:
    """The credentials stored for ``registry`` (``host[:port]``), or ``None`` for anonymous.

    ``docker_config`` is the directory holding ``config.json`` (``$DOCKER_CONFIG`` or
    ``~/.docker``); ``auth_files`` are read after it (podman's, :func:`podman_auth_files`);
    ``environ`` is the environment helpers run in (its ``PATH`` finds them).
    """
    paths = [docker_config / "config.json"] if docker_config is not None else []
    for path in (*paths, *auth_files):
        found = _from_file(path, registry, environ, log)
        if found is not None:
            return found
    return None


def _from_file(
    path: Path, registry: str, environ: Mapping[str, str], log: Log
) -> Credentials | None:
    """The credentials one ``config.json`` or ``auth.json`` holds for ``registry``."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"cannot read registry credentials from {path}: {exc}") from exc
    if not isinstance(config, dict):
        raise RegistryError(f"cannot read registry credentials from {path}: not a JSON object")

    hosts = _DOCKER_HUB_HOSTS if registry in _DOCKER_HUB_HOSTS else (registry,)
    server = DOCKER_HUB_SERVER if registry in _DOCKER_HUB_HOSTS else registry

    helpers = config.get("credHelpers") or {}
    helper = next((helpers[h] for h in hosts if isinstance(helpers, dict) and h in helpers), None)
    if helper:
        return _from_helper(str(helper), server, environ, required=True, log=log)
    store = config.get("credsStore")
    if store:
        found = _from_helper(str(store), server, environ, required=False, log=log)
        if found:
            return found
    return _from_auths(config.get("auths") or {}, hosts, path)


def _from_auths(auths: Any, hosts: tuple[str, ...], path: Path) -> Credentials | None:
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if _hostname(str(key)) not in hosts or not isinstance(entry, dict):
            continue
        source = f"{path} (auths[{key!r}])"
        if entry.get("identitytoken"):
            return Credentials(
                username=str(entry.get("username", "")),
                identity_token=str(entry["identitytoken"]),
                source=source,
            )
        if entry.get("auth"):
            try:
                decoded = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise RegistryError(f"{source}: 'auth' is not base64 of user:password") from exc
            username, sep, password = decoded.partition(":")
            if not sep:
                raise RegistryError(f"{source}: 'auth' is not base64 of user:password")
            return Credentials(username=username, password=password, source=source)
        if entry.get("username") and entry.get("password"):
            return Credentials(
                username=str(entry["username"]), password=str(entry["password"]), source=source
            )
    return None


def _hostname(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000``, as Docker matches ``auths`` keys."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0]


def _from_helper(
    name: str, server: str, environ: Mapping[str, str], *, required: bool, log: Log
) -> Credentials | None:
    program = f"docker-credential-{name}"
    found = shutil.which(program, path=environ.get("PATH"))
    if not found:
        if required:
            raise RegistryError(
                f"credential helper {program} (credHelpers for {server}) was not found on PATH; "
                "install it or remove it from the Docker config"
            )
        # A stale credsStore (``desktop`` copied from a laptop) should not stop a CI push that
        # has its credentials in ``auths``.
        log.warning(f"credential store {program} was not found on PATH; ignoring credsStore")
        return None
    try:
        proc = subprocess.run(
            [found, "get"],
            input=server,
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RegistryError(f"credential helper {program} failed: {exc}") from exc
    if proc.returncode != 0:
        message = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        text = message[-1] if message else f"exit code {proc.returncode}"
        # The helper protocol's answer for "nothing stored for this server".
        if "credentials not found" in text.lower():
            return None
        raise RegistryError(f"credential helper {program} get {server} failed: {text}")
    try:
        answer = json.loads(proc.stdout)
        username, secret = str(answer.get("Username", "")), str(answer["Secret"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryError(
            f"credential helper {program} printed something other than "
            '{"Username": …, "Secret": …}'
        ) from exc
    source = f"credential helper {program}"
    if username == "<token>":
        return Credentials(identity_token=secret, source=source)
    return Credentials(username=username, password=secret, source=source)
