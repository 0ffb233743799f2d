"""What Nuitka sees of the app's directories: each one as a view without the standard library's
names.

Nuitka searches the main script's directory (and its working directory) before anything else,
for every module it compiles, the standard library's own imports included. An ``inspect.py`` or
``types.py`` lying beside the app would then replace the standard library's in the binary (and
break Nuitka's own start-up when it runs there with ``-m``). On the build machine ``python
app.py`` does not suffer from this for the modules the interpreter imports before the app runs.

So Nuitka is given views: a directory of symlinks to every entry of the app's directory except
the files and packages that are importable under a standard library module's name. The app's own
modules resolve from its directory as on the build machine; a relative path in a Nuitka
argument still finds its file; the standard library is always the interpreter's. The probe
refuses an app that itself imports such a file (``import secrets`` of its own ``secrets.py``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from .probe import Interpreter
from .target import CompileTarget


@dataclass(frozen=True, kw_only=True)
class ImportView:
    """Where Nuitka runs and what it is given, in terms of views."""

    #: Nuitka's working directory: the view of :attr:`CompileTarget.cwd`.
    cwd: Path
    #: What Nuitka compiles: inside the view when the target's main lies in its directory.
    main: Path
    #: Views of the import roots that are neither the working directory nor on the
    #: interpreter's own ``sys.path``: Nuitka's ``PYTHONPATH``.
    pythonpath: tuple[Path, ...] = ()
    #: Host paths left out of the views (the files named like standard library modules).
    hidden: tuple[Path, ...] = ()


def import_view(target: CompileTarget, interpreter: Interpreter, workdir: Path) -> ImportView:
    """Make the views of ``target``'s directories under ``workdir`` (a fresh directory)."""
    hidden: list[Path] = []
    made: dict[Path, Path] = {}

    def view(directory: Path) -> Path:
        if directory not in made:
            where = workdir / "imports" / str(len(made))
            hidden.extend(
                _mirror(
                    directory,
                    where,
                    stdlib=interpreter.stdlib_modules,
                    suffixes=interpreter.module_suffixes,
                )
            )
            made[directory] = where
        return made[directory]

    cwd = view(target.cwd)
    main = target.main
    if main.parent == target.cwd:
        main = cwd / main.name
        if not main.is_symlink():  # the app itself is named like a standard library module
            main.symlink_to(target.main)
            hidden.remove(target.main)
    on_path = {os.path.normpath(p) for p in interpreter.sys_path if p}
    roots = [
        view(root)
        for root in target.pythonpath
        if root != target.cwd and os.path.normpath(root) not in on_path
    ]
    return ImportView(cwd=cwd, main=main, pythonpath=tuple(roots), hidden=tuple(hidden))


def _mirror(
    directory: Path, into: Path, *, stdlib: Collection[str], suffixes: Sequence[str]
) -> list[Path]:
    """Symlink every entry of ``directory`` into ``into`` but those importable under a
    standard library module's name; return those."""
    into.mkdir(parents=True)
    left_out = []
    for name in sorted(os.listdir(directory)):
        source = directory / name
        if _module_name(source, suffixes) in stdlib:
            left_out.append(source)
            continue
        (into / name).symlink_to(source)
    return left_out


def _module_name(path: Path, suffixes: Sequence[str]) -> str | None:
    """The module name ``path`` is importable as (a module file, or a package directory)."""
    name = path.name
    if path.is_dir():
        if name.isidentifier() and any((path / f"__init__{s}").is_file() for s in suffixes):
            return name
        return None
    for suffix in sorted(suffixes, key=len, reverse=True):
        if name.endswith(suffix) and path.is_file():
            stem = name[: -len(suffix)]
            return stem if stem.isidentifier() else None
    return None
