"""The one frozen options object every stage receives, and the one function that builds it.

The CLI (or a library caller) builds :class:`BuildOptions` once, with :func:`build_options`
from the merged settings; no stage reads the environment or the command line on its own.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .app import AppSpec, resolve_app
from .errors import ImageWriteError, UsageError
from .reference import ImageReference, parse_reference
from .settings import BASES, Project

if TYPE_CHECKING:  # push pulls in requests; only the type is needed here
    from .registry import RegistryOptions

#: The non-root user every image runs as unless told otherwise (distroless' ``nonroot``).
NONROOT_UID = 65532


@dataclass(frozen=True, kw_only=True)
class BuildOptions:
    """Everything one ``pybin2img build`` needs, resolved from flags, environment and defaults."""

    app: AppSpec
    #: The image reference to tag the image with.
    reference: ImageReference
    #: Where the tarball is written.
    output: Path
    #: ``scratch``, ``distroless`` (see :data:`~pybin2img.settings.BASES`), or the absolute
    #: path of an image tarball whose layers go below pybin2img's.
    base: str = "scratch"
    #: CA bundle in the image: ``auto`` (when the app uses ssl), ``always`` or ``never``.
    ca_certs: str = "auto"
    #: /usr/share/zoneinfo in the image: ``auto`` (when the app uses zoneinfo), ``always``,
    #: ``never``.
    tzdata: str = "auto"
    #: PID 1 of the image: ``tini`` (the build machine's static tini in front of the app) or
    #: ``none`` (the app itself).
    init: str = "tini"
    #: Declare ``/tmp`` a volume (writable under ``docker run --read-only``).
    tmp_volume: bool = True
    #: ``/sbin/ldconfig`` and ``/etc/ld.so.cache`` for ``ctypes.util.find_library``: ``auto``
    #: (when the app uses ``ctypes.util``), ``always``, ``never``.
    ldconfig: str = "auto"
    #: The interpreter that compiles the app (its site-packages provide the dependencies).
    python: Path
    #: Requirements file: the app's dependencies, installed with Nuitka into a cached venv made
    #: from ``python``. ``None``: compile with ``python`` itself.
    requirements: Path | None = None
    #: Load the finished image into the Docker engine.
    load: bool = False
    #: Push the finished image to the registry its reference names.
    push: bool = False
    #: How to reach the registry pushed to (credentials, insecure registries, …); ``None``:
    #: the defaults.
    registry: RegistryOptions | None = None
    #: A repository on the registry pushed to that missing blobs are mounted from
    #: (``--mount-from``); ``None``: the base image's, when it is there.
    mount_from: str | None = None
    #: Sign the pushed image and its SBOM attachment with this key (cosign's format or PEM EC
    #: P-256); ``None``: unsigned.
    sign_key: Path | None = None
    #: The key's password (``COSIGN_PASSWORD``); ``None`` when not set.
    sign_password: str | None = field(default=None, repr=False)
    #: The SBOM written next to the tarball and pushed: ``cyclonedx`` or ``spdx``.
    sbom_format: str = "cyclonedx"

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
    #: ``(host path, image path)`` of files or directories copied as they are (``--add-file``).
    extra_files: tuple[tuple[str, str], ...] = ()
    #: Arguments for the traced run of the dist (``--trace``; ``""``: none); ``None``: no trace.
    trace: str | None = None
    #: ``KEY=VALUE`` entries for the traced run's environment (``--trace-env``).
    trace_env: tuple[str, ...] = ()
    #: Seconds the traced run may take; a server still running then is stopped.
    trace_timeout: float = 10.0

    # --- compile ------------------------------------------------------------------------------
    #: ``SRC=DEST`` data files or directories shipped in /app (SRC absolute and existing, DEST
    #: relative to /app).
    include_data: tuple[str, ...] = ()
    #: Packages shipped as bytecode rather than compiled to C (``--bytecode``): package names
    #: and :data:`THIRD_PARTY` (every package installed in the build environment).
    bytecode: tuple[str, ...] = ()
    #: Top-level packages compiled to C whatever ``bytecode`` says (``--compile``).
    compile: tuple[str, ...] = ()
    #: Packages whose data files are not shipped (``--no-package-data``).
    no_package_data: tuple[str, ...] = ()
    #: Packages shipped as their installed files too (``--as-files``, with the defaults).
    as_files: tuple[str, ...] = ()
    #: Whether the defaults apply (not ``--as-files none``): :data:`DEFAULT_AS_FILES` and the
    #: packages found to read their own source.
    as_files_defaults: bool = True
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
    smoke_timeout: float = 5.0
    #: Without ``smoke_test``: start the image once with its own arguments and fail the build
    #: only on the signs of a broken image (a failed import, a missing library).
    start_check: bool = True
    #: Import the app's imports once after compiling, to compile at build time the source
    #: dataclasses, named tuples and string annotations generate (compile/generated.py).
    build_imports: bool = True
    #: Arguments for the comparison of the image with the build interpreter (``--compare``;
    #: ``""``: none); ``None``: no comparison.
    compare: str | None = None
    #: Seconds each compared run may take.
    compare_timeout: float = 60.0

    # --- output -------------------------------------------------------------------------------
    #: File mtimes and ``created`` in the image; ``None`` means the app's last git commit, else 0.
    source_date_epoch: int | None = None
    #: Layer compression: ``gzip`` (default) or ``zstd``.
    compression: str = "gzip"
    #: Its level (``--compression-level``); ``None``: the compression's default.
    compression_level: int | None = None
    #: Environment for the docker SDK: ``DOCKER_HOST``, ``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``.
    docker_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    # --- sharing between machines -------------------------------------------------------------
    #: The cache repository (``--cache-repo``); ``None``: nothing is shared through a registry.
    cache_repo: CacheRepoOptions | None = None
    #: ccache's settings for the C compiles: the ``CCACHE_*`` variables of the environment, with
    #: ``CCACHE_REMOTE_STORAGE`` from ``--ccache-remote-storage`` when given. Not in ``repr()``:
    #: a remote storage's URL may hold a password or a bearer token.
    ccache_env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True, kw_only=True)
class CacheRepoOptions:
    """``--cache-repo``: a registry repository that shares what is slow to make (compiled
    dists, build environments, Nuitka's module cache) between machines."""

    #: The repository (its tag is unused: every entry has a tag of its own).
    reference: ImageReference
    #: ``readwrite``: look up and upload; ``read``: look up only.
    mode: str = "readwrite"
    #: How to reach the registry, as for a push: credentials, insecure registries, CA bundle,
    #: proxies.
    registry: RegistryOptions
    #: A repository on the same registry to mount missing blobs from.
    mount_from: str | None = None
    #: Seconds to wait for the registry to connect or answer; then the build goes on without.
    timeout: float = 10.0

    @property
    def writable(self) -> bool:
        return self.mode == "readwrite"


# --- building the options ---------------------------------------------------------------------


def build_options(
    values: Mapping[str, Any],
    *,
    sources: Mapping[str, str],
    app: Path | None,
    args: tuple[str, ...] = (),
    project: Project,
    environ: Mapping[str, str],
    password: str | None = None,
    default_python: Path,
) -> BuildOptions:
    """The one place options are checked and converted: ``values`` are the merged settings
    (:func:`pybin2img.settings.merge`, keyed by dest), ``environ`` the process environment,
    ``sources`` where each value came from, ``password`` what ``--password-stdin`` read.
    Raises :class:`UsageError` before anything slow (an environment, a compile) happens."""
    if not values["tag"]:
        raise UsageError("give the image reference with -t NAME[:TAG] (or tag in [tool.pybin2img])")
    reference = parse_reference(values["tag"])
    registry_flags = (
        "insecure_registry",
        "mount_from",
        "username",
        "password_stdin",
        "registry_ca",
        "sign_key",
    )
    # Reaching a cache repository takes the same registry options as a push.
    shared = ("insecure_registry", "mount_from", "username", "password_stdin", "registry_ca")
    needs_push = [k for k in registry_flags if not (values["cache_repo"] and k in shared)]
    if not values["push"] and any(sources.get(k) == "flag" for k in needs_push):
        raise UsageError("registry options (--username, --mount-from, …) need --push")
    app_spec = resolve_app(app, module=values["module"], script=values["script"], project=project)
    workdir = values["workdir"]
    if not workdir.startswith("/"):
        raise UsageError(f"--workdir {workdir!r} must be an absolute path")
    for item in values["env"]:
        if "=" not in item or item.startswith("="):
            raise UsageError(f"--env {item!r} must be KEY=VALUE")
    if values["push"] and values["sign_key"] and not values["sign_key"].is_file():
        raise UsageError(f"--sign-key {values['sign_key']} is not a file")
    for name in ("trace", "smoke_test", "compare"):
        if values[name] is not None:
            _arguments(values[name], "--" + name.replace("_", "-"))
    output = (values["output"] or Path(f"{reference.name}.tar")).absolute()
    check_output(output)
    return BuildOptions(
        app=app_spec,
        reference=reference,
        output=output,
        base=_base(values["base"]),
        ca_certs=values["ca_certs"],
        tzdata=values["tzdata"],
        init=values["init"],
        tmp_volume=values["tmp_volume"],
        ldconfig=values["ldconfig"],
        python=(values["python"] or default_python).absolute(),
        requirements=values["requirements"].absolute() if values["requirements"] else None,
        load=values["load"],
        push=values["push"],
        registry=registry_options(
            environ,
            username=values["username"],
            password=password,
            insecure_registries=values["insecure_registry"],
            registry_ca=values["registry_ca"],
        )
        if values["push"]
        else None,
        mount_from=values["mount_from"] if values["push"] else None,
        sign_key=values["sign_key"].absolute() if values["push"] and values["sign_key"] else None,
        sign_password=environ.get("COSIGN_PASSWORD"),
        sbom_format=values["sbom_format"],
        user=values["user"],
        workdir=workdir,
        env=values["env"],
        cmd=args or values["cmd"],
        labels=_pairs(values["label"], "--label"),
        licenses=project.license,
        annotations=_pairs(values["annotation"], "--annotation"),
        ports=_ports(values["port"]),
        stop_signal=values["stop_signal"],
        library_path=tuple(str(p.absolute()) for p in values["library_path"]),
        extra_libs=values["add_library"],
        extra_files=_add_files(values["add_file"]),
        trace=values["trace"],
        trace_env=tuple(f"{k}={v}" for k, v in _pairs(values["trace_env"], "--trace-env")),
        trace_timeout=values["trace_timeout"],
        include_data=_include_data(values["include_data"]),
        bytecode=_bytecode(values["bytecode"], values["compile"]),
        compile=_compile(values["compile"]),
        no_package_data=_packages(values["no_package_data"], "--no-package-data"),
        as_files=_as_files(values["as_files"]),
        as_files_defaults="none" not in values["as_files"],
        nuitka_args=_nuitka_args(values["nuitka_arg"]),
        jobs=values["jobs"],
        compression=values["compression"],
        compression_level=_compression_level(values["compression"], values["compression_level"]),
        smoke_test=values["smoke_test"],
        smoke_timeout=values["smoke_timeout"],
        start_check=values["start_check"],
        build_imports=values["build_imports"],
        compare=values["compare"],
        compare_timeout=values["compare_timeout"],
        cache_dir=cache_dir(environ),
        source_date_epoch=_epoch(environ),
        docker_env=MappingProxyType(
            {
                k: v
                for k, v in environ.items()
                if k in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH")
            }
        ),
        cache_repo=_cache_repo(values, environ, password, reference),
        ccache_env=_ccache_env(values["ccache_remote_storage"], environ),
    )


def _cache_repo(
    values: Mapping[str, Any],
    environ: Mapping[str, str],
    password: str | None,
    reference: ImageReference,
) -> CacheRepoOptions | None:
    """``--cache-repo``: a repository (no tag), reached with the registry options of a push.
    ``--username``/``--password-stdin`` are its credentials when it is on the registry the
    image goes to, or when there is no push; otherwise Docker's and podman's files are."""
    if not values["cache_repo"]:
        return None
    repository = parse_reference(values["cache_repo"])
    if repository.explicit_tag:
        raise UsageError(
            f"--cache-repo {values['cache_repo']!r} names a repository, not a tag: every "
            "entry gets a tag of its own"
        )
    own = not values["push"] or repository.registry == reference.registry
    extra = {"registry_ca": values["registry_ca"]} if "registry_ca" in values else {}
    return CacheRepoOptions(
        reference=repository,
        mode=values["cache_mode"],
        registry=registry_options(
            environ,
            username=values["username"] if own else None,
            password=password if own else None,
            insecure_registries=values["insecure_registry"],
            **extra,
        ),
    )


def _ccache_env(remote_storage: str | None, environ: Mapping[str, str]) -> Mapping[str, str]:
    """ccache's settings for the compiles pybin2img runs: every ``CCACHE_*`` variable, and
    the remote storage given to pybin2img over ``CCACHE_REMOTE_STORAGE``."""
    settings = {k: v for k, v in environ.items() if k.startswith("CCACHE_")}
    if remote_storage:
        settings["CCACHE_REMOTE_STORAGE"] = remote_storage
        settings.pop("CCACHE_SECONDARY_STORAGE", None)  # its older name
    return MappingProxyType(settings)


def registry_options(
    environ: Mapping[str, str],
    *,
    username: str | None,
    password: str | None,
    insecure_registries: tuple[str, ...],
    registry_ca: tuple[Path, ...] = (),
) -> RegistryOptions:
    """How to reach a registry, for ``build --push``, ``push``, ``sign``, ``index`` and the
    cache repository alike: credentials given on the command line, Docker's config and
    podman's auth.json, the CA bundle and the registry's own CA."""
    # requests is slow to import: only a build that reaches a registry needs it.
    from .registry import Credentials, RegistryOptions, podman_auth_files

    if bool(username) != (password is not None):
        raise UsageError("--username and --password-stdin go together")
    credentials = None
    if username:
        if not password:
            raise UsageError("--password-stdin: stdin holds no password")
        credentials = Credentials(
            username=username, password=password, source="--username/--password-stdin"
        )
    docker_config = environ.get("DOCKER_CONFIG") or os.path.join(Path.home(), ".docker")
    ca_bundle = environ.get("SSL_CERT_FILE") or environ.get("REQUESTS_CA_BUNDLE")
    for ca in registry_ca:
        if not ca.is_file():
            raise UsageError(f"--registry-ca {ca} is not a file")
    return RegistryOptions(
        credentials=credentials,
        docker_config=Path(docker_config),
        auth_files=podman_auth_files(environ, home=Path.home(), uid=os.getuid()),
        registry_ca=tuple(ca.absolute() for ca in registry_ca),
        environ=dict(environ),
        insecure_registries=insecure_registries,
        ca_bundle=Path(ca_bundle) if ca_bundle else None,
    )


def check_output(output: Path) -> None:
    """Fail before compiling when the tarball could not be written anyway.

    A missing parent directory is fine (it is created when the tarball is written, like
    ``go build -o``), as long as the nearest existing one is a writable directory.
    """
    if output.is_dir():
        raise UsageError(f"output {output} is a directory; give a file name (-o FILE)")
    existing = output.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ImageWriteError(f"cannot write {output}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ImageWriteError(f"cannot write {output}: directory {existing} is not writable")


def cache_dir(environ: Mapping[str, str]) -> Path:
    """``PYBIN2IMG_CACHE_DIR``, else ``$XDG_CACHE_HOME/pybin2img``, else ``~/.cache/pybin2img``."""
    if environ.get("PYBIN2IMG_CACHE_DIR"):
        return Path(environ["PYBIN2IMG_CACHE_DIR"]).absolute()
    xdg = environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(xdg, "pybin2img").absolute()


def _epoch(environ: Mapping[str, str]) -> int | None:
    value = environ.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={value!r} is not a whole number of seconds")
    return int(value)


def _compression_level(compression: str, level: int | None) -> int | None:
    """``--compression-level``, checked against ``--compression``'s levels."""
    if level is None:
        return None
    from .oci import checked_level

    try:
        return checked_level(compression, level)
    except ImageWriteError as exc:
        raise UsageError(f"--compression-level {level}: {exc}") from exc


def _arguments(value: str, what: str) -> list[str]:
    """ARGS of ``--trace``, ``--smoke-test`` and ``--compare``, split as a shell would."""
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise UsageError(f"{what} {value.strip()!r}: {exc}") from exc


def _pairs(values: Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {value!r} must be KEY=VALUE")
        pairs.append((key, val))
    return tuple(pairs)


def _ports(values: Sequence[str]) -> tuple[str, ...]:
    ports = []
    for value in values:
        number, _, proto = value.partition("/")
        proto = proto or "tcp"
        if (
            not number.isdigit()
            or not 0 < int(number) < 65536
            or proto not in ("tcp", "udp", "sctp")
        ):
            raise UsageError(f"port {value!r} must be NUMBER[/tcp|udp|sctp]")
        ports.append(f"{int(number)}/{proto}")
    return tuple(ports)


def _base(value: str) -> str:
    """``scratch``, ``distroless``, or the absolute path of an image tarball that exists."""
    if value in BASES:
        return value
    path = Path(value).absolute()
    if not path.is_file():
        raise UsageError(f"--base {value!r} is neither scratch, distroless nor an image tarball")
    return str(path)


def _include_data(items: Sequence[str]) -> tuple[str, ...]:
    """``--include-data SRC=DEST`` with SRC made absolute and checked to exist."""
    checked = []
    for item in items:
        source, sep, dest = item.partition("=")
        if not sep or not source or not dest or dest.startswith("/") or ".." in dest.split("/"):
            raise UsageError(f"--include-data {item!r} must be SRC=DEST with DEST inside /app")
        path = Path(source).absolute()
        if not path.exists():
            raise UsageError(f"--include-data: {path} does not exist")
        checked.append(f"{path}={dest}")
    return tuple(checked)


def _add_files(items: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``--add-file SRC[=DEST]``: SRC an existing file or directory of this machine, DEST an
    absolute image path (SRC's absolute path by default)."""
    checked = []
    for item in items:
        source, sep, dest = item.partition("=")
        path = Path(source).absolute()
        dest = dest if sep else str(path)
        if not source or not dest.startswith("/") or ".." in dest.split("/"):
            raise UsageError(f"--add-file {item!r} must be SRC or SRC=/ABSOLUTE/DEST")
        if not path.exists():
            raise UsageError(f"--add-file: {path} does not exist")
        checked.append((str(path), dest))
    return tuple(checked)


#: ``--bytecode`` keyword: every package installed in the build environment (its
#: ``site-packages``), whatever the app imports of them.
THIRD_PARTY = "third-party"

#: Shipped as bytecode unless ``--bytecode`` or ``--compile`` say otherwise: every third-party
#: package; the app's own modules and packages are compiled to C. Measured on the corpus (README
#: "What to compile, measured"): compiled to C, Flask and its packages made the web example's
#: compile stage 3 times longer and its image 28% larger, and cost 16% more CPU per request;
#: as bytecode no corpus workload was slower than under CPython.
DEFAULT_BYTECODE = (THIRD_PARTY,)

_PACKAGE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


#: Packages shipped as their installed files unless ``--as-files none``: each finds its own
#: files at run time, and fails compiled (the README gives the reasons). ruamel.yaml: finds
#: its plugins (ruamel.yaml.string's ``dump_to_string``) by globbing ``*/__plug_in__.py``
#: next to its ``main.py``. twisted.plugins: ``twisted.plugin.getPlugins`` lists the modules
#: of the directory (``twisted web``'s service maker, every plugin another distribution
#: installs there).
DEFAULT_AS_FILES = ("ruamel.yaml", "twisted.plugins")
#: The flag that ships a package as its files, for messages that suggest it.
AS_FILES_FLAG = "--as-files"


def _packages(values: Sequence[str], flag: str) -> tuple[str, ...]:
    """Package names, each checked."""
    for value in values:
        if not _PACKAGE.fullmatch(value):
            raise UsageError(f"{flag} {value!r} must be a package name (ruamel.yaml, wordcloud)")
    return tuple(dict.fromkeys(values))


def _as_files(values: Sequence[str]) -> tuple[str, ...]:
    """``--as-files`` values with :data:`DEFAULT_AS_FILES`, unless ``none`` is among them."""
    names = [value for value in values if value != "none"]
    defaults = () if "none" in values else DEFAULT_AS_FILES
    return _packages([*defaults, *names], AS_FILES_FLAG)


def _bytecode(values: tuple[str, ...], compiled: tuple[str, ...] = ()) -> tuple[str, ...]:
    """``--bytecode`` values: package names and :data:`THIRD_PARTY`; ``none`` alone (or
    ``--compile all``) compiles everything; nothing given means :data:`DEFAULT_BYTECODE`."""
    if compiled == ("all",):
        return ()
    if not values:
        return DEFAULT_BYTECODE
    if values == ("none",):
        return ()
    for value in values:
        if value != THIRD_PARTY and (value == "none" or not _PACKAGE.fullmatch(value)):
            raise UsageError(
                f"--bytecode {value!r} must be a package name (pygments, django.contrib), "
                f"`{THIRD_PARTY}`, or `none` alone"
            )
    return tuple(dict.fromkeys(values))


#: Nuitka's options that pybin2img gives itself or that make Nuitka build no program, and
#: why a ``--nuitka-arg`` may not give them (Nuitka takes the last of an option given twice:
#: the build would fail later, far from its cause, or run the app on the build machine).
_NUITKA_OWN = {
    **dict.fromkeys(
        ("--mode", "--onefile", "--module", "--main"),
        "pybin2img builds a standalone program of APP (`--mode=standalone`)",
    ),
    **dict.fromkeys(
        ("--output-dir", "--output-filename", "--output-folder-name", "-o"),
        "pybin2img chooses where Nuitka writes; the image goes to --output",
    ),
    "--report": "pybin2img reads Nuitka's report from where it asks for it; "
    "--metadata-file has what it found there",
    **dict.fromkeys(
        ("--run", "--debugger"),
        "pybin2img does not run the app on the build machine; --smoke-test runs it in the image",
    ),
    **dict.fromkeys(
        ("--version", "--help", "-h", "--edit-module-code"),
        "Nuitka would print and build nothing",
    ),
}


def _nuitka_args(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--nuitka-arg`` values, none of which may be an option of :data:`_NUITKA_OWN` or a
    ``--list-*`` query."""
    for value in values:
        name = value.split("=", 1)[0]
        why = _NUITKA_OWN.get(name)
        if why is None and name.startswith("--list-"):
            why = "Nuitka would list and build nothing"
        if why is not None:
            raise UsageError(f"--nuitka-arg {value!r} cannot be given: {why}")
    return values


def _compile(values: tuple[str, ...]) -> tuple[str, ...]:
    """``--compile`` values: top-level package names, or ``all`` alone (see :func:`_bytecode`)."""
    if values == ("all",):
        return ()
    for value in values:
        if not value.isidentifier() or value == "all":
            raise UsageError(
                f"--compile {value!r} must be a top-level package name (sqlalchemy, pandas), "
                "or `all` alone"
            )
    return tuple(dict.fromkeys(values))
