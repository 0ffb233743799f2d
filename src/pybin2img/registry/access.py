"""How to reach a registry: :class:`RegistryOptions` (credentials, Docker's and podman's
stores, TLS, proxies, retries), and a :class:`~.client.RegistryClient` made from them
(:func:`open_client`) for one repository.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..log import Log
from ..reference import ImageReference
from .client import RegistryClient
from .credentials import Credentials, find_credentials, helper_environment
from .transport import CERTS_DIRS, RetryPolicy, is_plain_http_allowed, registry_ca_files


@dataclass(frozen=True, kw_only=True)
class RegistryOptions:
    """Where credentials come from and how to reach a registry: what every operation on one
    takes (a push, a signature, an attachment, the cache repository), as
    go-containerregistry's ``remote.Option``; what one push needs besides is the ship stage's
    :class:`~pybin2img.ship.PushOptions`.

    Neither the credentials nor the environment appear in ``repr()`` (or ``str()``): both may
    hold secrets, and anything may log an options object.
    """

    #: Explicit credentials (``--username`` + ``--password-stdin``); ``None`` looks them up in
    #: ``docker_config``.
    credentials: Credentials | None = field(default=None, repr=False)
    #: The directory holding Docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``).
    docker_config: Path | None = None
    #: Environment for credential helpers (``PATH``, ``AWS_*``) and proxies (``HTTPS_PROXY``,
    #: ``NO_PROXY``): only what :func:`~.credentials.helper_environment` keeps of what is given.
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Registries (``host`` or ``host:port``) reached over plain HTTP or unverified TLS, besides
    #: loopback hosts.
    insecure_registries: tuple[str, ...] = ()
    #: CA bundle for TLS (``SSL_CERT_FILE``); ``None`` uses certifi's.
    ca_bundle: Path | None = None
    #: podman's ``auth.json`` files, read after Docker's config (in podman's order).
    auth_files: tuple[Path, ...] = ()
    #: The registry's own CA certificates (``--registry-ca``), trusted besides the bundle and
    #: ``certs.d/<host>/*.crt`` of Docker and podman.
    registry_ca: tuple[Path, ...] = ()
    #: Where Docker's and podman's ``certs.d`` directories are (tests point elsewhere).
    certs_dirs: tuple[Path, ...] = CERTS_DIRS
    #: Retries of transient failures.
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Chunk size when the registry refuses a blob in one request.
    chunk_size: int = 16 << 20

    def __post_init__(self) -> None:
        # Whoever builds the options (the CLI with os.environ, a library user), nothing else of
        # the process environment is kept.
        object.__setattr__(self, "environ", helper_environment(self.environ))


def open_client(
    reference: ImageReference,
    options: RegistryOptions,
    log: Log,
    *,
    mount_from: str | None = None,
    timeout: float = 300.0,
    pull_only: bool = False,
) -> RegistryClient:
    """A client for the reference's repository, with the credentials and the trust
    ``options`` give (Docker's and podman's stores, ``certs.d``, ``--registry-ca``)."""
    registry = reference.registry
    credentials = options.credentials or find_credentials(
        registry,
        docker_config=options.docker_config,
        environ=options.environ,
        log=log,
        auth_files=options.auth_files,
    )
    extra_ca = registry_ca_files(registry, options.registry_ca, certs_dirs=options.certs_dirs)
    insecure = is_plain_http_allowed(registry, options.insecure_registries)
    if extra_ca and insecure and not _named_insecure(registry, options.insecure_registries):
        # A CA given for a loopback registry is meant to be checked, not skipped.
        insecure = False
    return RegistryClient(
        registry=registry,
        repository=reference.normalized_path,
        credentials=credentials,
        log=log,
        insecure=insecure,
        mount_from=mount_from,
        retry=options.retry,
        ca_bundle=str(options.ca_bundle) if options.ca_bundle else None,
        proxy_env=options.environ,
        chunk_size=options.chunk_size,
        extra_ca=tuple(str(path) for path in extra_ca),
        timeout=timeout,
        pull_only=pull_only,
    )


def _named_insecure(registry: str, insecure_registries: tuple[str, ...]) -> bool:
    return registry in insecure_registries or registry.rsplit(":", 1)[0] in insecure_registries


def check_registry(reference: ImageReference, options: RegistryOptions, log: Log) -> None:
    """Fail fast, before a long compile, when the registry cannot be reached or refuses the
    credentials: ``GET /v2/`` authenticates with them (a Bearer token is fetched for the
    repository's push scope)."""
    with open_client(reference, options, log) as client:
        client.ping()
