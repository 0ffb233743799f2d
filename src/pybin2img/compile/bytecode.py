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

Nuitka runs code of its own just before or after some modules are imported (its plugins' and
package configurations' ``pre-import-code``/``post-import-code``: anyio's ``to_process``,
scipy's ``optimize._cobyla_py``, ...). It makes that code a module named after the imported one
(``anyio.to_process-postLoad``), which falls under ``anyio``'s mode, and Nuitka 4.3 cannot ship
such a module as bytecode (it stops with ``AttributeError: 'UncompiledPythonModule' object has
no attribute 'getCompilationMode'``). So a package holding one of these modules is named part by
part: its subpackages and modules, less the path down to the module, which are compiled.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from ..options import THIRD_PARTY, BuildOptions
from .probe import Interpreter

#: ``sys.path`` entries that hold installed distributions (``site.getsitepackages()``).
_SITE_DIRS = ("site-packages", "dist-packages")

#: Modules inside packages that Nuitka 4.3's plugins run code of their own for, when they are
#: imported (``createPreModuleLoadCode``/``createPostModuleLoadCode``); the package
#: configurations' are read from the configuration files Nuitka ships (:func:`nuitka_triggers`).
PLUGIN_TRIGGERS = frozenset(
    {
        "anyio.to_process",  # the multiprocessing plugin's worker start
        "pbr.packaging",
        *(
            f"{binding}.{module}"
            for binding in ("PyQt5", "PyQt6", "PySide2", "PySide6")
            for module in ("QtCore", "QtNetwork")
        ),
    }
)

_CONFIG_MODULE = re.compile(r"^- module-name: *['\"]?([^'\"#\s]+)")
_CONFIG_TRIGGER = re.compile(r"^\s+(?:- )?(?:pre|post)-import-code:")


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
    names = {n for n in names if n.split(".")[0] not in compiled}
    dirs = site_dirs(interpreter.sys_path)
    return tuple(sorted(around_triggers(names, nuitka_triggers(dirs), dirs)))


def around_triggers(names: Iterable[str], triggers: Collection[str], dirs: list[Path]) -> set[str]:
    """``names`` with every package that holds one of ``triggers`` (dotted module names)
    replaced by its parts but the path down to the trigger, which is left to be compiled;
    the packages are looked for in ``dirs``."""
    found: set[str] = set()
    for name in names:
        inside = {t for t in triggers if t.startswith(name + ".")}
        if name not in triggers:
            found.update(_parts(name, inside, dirs) if inside else {name})
    return found


def _parts(package: str, triggers: set[str], dirs: list[Path]) -> set[str]:
    relative = Path(*package.split("."))
    children = set().union(*(module_names(d / relative) for d in dirs if (d / relative).is_dir()))
    parts: set[str] = set()
    for child in children - {"__init__"}:
        full = f"{package}.{child}"
        inside = {t for t in triggers if t.startswith(full + ".")}
        if inside:
            parts |= _parts(full, inside, dirs)
        elif full not in triggers:
            parts.add(full)
    return parts


def nuitka_triggers(dirs: Iterable[Path]) -> frozenset[str]:
    """The dotted module names Nuitka runs code of its own for at import: its plugins'
    (:data:`PLUGIN_TRIGGERS`) and those its package configuration files give
    ``pre-import-code`` or ``post-import-code`` (``nuitka/plugins/standard/*.yml`` in the
    build environment's ``dirs``, read as text)."""
    found = set(PLUGIN_TRIGGERS)
    for site in dirs:
        for config in sorted(
            (site / "nuitka/plugins/standard").glob("*.nuitka-package.config.yml")
        ):
            try:
                lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            module = None
            for line in lines:
                if match := _CONFIG_MODULE.match(line):
                    module = match.group(1)
                elif module and "." in module and _CONFIG_TRIGGER.match(line):
                    found.add(module)
    return frozenset(found)


def site_dirs(sys_path: Iterable[str]) -> list[Path]:
    """The entries of ``sys_path`` that hold installed distributions."""
    return [Path(e) for e in sys_path if e and Path(e).name in _SITE_DIRS]


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
