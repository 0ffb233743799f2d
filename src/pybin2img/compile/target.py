"""What APP names, and how Nuitka is pointed at it.

APP may be a script (``app.py``), a package directory with ``__main__.py``, a module
(``-m pkg.mod``), or a project directory whose ``pyproject.toml`` has ``[project.scripts]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..app import AppKind, AppSpec
from ..errors import ConfigError, UsageError
from .distinfo import DistInfo, project_dist_info

_ENTRY = re.compile(r"^\s*([\w.]+)\s*:\s*([\w.]+)\s*(\[.*\])?\s*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True, kw_only=True)
class CompileTarget:
    """How Nuitka compiles the app."""

    #: What Nuitka is given: the script, the package directory, or a generated launcher.
    main: Path
    #: The binary's file name in /app.
    binary_name: str
    #: Arguments Nuitka needs for this kind of input.
    nuitka_args: tuple[str, ...] = ()
    #: Import roots added to ``PYTHONPATH`` while compiling (a project's ``src``).
    pythonpath: tuple[Path, ...] = ()
    #: The directory Nuitka runs in.
    cwd: Path
    #: Python files checked for syntax errors before compiling.
    sources: tuple[Path, ...] = ()
    #: Launcher source to write at ``main`` before compiling (project entry points).
    launcher: str | None = None
    #: Dist-relative directories holding the app's own files (its packages' data): they go
    #: into the top layer with the binary.
    app_data: tuple[str, ...] = ()
    #: A project's own metadata, written into :attr:`metadata_dir` (on :attr:`pythonpath`)
    #: before the probe and Nuitka run.
    dist_info: DistInfo | None = None
    metadata_dir: Path | None = None
    #: Why the project's metadata could not be made, for a warning.
    notes: tuple[str, ...] = ()


def _top_packages(root: Path) -> set[str]:
    if not root.is_dir():
        return set()
    return {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}


def _top_modules(root: Path) -> set[str]:
    """The single-file modules at the top of a project's import root (no ``setup.py``)."""
    if not root.is_dir():
        return set()
    return {
        p.stem
        for p in root.glob("*.py")
        if p.stem.isidentifier() and p.stem not in ("setup", "conftest", "noxfile")
    }


def _binary_name(name: str, packages: set[str]) -> str:
    # A package's data files live in /app/<package>/, so the binary cannot take that name.
    return f"{name}.bin" if name in packages else name


def compile_target(
    app: AppSpec,
    launcher_dir: Path,
    module_origin: Path | None = None,
    installed: Mapping[str, str] | None = None,
) -> CompileTarget:
    """How to compile ``app``. ``module_origin`` is where the build interpreter finds a MODULE;
    ``launcher_dir`` is a stable directory for a project's generated entry-point script;
    ``installed``: the build interpreter's distributions (normalized name -> version), for a
    project's version kept in version control."""
    if app.kind is AppKind.SCRIPT:
        return CompileTarget(
            main=app.path, binary_name=app.name, cwd=app.path.parent, sources=(app.path,)
        )
    if app.kind is AppKind.PACKAGE:
        return _package_target(app.path, app.path.name)
    if app.kind is AppKind.MODULE:
        assert app.module is not None
        if module_origin is None:
            raise UsageError(f"module {app.module!r} was not found by the build interpreter")
        name = app.module.rsplit(".", 1)[-1]
        if module_origin.name == "__init__.py":
            package = module_origin.parent
            if not (package / "__main__.py").is_file():
                raise UsageError(f"-m {app.module}: package {package} has no __main__.py")
            return _package_target(package, name)
        root = module_origin.parent
        for _ in range(app.module.count(".")):
            root = root.parent
        return CompileTarget(
            main=module_origin,
            binary_name=_binary_name(name, {app.module.split(".")[0]}),
            pythonpath=(root,),
            cwd=app.path,
            sources=(module_origin,),
        )
    assert app.kind is AppKind.PROJECT
    assert app.script is not None
    assert app.entry_point is not None
    entry = app.entry_point
    match = _ENTRY.match(entry)
    if not match:
        raise ConfigError(f"[project.scripts] {app.script} = {entry!r} is not 'module:function'")
    module, function = match.group(1), match.group(2)
    src = app.path / "src"
    root = src if src.is_dir() and (src / module.split(".")[0]).exists() else app.path
    if not _NAME.match(app.script):
        raise ConfigError(f"[project.scripts] name {app.script!r} is not a valid file name")
    # Never an importable name: Nuitka searches the launcher's directory first, and a launcher
    # named as the script (``cowsay_app.py`` for ``cowsay-app``, as ``uv init --package`` makes
    # it) hid the project's own package, or a standard library module (``http``).
    launcher = launcher_dir / f"{app.script.replace('.', '_')}-launcher.py"
    obj, _, attr = function.partition(".")
    call = f"{obj}.{attr}()" if attr else f"{obj}()"
    code = (
        f'"""Entry point {app.script} = {entry}, generated by pybin2img."""\n'
        "import sys\n\n"
        f"from {module} import {obj}\n\n"
        f"sys.exit({call})\n"
    )
    top = _top_packages(root)
    dist_info, note = project_dist_info(
        app.path / "pyproject.toml", root, sorted(top | _top_modules(root)), installed
    )
    metadata_dir = launcher_dir / "metadata"
    return CompileTarget(
        main=launcher,
        binary_name=_binary_name(app.script, top),
        nuitka_args=tuple(f"--include-package-data={p}" for p in sorted(top)),
        # The metadata first: an egg-info of an earlier `pip install -e .` in the project's
        # directory must not answer for it.
        pythonpath=(metadata_dir, root) if dist_info else (root,),
        dist_info=dist_info,
        metadata_dir=metadata_dir if dist_info else None,
        notes=(note,) if note else (),
        cwd=app.path,
        # Checked for syntax errors before compiling; a bound keeps a huge tree cheap.
        sources=tuple(sorted(root.rglob("*.py")))[:2000],
        launcher=code,
        app_data=tuple(sorted(_top_packages(root))),
    )


def _package_target(package: Path, name: str) -> CompileTarget:
    return CompileTarget(
        main=package,
        binary_name=_binary_name(name, {package.name}),
        nuitka_args=("--python-flag=-m", f"--include-package-data={package.name}"),
        pythonpath=(package.parent,),
        cwd=package.parent,
        sources=tuple(sorted(package.rglob("*.py"))),
        app_data=(package.name,),
    )
