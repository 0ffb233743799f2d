"""A project's ``[project.dependencies]`` against what the build interpreter has installed.

A project built with its own venv (``--python .venv/bin/python`` after ``uv sync``,
``poetry install`` or ``pip install -e .``; or pybin2img installed there) runs on the user's
machine with the versions installed there, which its lock file pinned. When that interpreter
has every dependency (with its extras and what each requires in turn, markers evaluated for
it), the build compiles those, as installed. Otherwise a build environment installs the
dependencies from the package index (compile/buildenv.py), pinned by the project's lock file
where it has one pybin2img reads (``uv.lock``, ``pylock.toml``, ``poetry.lock``,
``pdm.lock``): each package the lock takes from an index at one version is a constraint
(``name==version``); a package locked at several versions (a fork by markers) or from
elsewhere (git, a path) is not pinned.

Requirements and markers are read by ``packaging``, the reference implementation of PEP 508
and PEP 440; the interpreter is asked only for its distributions and its marker environment,
with no library of its own (a uv venv has no pip).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import ConfigError
from .probe import ask_interpreter

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

#: Asked of the interpreter (``-I``, as the probe runs it): every installed distribution with
#: its version and ``Requires-Dist``, and the environment PEP 508 markers are evaluated in
#: (``packaging.markers.default_environment()``, computed without ``packaging``).
_INSTALLED = r"""
import json, os, platform, re, sys
from importlib import metadata
def full(info):
    version = "%d.%d.%d" % (info.major, info.minor, info.micro)
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return version
env = {
    "implementation_name": sys.implementation.name,
    "implementation_version": full(sys.implementation.version),
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}
dists = {}
for dist in metadata.distributions():
    try:
        name = dist.metadata["Name"]
        if not name:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key not in dists:
            dists[key] = {"version": dist.version, "requires": dist.requires or []}
    except Exception:
        continue  # a damaged installation's metadata: as if not installed
print(json.dumps({"environment": env, "distributions": dists}))
"""


@dataclass(frozen=True)
class Installed:
    """What an interpreter has installed: ``distributions`` by normalized name (``version``,
    ``requires``), and its marker ``environment``."""

    distributions: Mapping[str, Mapping[str, object]]
    environment: Mapping[str, str]


def installed(python: Path) -> Installed:
    """Ask ``python`` for its distributions and marker environment."""
    report = ask_interpreter(
        python,
        _INSTALLED,
        what="list its installed packages",
        shape={"distributions": dict, "environment": dict},
    )
    return Installed(report["distributions"], report["environment"])


def unmet(dependencies: Sequence[str], have: Installed) -> list[str]:
    """The requirements among ``dependencies`` (and, for those installed, what they require in
    turn, with their extras) that ``have`` does not meet, each as ``humanize>=4 (not
    installed)`` or ``(4.8.0 installed)``. Empty: the interpreter has them all."""
    missing: list[str] = []
    seen: set[tuple[str, frozenset[str]]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(dep, frozenset()) for dep in dependencies]
    while todo:
        text, extras = todo.pop(0)
        try:
            req = Requirement(text)
        except InvalidRequirement:
            missing.append(f"{text} (not a requirement pybin2img reads)")
            continue
        if req.marker is not None and not _applies(req, have.environment, extras):
            continue
        name = canonicalize_name(req.name)
        dist = have.distributions.get(name)
        if dist is None:
            missing.append(f"{req} (not installed)")
            continue
        version = str(dist.get("version", ""))
        try:
            ok = req.specifier.contains(Version(version), prereleases=True)
        except InvalidVersion:
            ok = not req.specifier
        if not ok:
            missing.append(f"{req} ({version} installed)")
            continue
        wanted = frozenset(canonicalize_name(e) for e in req.extras)
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        requires = dist.get("requires")
        for sub in requires if isinstance(requires, list) else []:
            todo.append((str(sub), wanted))
    return missing


def _applies(req: Requirement, environment: Mapping[str, str], extras: frozenset[str]) -> bool:
    """Whether the requirement's marker holds for the interpreter (with one of ``extras``), as
    pip decides it (``packaging`` fills names the report lacks from pybin2img's own process);
    a marker that still cannot be evaluated is taken to hold (the requirement is checked)."""
    assert req.marker is not None
    try:
        return any(
            req.marker.evaluate({**environment, "extra": extra})
            for extra in (sorted(extras) or [""])
        )
    except (UndefinedComparison, UndefinedEnvironmentName, InvalidVersion, ValueError):
        return True


#: Lock files whose pins pybin2img reads, and the table of packages in each.
_LOCK_TABLES = {
    "uv.lock": "package",
    "pylock.toml": "packages",
    "poetry.lock": "package",
    "pdm.lock": "package",
}
#: Every lock file of the tools people make a project's venv with: pipenv's is not read.
LOCK_FILES = (*_LOCK_TABLES, "Pipfile.lock")


def lock_files(project: Path) -> list[str]:
    """The lock files beside the project's ``pyproject.toml``."""
    return [name for name in LOCK_FILES if (project / name).is_file()]


@dataclass(frozen=True)
class LockPins:
    """The versions a project's lock file pins, as pip constraints."""

    #: The lock file's name (``uv.lock``).
    name: str
    #: ``name==version``, sorted.
    constraints: tuple[str, ...]
    #: Packages the lock has at several versions or from outside an index: left unpinned.
    unpinned: tuple[str, ...]


def lock_pins(project: Path) -> LockPins | None:
    """The pins of the first lock file beside the project that pybin2img reads; ``None``
    when there is none. A lock file that does not parse is a :class:`UsageError`."""
    for name, table in _LOCK_TABLES.items():
        path = project / name
        if not path.is_file():
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the lock file {path}: {exc}") from exc
        entries = document.get(table, [])
        versions: dict[str, set[str]] = {}
        elsewhere: set[str] = set()
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            package, version = entry.get("name"), entry.get("version")
            if not isinstance(package, str) or not isinstance(version, str):
                continue
            key = canonicalize_name(package)
            if _is_the_project(entry):
                continue
            if not _from_an_index(name, entry):
                elsewhere.add(key)
                continue
            versions.setdefault(key, set()).add(version)
        pinned = {k: next(iter(v)) for k, v in versions.items() if len(v) == 1}
        unpinned = sorted(elsewhere | {k for k, v in versions.items() if len(v) > 1})
        return LockPins(
            name=name,
            constraints=tuple(f"{k}=={v}" for k, v in sorted(pinned.items()) if k not in elsewhere),
            unpinned=tuple(unpinned),
        )
    return None


def out_of_date(dependencies: Sequence[str], pins: LockPins, have: Installed) -> list[str]:
    """The project's dependencies (markers evaluated for the interpreter ``have`` describes)
    that the lock pins at a version they exclude: ``humanize 4.8.0, which humanize>=4.9
    excludes``. A lock made before ``[project.dependencies]`` last changed."""
    pinned = dict(c.split("==", 1) for c in pins.constraints)
    found = []
    for text in dependencies:
        try:
            req = Requirement(text)
            version = pinned.get(canonicalize_name(req.name))
            if version is None or (
                req.marker is not None and not _applies(req, have.environment, frozenset())
            ):
                continue
            if not req.specifier.contains(Version(version), prereleases=True):
                found.append(f"{req.name} {version}, which {req} excludes")
        except (InvalidRequirement, InvalidVersion):
            continue
    return found


def _is_the_project(entry: Mapping[str, object]) -> bool:
    """Whether the entry is the project itself (uv's ``source = { editable = "." }``)."""
    for key in ("source", "directory"):
        where = entry.get(key)
        if isinstance(where, dict) and any(
            where.get(k) == "." for k in ("editable", "virtual", "path")
        ):
            return True
    return False


def _from_an_index(lock: str, entry: Mapping[str, object]) -> bool:
    """Whether the lock takes this package from a package index (not git, a path or the
    project itself)."""
    source = entry.get("source")
    if lock == "uv.lock":
        return isinstance(source, dict) and "registry" in source
    if lock == "poetry.lock":
        return source is None or (isinstance(source, dict) and source.get("type") == "legacy")
    if lock == "pylock.toml":
        return not any(key in entry for key in ("vcs", "directory", "archive"))
    return not any(key in entry for key in ("path", "git", "url", "editable"))
