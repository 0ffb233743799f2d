"""What is compiled to C and what ships as bytecode: ``--bytecode`` and ``--compile`` made into
the package names Nuitka is given (``--noinclude-custom-mode=PACKAGE:bytecode``).

``third-party`` (the default) names every top-level module and package installed in the build
environment's ``site-packages`` (``dist-packages`` on Debian), except those named like one of
the app's own modules or packages, which are always compiled. Nuitka only applies the choice to
what the app imports, so naming an unused package costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable
from pathlib import Path

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
