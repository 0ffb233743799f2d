"""What is compiled to C and what ships as bytecode: ``--bytecode`` and ``--compile`` made into
the package names Nuitka is given (``--noinclude-custom-mode=PACKAGE:bytecode``).

``third-party`` (the default) names every top-level module and package installed in the build
environment's ``site-packages`` (``dist-packages`` on Debian), except those named like one of
the app's own modules or packages, which are always compiled. Nuitka only applies the choice to
what the app imports, so naming an unused package costs nothing.

A package's code often asks for its own distribution's metadata (werkzeug's server:
``importlib.metadata.version("werkzeug")``). Nuitka answers such a call at compile time in the
modules it compiles to C, and ships no metadata for it; in a module shipped as bytecode the call
runs, and finds nothing. So each package shipped as bytecode gets its distributions' metadata
(``METADATA``, entry points) in the program, through a Nuitka package configuration
(``data-files: include-metadata``) that applies only when the app imports the package.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from ..options import THIRD_PARTY, BuildOptions
from .probe import Interpreter

#: ``sys.path`` entries that hold installed distributions (``site.getsitepackages()``).
_SITE_DIRS = ("site-packages", "dist-packages")


def bytecode_packages(
    options: BuildOptions, interpreter: Interpreter, app_dirs: Iterable[Path]
) -> tuple[str, ...]:
    """The packages Nuitka ships as bytecode, sorted: ``options.bytecode`` with ``third-party``
    expanded, less what ``--compile`` names (a package and everything inside it)."""
    names: set[str] = set()
    for item in options.bytecode:
        if item == THIRD_PARTY:
            own = {name for directory in app_dirs for name in module_names(directory)}
            names.update(third_party_packages(interpreter, own))
        else:
            names.add(item)
    compiled = set(options.compile)
    return tuple(sorted(n for n in names if n.split(".")[0] not in compiled))


def third_party_packages(interpreter: Interpreter, own: Collection[str] = ()) -> list[str]:
    """Top-level names importable from the interpreter's ``site-packages`` directories, but
    the standard library's and ``own``."""
    found: set[str] = set()
    for entry in interpreter.sys_path:
        if entry and Path(entry).name in _SITE_DIRS:
            found.update(module_names(Path(entry)))
    return sorted(found - set(own) - interpreter.stdlib_modules)


def metadata_config(packages: Iterable[str], interpreter: Interpreter) -> list[dict[str, Any]]:
    """Nuitka package configuration entries: for each package (its top level), the metadata of
    the installed distributions that provide it, included when the package is."""
    providers = distributions_by_package(interpreter)
    tops = sorted({package.split(".")[0] for package in packages})
    return [
        {"module-name": top, "data-files": [{"include-metadata": providers[top]}]}
        for top in tops
        if top in providers
    ]


def distributions_by_package(interpreter: Interpreter) -> dict[str, list[str]]:
    """Top-level module name -> names of the distributions in ``site-packages`` that install
    it (from each ``*.dist-info``: ``top_level.txt``, else the paths in ``RECORD``)."""
    found: dict[str, set[str]] = {}
    for entry in interpreter.sys_path:
        if not entry or Path(entry).name not in _SITE_DIRS:
            continue
        for info in sorted(Path(entry).glob("*.dist-info")):
            name = _distribution_name(info)
            if name:
                for top in _top_level(info):
                    found.setdefault(top, set()).add(name)
    return {top: sorted(names) for top, names in found.items()}


def _distribution_name(info: Path) -> str | None:
    try:
        with (info / "METADATA").open(encoding="utf-8", errors="replace") as metadata:
            for line in metadata:
                if line.startswith("Name:"):
                    return line.partition(":")[2].strip() or None
                if not line.strip():
                    break
    except OSError:
        pass
    return None


def _top_level(info: Path) -> set[str]:
    try:
        return {
            line.strip()
            for line in (info / "top_level.txt").read_text().splitlines()
            if line.strip().isidentifier()
        }
    except OSError:
        pass
    tops = set()
    try:
        records = (info / "RECORD").read_text(errors="replace").splitlines()
    except OSError:
        return set()
    for record in records:
        first = record.split(",", 1)[0].split("/", 1)
        if len(first) == 2 and first[0].isidentifier() and first[0] != "__pycache__":
            tops.add(first[0])
        elif len(first) == 1 and first[0].endswith(".py") and first[0][:-3].isidentifier():
            tops.add(first[0][:-3])
    return tops


def module_names(directory: Path) -> set[str]:
    """Names of the Python modules and packages (regular or namespace) in ``directory``."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return set()
    names = set()
    for name in entries:
        if name == "__pycache__":
            continue
        if name.endswith(".py"):
            stem = name[:-3]
            if stem.isidentifier():
                names.add(stem)
        elif name.isidentifier() and (directory / name).is_dir():
            names.add(name)
    return names
