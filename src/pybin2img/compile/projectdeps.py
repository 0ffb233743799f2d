"""A project's ``[project.dependencies]`` against what the build interpreter has installed.

A project built with its own venv (``--python .venv/bin/python`` after ``uv sync``,
``poetry install`` or ``pip install -e .``; or pybin2img installed there) runs on the user's
machine with the versions installed there, which its lock file pinned. When that interpreter
has every dependency (with its extras and what each requires in turn, markers evaluated for
it), the build compiles those, as installed; otherwise a build environment resolves the
dependencies from the package index (compile/buildenv.py), and a lock file beside the project
is not read: the build says so.

Requirements and markers are read by ``packaging``, the reference implementation of PEP 508
and PEP 440; the interpreter is asked only for its distributions and its marker environment,
with no library of its own (a uv venv has no pip).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import UsageError

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
    name = dist.metadata["Name"]
    if not name:
        continue
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key not in dists:
        dists[key] = {"version": dist.version, "requires": dist.requires or []}
print(json.dumps({"environment": env, "distributions": dists}))
"""

#: Lock files of the tools people make a project's venv with: a build that resolves the
#: dependencies itself does not read them.
LOCK_FILES = ("uv.lock", "pylock.toml", "poetry.lock", "pdm.lock", "Pipfile.lock")


@dataclass(frozen=True)
class Installed:
    """What an interpreter has installed: ``distributions`` by normalized name (``version``,
    ``requires``), and its marker ``environment``."""

    distributions: Mapping[str, Mapping[str, object]]
    environment: Mapping[str, str]


def installed(python: Path) -> Installed:
    """Ask ``python`` for its distributions and marker environment."""
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _INSTALLED],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        report = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        report = None
    if (
        not isinstance(report, dict)
        or not isinstance(report.get("distributions"), dict)
        or not isinstance(report.get("environment"), dict)
    ):
        raise UsageError(f"Python interpreter {python} failed to list its installed packages")
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
        if req.marker is not None and not any(
            req.marker.evaluate({**have.environment, "extra": extra})
            for extra in (sorted(extras) or [""])
        ):
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


def lock_files(project: Path) -> list[str]:
    """The lock files beside the project's ``pyproject.toml``."""
    return [name for name in LOCK_FILES if (project / name).is_file()]
