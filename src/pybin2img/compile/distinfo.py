"""The project's own distribution metadata, made from its ``pyproject.toml``.

A project built from its directory is not installed in the build environment, so
``importlib.metadata.version("<the project>")`` and its entry points would find nothing in the
program. pybin2img writes the ``.dist-info`` directory an installer would (``METADATA``,
``entry_points.txt``, ``top_level.txt``) into a directory that Nuitka and the probe see on their
import path: Nuitka then answers ``version()``, ``distribution()`` and ``entry_points()`` for
the project from it, as for any installed distribution, and the probe reads its entry-point
groups. Nothing is built or installed; no build backend runs.

The version is ``[project] version``; a dynamic one is read where the common build backends
take it from without running anything: setuptools' ``version = {attr = …}`` or ``{file = …}``,
hatch's ``[tool.hatch.version] path``, else the ``__version__`` of the project's single
top-level package, else the version of the project as the build interpreter has it installed
(``pip install -e .``, where a version kept in version control, setuptools-scm's or hatch-vcs's,
was computed). Otherwise the build warns and the program has no metadata of the project.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True, kw_only=True)
class DistInfo:
    """A ``.dist-info`` directory to write: its name and its files' text."""

    name: str
    version: str
    #: ``<name>-<version>.dist-info``.
    directory: str
    #: ``(file name, text)``.
    files: tuple[tuple[str, str], ...]

    def write(self, into: Path) -> None:
        """Write it under ``into`` (files already holding the same text are left alone)."""
        directory = into / self.directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in into.glob("*.dist-info"):
            if stale.name != self.directory:
                for file in stale.iterdir():
                    file.unlink()
                stale.rmdir()
        for name, text in self.files:
            path = directory / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                temporary = path.with_name(f".{name}.tmp")
                temporary.write_text(text, encoding="utf-8")
                temporary.replace(path)


def project_dist_info(
    pyproject: Path,
    root: Path,
    top_level: Sequence[str],
    installed: Mapping[str, str] | None = None,
) -> tuple[DistInfo | None, str | None]:
    """The project's ``.dist-info`` (``root``: where its packages are; ``top_level``: their
    names), or ``None`` with the reason when it cannot be made. ``installed``: the build
    interpreter's distributions (normalized name -> version), where a version kept in version
    control is found when the project is installed there (``pip install -e .``)."""
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return None, None  # read and checked before: settings.read_project
    project = document.get("project")
    if not isinstance(project, dict) or not isinstance(project.get("name"), str):
        return None, f"{pyproject} has no [project] name: the program has no metadata of it"
    name = project["name"]
    version = project.get("version")
    if not isinstance(version, str):
        version = _dynamic_version(document, pyproject.parent, root, top_level)
    if version is None:
        version = (installed or {}).get(re.sub(r"[-_.]+", "-", name).lower())
    if version is None:
        return None, (
            f"the version of {name} is dynamic and cannot be read from {pyproject.name} or "
            "its sources (setuptools' attr/file, hatch's path, a package's __version__), and "
            f"{name} is not installed for the build interpreter (pip install -e .): "
            f"importlib.metadata will not find {name} in the image"
        )
    files = [
        ("METADATA", _metadata(project, name, version, pyproject.parent)),
        ("top_level.txt", "".join(f"{m}\n" for m in sorted(top_level))),
    ]
    entry_points = _entry_points(project)
    if entry_points:
        files.append(("entry_points.txt", entry_points))
    files.append(("INSTALLER", "pybin2img\n"))
    directory = f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    return DistInfo(name=name, version=version, directory=directory, files=tuple(files)), None


def _metadata(project: Mapping[str, Any], name: str, version: str, base: Path) -> str:
    """Core metadata (``METADATA``) from the ``[project]`` table."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if isinstance(project.get("description"), str):
        lines.append(f"Summary: {' '.join(project['description'].split())}")
    if isinstance(project.get("requires-python"), str):
        lines.append(f"Requires-Python: {project['requires-python']}")
    license_ = project.get("license")
    if isinstance(license_, str):
        lines.append(f"License-Expression: {license_}")
    elif isinstance(license_, dict) and isinstance(license_.get("text"), str):
        lines.append(f"License: {' '.join(license_['text'].split())}")
    for role in ("author", "maintainer"):
        people = [p for p in project.get(f"{role}s") or () if isinstance(p, dict)]
        names = [p["name"] for p in people if "name" in p and "email" not in p]
        emails = [
            f"{p['name']} <{p['email']}>" if "name" in p else p["email"]
            for p in people
            if "email" in p
        ]
        if names:
            lines.append(f"{role.title()}: {', '.join(names)}")
        if emails:
            lines.append(f"{role.title()}-email: {', '.join(emails)}")
    if project.get("keywords"):
        lines.append(f"Keywords: {','.join(map(str, project['keywords']))}")
    lines += [f"Classifier: {c}" for c in project.get("classifiers") or ()]
    for label, url in (project.get("urls") or {}).items():
        lines.append(f"Project-URL: {label}, {url}")
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies") or ()]
    for extra, requirements in (project.get("optional-dependencies") or {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for requirement in requirements:
            spec, _, marker = requirement.partition(";")
            condition = f'extra == "{extra}"'
            if marker.strip():
                condition = f"({marker.strip()}) and {condition}"
            lines.append(f"Requires-Dist: {spec.strip()}; {condition}")
    description = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        readme = {"file": readme}
    if isinstance(readme, dict):
        if isinstance(readme.get("text"), str):
            description = readme["text"]
        elif isinstance(readme.get("file"), str):
            try:
                description = (base / readme["file"]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                description = ""
        content_type = readme.get("content-type") or (
            "text/markdown" if str(readme.get("file", "")).endswith(".md") else None
        )
        if content_type and description:
            lines.append(f"Description-Content-Type: {content_type}")
    text = "\n".join(lines) + "\n"
    return text + ("\n" + description if description else "")


def _entry_points(project: Mapping[str, Any]) -> str:
    """``entry_points.txt`` from ``[project.scripts]``, ``[project.gui-scripts]`` and
    ``[project.entry-points.*]``."""
    groups: dict[str, Mapping[str, Any]] = {}
    if isinstance(project.get("scripts"), dict):
        groups["console_scripts"] = project["scripts"]
    if isinstance(project.get("gui-scripts"), dict):
        groups["gui_scripts"] = project["gui-scripts"]
    for group, entries in (project.get("entry-points") or {}).items():
        if isinstance(entries, dict):
            groups[group] = entries
    sections = []
    for group, entries in groups.items():
        body = "".join(f"{key} = {value}\n" for key, value in entries.items())
        sections.append(f"[{group}]\n{body}")
    return "\n".join(sections)


def _dynamic_version(
    document: Mapping[str, Any], base: Path, root: Path, top_level: Sequence[str]
) -> str | None:
    """A dynamic version, from where the build backends read it without running code."""
    tool = document.get("tool") or {}
    setuptools = ((tool.get("setuptools") or {}).get("dynamic") or {}).get("version")
    if isinstance(setuptools, dict):
        if isinstance(setuptools.get("attr"), str):
            module, _, attribute = setuptools["attr"].rpartition(".")
            for candidate in (root, base):
                found = _module_file(candidate, module)
                if found is not None:
                    return _assigned(found, attribute)
        files = setuptools.get("file")
        if isinstance(files, str):
            files = [files]
        if isinstance(files, list) and files:
            try:
                return (base / files[0]).read_text(encoding="utf-8").strip() or None
            except OSError:
                return None
    hatch = (tool.get("hatch") or {}).get("version") or {}
    if isinstance(hatch.get("path"), str):
        return _assigned(base / hatch["path"], "__version__")
    packages = [m for m in top_level if (root / m / "__init__.py").is_file()]
    if len(packages) == 1:
        return _assigned(root / packages[0] / "__init__.py", "__version__")
    return None


def _module_file(root: Path, module: str) -> Path | None:
    path = root.joinpath(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _assigned(path: Path, name: str) -> str | None:
    """The string literal assigned to ``name`` at the top of a Python file."""
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign) and node.value is not None
            else []
        )
        value = getattr(node, "value", None)
        if (
            any(isinstance(t, ast.Name) and t.id == name for t in targets)
            and isinstance(value, ast.Constant)
            and isinstance(value.value, str)
        ):
            return value.value
    return None
