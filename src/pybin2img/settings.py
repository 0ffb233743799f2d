"""The one registry of build options: flags, ``PYBIN2IMG_*`` variables and ``[tool.pybin2img]``.

Every option is declared once here. The CLI builds its click options from :data:`BUILD_SETTINGS`,
the pyproject table is checked against it (unknown keys get a "did you mean"), and the README's
option table is generated from it (a test keeps the two equal). Precedence: flag > environment
variable > ``[tool.pybin2img]`` > default.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ENV_PREFIX = "PYBIN2IMG_"
#: The bases pybin2img generates itself; any other ``--base`` is an image tarball's path.
BASES = ("scratch", "distroless")


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One build option."""

    #: Key in ``[tool.pybin2img]`` and the long flag (``--name``).
    name: str
    help: str
    #: ``text``, ``path``, ``flag``, ``switch`` (a flag that is on by default, turned off with
    #: ``--no-NAME``), ``int``, ``choice``, ``list`` (repeatable), ``paths``
    #: (repeatable paths), ``pairs`` (repeatable ``KEY=VALUE``; a table in pyproject) or
    #: ``optional`` (a flag that may take a value: ``--smoke-test`` or ``--smoke-test=ARGS``;
    #: ``true`` or a string in pyproject), or ``base`` (a keyword or a path).
    kind: str = "text"
    short: str | None = None
    default: Any = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    #: Settable in ``[tool.pybin2img]`` and through the environment.
    configurable: bool = True

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def envvar(self) -> str:
        return ENV_PREFIX + self.name.upper().replace("-", "_")

    @property
    def repeatable(self) -> bool:
        return self.kind in ("list", "paths", "pairs")


BUILD_SETTINGS: tuple[Setting, ...] = (
    Setting(name="tag", short="-t", metavar="NAME[:TAG]", help="Image reference (required)."),
    Setting(
        name="output",
        short="-o",
        kind="path",
        metavar="FILE",
        help="Tarball to write [default: ./NAME.tar].",
    ),
    Setting(
        name="module",
        short="-m",
        metavar="MODULE",
        help="Compile `python -m MODULE` (a package with __main__) instead of APP.",
    ),
    Setting(
        name="script",
        metavar="NAME",
        help="Which [project.scripts] entry to build when APP is a project with several.",
    ),
    Setting(name="load", kind="flag", help="Load the image into the Docker engine (DOCKER_HOST)."),
    Setting(name="push", kind="flag", help="Push the image to the registry the tag names."),
    Setting(
        name="insecure-registry",
        kind="list",
        metavar="HOST[:PORT]",
        help="Registry reached over plain HTTP or unverified TLS (loopback always is).",
    ),
    Setting(
        name="mount-from",
        metavar="REPO",
        help="Repository on the same registry to mount missing blobs from.",
    ),
    Setting(
        name="username",
        metavar="USER",
        configurable=False,
        help="Registry user [default: from Docker's config.json]; with --password-stdin.",
    ),
    Setting(
        name="password-stdin",
        kind="flag",
        configurable=False,
        help="Read the registry password from stdin.",
    ),
    Setting(
        name="registry-ca",
        kind="paths",
        metavar="FILE",
        help="CA certificate (PEM) the registry's TLS certificate is checked against, besides "
        "the usual ones and certs.d/HOST/*.crt of Docker and podman.",
    ),
    Setting(
        name="sign-key",
        kind="path",
        metavar="FILE",
        help="Sign the pushed image (and its SBOM) with this cosign or PEM EC P-256 key; "
        "password from COSIGN_PASSWORD.",
    ),
    Setting(
        name="metadata-file",
        kind="path",
        metavar="FILE",
        help="Write the build's result (digest, layers, timings, …) as JSON.",
    ),
    Setting(
        name="base",
        kind="base",
        metavar="scratch|distroless|IMAGE.tar",
        default="scratch",
        help="What the image holds besides the app: generated, or an image tarball's layers.",
    ),
    Setting(
        name="python",
        kind="path",
        metavar="PATH",
        help="Interpreter that compiles the app [default: the one running pybin2img].",
    ),
    Setting(
        name="requirements",
        short="-r",
        kind="path",
        metavar="FILE",
        help="The app's requirements, installed with Nuitka into a cached build environment.",
    ),
    Setting(
        name="ca-certs",
        kind="choice",
        choices=("auto", "always", "never"),
        default="auto",
        help="Ship the CA bundle: auto = when the app uses ssl (always with distroless).",
    ),
    Setting(
        name="tzdata",
        kind="choice",
        choices=("auto", "always", "never"),
        default="auto",
        help=(
            "Ship /usr/share/zoneinfo: auto = where this machine has it (required when the app "
            "uses zoneinfo, and with distroless)."
        ),
    ),
    Setting(
        name="init",
        kind="choice",
        choices=("tini", "none"),
        default="tini",
        help="PID 1: tini (forwards signals, reaps zombies, passes the exit code on) or the app.",
    ),
    Setting(
        name="tmp-volume",
        kind="switch",
        default=True,
        help="Declare /tmp a volume, so that it is writable under docker run --read-only.",
    ),
    Setting(
        name="ldconfig",
        kind="choice",
        choices=("auto", "always", "never"),
        default="auto",
        help="Ship ldconfig and ld.so.cache for ctypes.util.find_library: auto = if it is used.",
    ),
    Setting(name="user", default="65532", help="User the app runs as."),
    Setting(name="workdir", default="/app", metavar="DIR", help="Working directory."),
    Setting(name="env", kind="pairs", metavar="KEY=VALUE", help="Environment variable."),
    Setting(name="label", kind="pairs", metavar="KEY=VALUE", help="Image label."),
    Setting(name="annotation", kind="pairs", metavar="KEY=VALUE", help="Manifest annotation."),
    Setting(name="port", kind="list", metavar="PORT[/PROTO]", help="Exposed port."),
    Setting(name="cmd", kind="list", metavar="ARG", help="Default argument for the app (Cmd)."),
    Setting(name="stop-signal", metavar="SIGNAL", help="Signal that stops the container."),
    Setting(
        name="library-path",
        kind="paths",
        metavar="DIR",
        help="Directory searched for shared libraries before the system ones.",
    ),
    Setting(
        name="add-library",
        kind="list",
        metavar="NAME",
        help="Shared library the app dlopens by name (e.g. libuuid.so.1).",
    ),
    Setting(
        name="add-file",
        kind="list",
        metavar="SRC[=DEST]",
        help="File or directory of this machine to put in the image (at SRC, or at absolute DEST).",
    ),
    Setting(
        name="trace",
        kind="optional",
        metavar="[ARGS]",
        help="Run the compiled app once here with ARGS and add the system libraries and files it "
        "loads.",
    ),
    Setting(
        name="trace-env",
        kind="pairs",
        metavar="KEY=VALUE",
        help="Environment variable for the --trace run.",
    ),
    Setting(
        name="trace-timeout",
        kind="int",
        metavar="SECONDS",
        default=10,
        help="How long the --trace run may take; a server still running then is stopped.",
    ),
    Setting(
        name="include-data",
        kind="list",
        metavar="SRC=DEST",
        help="File or directory to ship with the app (DEST relative to /app), as it is: "
        "`.py` files too (migrations, scripts loaded by path), their imports compiled in.",
    ),
    Setting(
        name="no-package-data",
        kind="list",
        metavar="PACKAGE",
        help="Package whose data files (what its distribution installs next to its code: "
        "fonts, schemas) are not shipped.",
    ),
    Setting(
        name="as-files",
        kind="list",
        metavar="PACKAGE",
        help="Package also shipped as its installed files (.py and data, in /app), for code "
        "that reads or lists them (__file__, globbing its directory, inspect.getsource) "
        "[default: the README's list]; `none`: not those.",
    ),
    Setting(
        name="bytecode",
        kind="list",
        metavar="PACKAGE",
        help="Package shipped as bytecode instead of compiled to C: much faster builds, the "
        "speed it has under CPython; `third-party`: every package of the build environment "
        "[default: third-party]; `none`: compile all.",
    ),
    Setting(
        name="compile",
        kind="list",
        metavar="PACKAGE",
        help="Top-level package compiled to C although --bytecode ships it as bytecode; `all`: "
        "compile everything.",
    ),
    Setting(
        name="build-imports",
        kind="switch",
        default=True,
        help="Import what the app imports (never its own modules) once here after compiling, and "
        "ship the source dataclasses, named tuples and string annotations generate compiled: "
        "a faster start.",
    ),
    Setting(
        name="nuitka-arg",
        kind="list",
        metavar="ARG",
        help="Extra argument for Nuitka; not one pybin2img gives itself (--mode, --output-dir, "
        "--report) or a query (--list-*, --version).",
    ),
    Setting(
        name="smoke-test",
        kind="optional",
        metavar="[ARGS]",
        help="Run the finished image once (locked down) with ARGS; fail the build if it fails.",
    ),
    Setting(
        name="start-check",
        kind="switch",
        default=True,
        help="Without --smoke-test: start the image once; fail only on a failed import or library.",
    ),
    Setting(
        name="smoke-timeout",
        kind="int",
        metavar="SECONDS",
        default=5,
        help="How long the smoke test may run; a server still running then passes.",
    ),
    Setting(
        name="compare",
        kind="optional",
        metavar="[ARGS]",
        help="Run the app with ARGS here under the build interpreter (locked down as --trace) "
        "and in the image; fail the build when the exit code or stdout differ.",
    ),
    Setting(
        name="compare-timeout",
        kind="int",
        metavar="SECONDS",
        default=60,
        help="How long each --compare run may take; a run still going then fails the comparison.",
    ),
    Setting(
        name="compression",
        kind="choice",
        choices=("gzip", "zstd"),
        default="gzip",
        help="Layer compression (zstd needs Docker 23+).",
    ),
    Setting(
        name="compression-level",
        kind="int",
        metavar="N",
        help="Compression level: gzip 1-9 [default: 6], zstd 1-19 [default: 9].",
    ),
    Setting(name="jobs", kind="int", metavar="N", help="Parallel C compile jobs [default: CPUs]."),
    Setting(
        name="cache-repo",
        metavar="REGISTRY/REPO",
        help="Repository sharing compiled dists, build environments and Nuitka's cache "
        "between machines (CI runners).",
    ),
    Setting(
        name="cache-mode",
        kind="choice",
        choices=("readwrite", "read"),
        default="readwrite",
        help="What --cache-repo may do: look up and upload, or only look up (pull requests).",
    ),
    Setting(
        name="ccache-remote-storage",
        metavar="URL",
        help="ccache's shared storage for the C compiles (redis://HOST:PORT) [default: "
        "$CCACHE_REMOTE_STORAGE].",
    ),
    Setting(
        name="sbom-format",
        kind="choice",
        choices=("cyclonedx", "spdx"),
        default="cyclonedx",
        help="Format of the SBOM written next to the tarball and pushed with the image.",
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in BUILD_SETTINGS}
#: The registry options that ``build --push`` and ``push`` share.
PUSH_SETTINGS: tuple[Setting, ...] = tuple(
    BY_NAME[name]
    for name in (
        "insecure-registry",
        "mount-from",
        "username",
        "password-stdin",
        "registry-ca",
        "sign-key",
    )
)


#: Where an option's value came from, as ``-v`` shows it.
Source = str  # "flag", "default", "pyproject" or the environment variable's name


@dataclass(frozen=True, kw_only=True)
class Project:
    """The app's nearest ``pyproject.toml``, read once: ``[tool.pybin2img]`` checked and
    converted to option values, and the ``[project]`` fields pybin2img uses."""

    path: Path | None = None
    #: ``[tool.pybin2img]`` as option values, keyed by :attr:`Setting.dest`.
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: ``[project.scripts]``: script name -> ``module:function``.
    scripts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: ``[project.dependencies]``.
    dependencies: tuple[str, ...] = ()
    #: ``[project] license``: an SPDX expression, or the text of ``{text = ...}``.
    license: str | None = None
    #: ``[tool.poetry.scripts]``'s names (Poetry's own table before 2.0), which pybin2img does
    #: not read: only named in the message when there is no ``[project.scripts]``.
    poetry_scripts: tuple[str, ...] = ()

    @property
    def directory(self) -> Path | None:
        return self.path.parent if self.path else None


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (a file or a directory)."""
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate / "pyproject.toml"
        if (candidate / ".git").exists():
            break
    return None


def read_project(path: Path | None) -> Project:
    """Read and check a pyproject.toml; relative paths are taken from the file's directory."""
    if path is None:
        return Project()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    table = document.get("tool", {}).get("pybin2img", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.pybin2img] must be a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        setting = BY_NAME.get(key)
        if setting is None or not setting.configurable:
            known = [s.name for s in BUILD_SETTINGS if s.configurable]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{path}: unknown key {key!r} in [tool.pybin2img]{hint}")
        values[setting.dest] = _convert(setting, raw, path)
    project = document.get("project", {})
    if not isinstance(project, dict):
        raise ConfigError(f"{path}: [project] must be a table")
    scripts = project.get("scripts", {})
    if not isinstance(scripts, dict):
        raise ConfigError(f"{path}: [project.scripts] must be a table")
    dependencies = project.get("dependencies", [])
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise ConfigError(f"{path}: [project.dependencies] must be a list")
    license_ = project.get("license")
    if isinstance(license_, dict):
        license_ = license_.get("text")
    poetry = document.get("tool", {}).get("poetry", {})
    poetry_scripts = poetry.get("scripts", {}) if isinstance(poetry, dict) else {}
    return Project(
        path=path,
        values=MappingProxyType(values),
        scripts=MappingProxyType({str(k): str(v) for k, v in scripts.items()}),
        dependencies=tuple(dependencies),
        license=license_ if isinstance(license_, str) and license_ else None,
        poetry_scripts=tuple(sorted(map(str, poetry_scripts)))
        if isinstance(poetry_scripts, dict)
        else (),
    )


def merge(
    given: Mapping[str, tuple[Any, Source | None]], project: Project
) -> tuple[dict[str, Any], dict[str, Source]]:
    """Flag > environment > ``[tool.pybin2img]`` > default, with where each value came from.

    ``given`` maps each setting's dest to its value from the command line and ``"flag"``,
    the environment variable's name, or ``None`` (the value is the default).
    """
    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for setting in BUILD_SETTINGS:
        value, source = given.get(setting.dest, (_empty(setting), None))
        if source is None and setting.dest in project.values:
            value, source = project.values[setting.dest], "pyproject"
        values[setting.dest] = value
        sources[setting.dest] = source or "default"
    return values, sources


def _empty(setting: Setting) -> Any:
    if setting.kind == "flag":
        return False
    return () if setting.repeatable else setting.default


def _convert(setting: Setting, raw: Any, path: Path) -> Any:
    where = f"{path}: [tool.pybin2img] {setting.name}"
    base = path.parent
    if setting.kind in ("flag", "switch"):
        if not isinstance(raw, bool):
            raise ConfigError(f"{where} must be true or false")
        return raw
    if setting.kind == "base":
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be scratch, distroless or an image tarball's path")
        return raw if raw in BASES else str(base / raw)
    if setting.kind == "optional":
        if raw is True:
            return ""
        if raw is False:
            return None
        if not isinstance(raw, str):
            raise ConfigError(f"{where} must be true, false or a string of arguments")
        return raw
    if setting.kind == "int":
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
            raise ConfigError(f"{where} must be a positive integer")
        return raw
    if setting.kind == "pairs":
        if isinstance(raw, dict):
            return tuple(f"{k}={v}" for k, v in raw.items())
        raw = _string_list(raw, where)
        return tuple(raw)
    if setting.repeatable:
        items = _string_list(raw, where)
        if setting.kind == "paths":
            return tuple(base / item for item in items)
        return tuple(items)
    if not isinstance(raw, str):
        raise ConfigError(f"{where} must be a string")
    if setting.kind == "choice" and raw not in setting.choices:
        raise ConfigError(f"{where} must be one of {', '.join(setting.choices)}, not {raw!r}")
    if setting.kind == "path":
        return base / raw
    return raw


def _string_list(raw: Any, where: str) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(item, (str, int)) for item in raw):
        raise ConfigError(f"{where} must be a string or a list of strings")
    return [str(item) for item in raw]


def options_table() -> str:
    """The README's option table, generated from the registry."""
    lines = [
        "| flag | environment | `[tool.pybin2img]` | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in BUILD_SETTINGS:
        flag = f"`{s.short}`, `{s.flag}`" if s.short else f"`{s.flag}`"
        if s.kind == "switch":
            flag = f"`{s.flag}`/`--no-{s.name}`"
        elif s.kind == "choice":
            flag += " " + "\\|".join(s.choices)
        elif s.metavar:
            flag += f" {s.metavar}"
        env = f"`{s.envvar}`" if s.configurable else ""
        key = f"`{s.name}`" if s.configurable else ""
        default = "" if s.default in (None, False, ()) else f"`{s.default}`"
        if s.kind == "switch":
            default = "on" if s.default else "off"
        repeat = " Repeatable." if s.repeatable else ""
        lines.append(f"| {flag} | {env} | {key} | {default} | {s.help}{repeat} |")
    return "\n".join(lines) + "\n"
