"""The one frozen options object every stage receives.

The CLI (or a library caller) builds :class:`BuildOptions` once; no stage reads the environment
or the command line on its own.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .reference import ImageReference

if TYPE_CHECKING:  # push pulls in requests; only the type is needed here
    from .ship.push import PushOptions

#: The non-root user every image runs as unless told otherwise (distroless' ``nonroot``).
NONROOT_UID = 65532


class AppKind(enum.Enum):
    """What APP names."""

    SCRIPT = "script"  #: a ``.py`` file
    PACKAGE = "package"  #: a directory with ``__main__.py``
    MODULE = "module"  #: ``-m pkg.mod``, importable by the build interpreter
    PROJECT = "project"  #: a directory with ``pyproject.toml`` and ``[project.scripts]``


@dataclass(frozen=True, kw_only=True)
class AppSpec:
    """The application to compile."""

    kind: AppKind
    #: The script file, package directory or project directory (absolute).
    path: Path
    #: For MODULE: the dotted module name.
    module: str | None = None
    #: For PROJECT: which ``[project.scripts]`` entry to build.
    script: str | None = None

    @property
    def name(self) -> str:
        """The app's name, used for the binary in the image (``/app/<name>``)."""
        if self.kind is AppKind.MODULE and self.module:
            return self.module.rsplit(".", 1)[-1]
        if self.kind is AppKind.PROJECT and self.script:
            return self.script
        return self.path.stem if self.kind is AppKind.SCRIPT else self.path.name


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """Everything one ``pybin2img build`` needs, resolved from flags, environment and defaults."""

    app: AppSpec
    #: The image reference to tag the image with.
    reference: ImageReference
    #: Where the tarball is written.
    output: Path
    #: ``scratch`` or ``distroless``.
    base: str = "scratch"
    #: CA bundle in the image: ``auto`` (when the app uses ssl), ``always`` or ``never``.
    ca_certs: str = "auto"
    #: /usr/share/zoneinfo in the image: ``auto`` (when the app uses zoneinfo), ``always``,
    #: ``never``.
    tzdata: str = "auto"
    #: The interpreter that compiles the app (its site-packages provide the dependencies).
    python: Path
    #: Requirements file: the app's dependencies, installed with Nuitka into a cached venv made
    #: from ``python``. ``None``: compile with ``python`` itself.
    requirements: Path | None = None
    #: Load the finished image into the Docker engine.
    load: bool = False
    #: Push the finished image to the registry its reference names.
    push: bool = False
    #: How to push (credentials, insecure registries, …); ``None``: the defaults.
    push_options: PushOptions | None = None

    # --- image config -------------------------------------------------------------------------
    #: ``User`` in the image config (numeric, so no passwd lookup is needed).
    user: str = str(NONROOT_UID)
    #: ``WorkingDir``.
    workdir: str = "/app"
    #: Extra ``Env`` entries (``KEY=VALUE``), after the defaults.
    env: tuple[str, ...] = ()
    #: ``Cmd``: default arguments passed to the app.
    cmd: tuple[str, ...] = ()
    #: ``Labels``.
    labels: tuple[tuple[str, str], ...] = ()
    #: Exposed ports (``8080/tcp``).
    ports: tuple[str, ...] = ()
    #: ``StopSignal`` (``SIGTERM`` when unset, as engines default).
    stop_signal: str | None = None
    #: The app's license (an SPDX expression from its pyproject.toml), for the
    #: ``org.opencontainers.image.licenses`` label and annotation.
    licenses: str | None = None
    #: Manifest annotations, added to (and overriding) the ``org.opencontainers.image.*`` ones
    #: pybin2img fills in from git and the tag.
    annotations: tuple[tuple[str, str], ...] = ()

    # --- resolver -----------------------------------------------------------------------------
    #: Explicit library directories searched before the defaults (``--library-path``).
    library_path: tuple[str, ...] = ()
    #: Libraries the app dlopens by name that must be in the image (``--add-library``).
    extra_libs: tuple[str, ...] = ()

    # --- compile ------------------------------------------------------------------------------
    #: ``SRC=DEST`` data files or directories shipped in /app (DEST relative to it).
    include_data: tuple[str, ...] = ()
    #: Extra arguments for Nuitka, passed as given.
    nuitka_args: tuple[str, ...] = ()
    #: Parallel C compile jobs; ``None`` follows the CPUs available.
    jobs: int | None = None
    #: Where Nuitka's cache, ccache and logs live.
    cache_dir: Path

    # --- smoke test ---------------------------------------------------------------------------
    #: Arguments for a test run of the finished image (``""``: none); ``None``: no test run.
    smoke_test: str | None = None
    #: Seconds the test run may take; a program still running then (a server) passes.
    smoke_timeout: float = 10.0

    # --- output -------------------------------------------------------------------------------
    #: File mtimes and ``created`` in the image; ``None`` means the app's last git commit, else 0.
    source_date_epoch: int | None = None
    #: Layer compression: ``gzip`` (default) or ``zstd``.
    compression: str = "gzip"
    #: Environment for the docker SDK: ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``.
    docker_env: Mapping[str, str] = field(default_factory=dict)
