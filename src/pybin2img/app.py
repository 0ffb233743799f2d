"""What APP names: a script, a package directory, a module or a project (:class:`AppSpec`),
classified once from the command line by :func:`resolve_app`.

APP may be a script (``app.py``), a package directory with ``__main__.py``, a module
(``-m pkg.mod``), or a project directory whose ``pyproject.toml`` has ``[project.scripts]``.
How Nuitka is pointed at each kind is the compile stage's
(:func:`pybin2img.compile.compile_target`).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .settings import Project


class AppKind(enum.Enum):
    """What APP names."""

    SCRIPT = "script"  #: a ``.py`` file
    PACKAGE = "package"  #: a directory with ``__main__.py``
    MODULE = "module"  #: ``-m pkg.mod``, importable by the build interpreter
    PROJECT = "project"  #: a directory with ``pyproject.toml`` and ``[project.scripts]``


@dataclass(frozen=True, kw_only=True)
class AppSpec:
    """The application to compile."""

    kind: AppKind
    #: The script file, package directory or project directory (absolute).
    path: Path
    #: For MODULE: the dotted module name.
    module: str | None = None
    #: For PROJECT: which ``[project.scripts]`` entry to build.
    script: str | None = None
    #: For PROJECT: that entry's ``module:function``.
    entry_point: str | None = None
    #: For PROJECT: ``[project.dependencies]``, installed into the build environment.
    dependencies: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The app's name, used for the binary in the image (``/app/<name>``)."""
        if self.kind is AppKind.MODULE and self.module:
            return self.module.rsplit(".", 1)[-1]
        if self.kind is AppKind.PROJECT and self.script:
            return self.script
        return self.path.stem if self.kind is AppKind.SCRIPT else self.path.name

    @property
    def directory(self) -> Path:
        """The app's directory: a script's, or the package, project or module's working
        directory itself."""
        return self.path if self.path.is_dir() else self.path.parent


def resolve_app(
    path: Path | None, *, module: str | None, script: str | None, project: Project
) -> AppSpec:
    """Classify APP; raise :class:`UsageError` when it names nothing pybin2img can compile.
    ``project`` is APP's nearest pyproject.toml, already read."""
    if module:
        if path is not None:
            raise UsageError("give either APP or -m MODULE, not both")
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", module):
            raise UsageError(f"-m {module!r} is not a module name")
        return AppSpec(kind=AppKind.MODULE, path=Path.cwd(), module=module)
    if path is None:
        raise UsageError("give the app to build: a script, a package directory, or -m MODULE")
    path = path.absolute()
    if not path.exists():
        raise UsageError(f"app {path} does not exist")
    if path.is_dir():
        if project.path == path / "pyproject.toml" and project.scripts:
            chosen = _choose_script(project, script)
            return AppSpec(
                kind=AppKind.PROJECT,
                path=path,
                script=chosen,
                entry_point=project.scripts[chosen],
                dependencies=project.dependencies,
            )
        if (path / "__main__.py").is_file():
            return AppSpec(kind=AppKind.PACKAGE, path=path)
        if project.path == path / "pyproject.toml" and project.poetry_scripts:
            raise UsageError(
                f"app {path}: pyproject.toml names its scripts in [tool.poetry.scripts] "
                f"({', '.join(project.poetry_scripts)}), Poetry's table before 2.0, which "
                "pybin2img does not read: move them and the dependencies to the standard "
                "[project] table ([project.scripts], [project.dependencies]), which Poetry 2 "
                "reads too"
            )
        raise UsageError(
            f"app {path} is a directory without __main__.py or a pyproject.toml with "
            "[project.scripts]"
        )
    if path.suffix != ".py":
        raise UsageError(f"app {path} is not a Python script (expected a .py file)")
    return AppSpec(kind=AppKind.SCRIPT, path=path)


def _choose_script(project: Project, script: str | None) -> str:
    scripts = project.scripts
    if script is not None:
        if script not in scripts:
            raise UsageError(
                f"{project.path} has no script {script!r}; "
                f"[project.scripts] names: {', '.join(sorted(scripts))}"
            )
        return script
    if len(scripts) > 1:
        raise UsageError(
            f"{project.path} defines several scripts "
            f"({', '.join(sorted(scripts))}); choose one with --script NAME"
        )
    return next(iter(scripts))
