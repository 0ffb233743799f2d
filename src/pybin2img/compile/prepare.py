"""Before compiling: the build interpreter and what Nuitka is to compile.

With requirements (``-r``, or a project's ``[project.dependencies]``), when the chosen
interpreter has no Nuitka, or editable installs Nuitka would not find by itself, the
interpreter is a cached build environment (compile/buildenv.py); it is probed with the
app's own files, so a syntax error or an import it cannot find fails here, in seconds, rather
than inside Nuitka.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from ..app import AppKind, AppSpec
from ..cache import Cache, digest_of
from ..errors import ConfigError
from ..log import Log
from ..options import BuildOptions
from .buildenv import build_environment, interpreter_sites
from .pkgfiles import config_files
from .probe import (
    Interpreter,
    NuitkaMissingError,
    check_supported,
    probe_code_digest,
    probe_interpreter,
)
from .projectdeps import Installed, installed, lock_files, lock_pins, out_of_date, unmet
from .remotecache import RemoteCache
from .target import CompileTarget, compile_target


def prepare_compile(
    options: BuildOptions, cache: Cache, log: Log, remote: RemoteCache | None = None
) -> tuple[Interpreter, CompileTarget]:
    """The build interpreter (a cached build environment when there are requirements or it
    lacks Nuitka), checked with the app's files, and how Nuitka is to compile the app."""
    app = options.app
    python = options.python
    check_supported(python)
    users = python
    # What a project's interpreter has installed: its dependencies, and the project itself
    # (a version kept in version control is read from there).
    have = installed(python) if app.kind is AppKind.PROJECT else None
    resolve = options.requirements is not None
    constraints: tuple[str, ...] = ()
    if options.requirements is None and app.dependencies and have is not None:
        resolve, constraints = _project_dependencies(app, python, have, log)
    if resolve:
        python = build_environment(
            python=python,
            requirements=options.requirements,
            packages=app.dependencies,
            nuitka=nuitka_requirement(),
            cache=cache,
            log=log,
            constraints=constraints,
            remote=remote,
        )
    launcher_dir = cache.ensure("launchers", digest_of(str(app.path), app.script)[:16])
    # A -m module is found by the interpreter first; every other kind is known beforehand.
    versions = (
        {name: str(dist.get("version", "")) for name, dist in have.distributions.items()}
        if have is not None
        else None
    )
    early = (
        compile_target(app, launcher_dir, installed=versions)
        if app.kind is not AppKind.MODULE
        else None
    )
    if early is not None:
        for note in early.notes:
            log.warning(note)
        if early.dist_info is not None and early.metadata_dir is not None:
            # Before the probe, which reads the project's entry points from it.
            early.dist_info.write(early.metadata_dir)

    def probe(python: Path, shown_as: Path | None = None) -> Interpreter:
        # What the probe read of installed files is kept per interpreter and probe code.
        scan_key = digest_of(str(python.absolute()), str(python.resolve()), probe_code_digest())
        return probe_interpreter(
            python,
            early.sources if early else (),
            module=app.module,
            cwd=app.path,
            import_path=(early.cwd, *early.pythonpath) if early else (),
            strings=options.cmd,
            env=options.env,
            config_files=config_files(
                (*options.include_data, *(f"{src}={dest}" for src, dest in options.extra_files))
            ),
            scan_cache=cache.ensure("probe") / f"{scan_key[:16]}.json",
            shown_as=shown_as,
        )

    sites = None
    if python == users:
        sites = interpreter_sites(python)
        if sites["unfollowed"]:
            # Editable installs Nuitka would not find: its own Nuitka runs in an environment
            # that has them on sys.path (nothing installed; tried first, as the probe says
            # whether the interpreter has Nuitka at all).
            python = build_environment(
                python=users,
                requirements=None,
                nuitka=None,
                cache=cache,
                log=log,
                system_site_packages=True,
                sites=sites,
            )
    try:
        interpreter = probe(python, shown_as=users if python != users else None)
    except NuitkaMissingError:
        # Never install into the user's interpreter (Debian's refuses anyway): a cached venv
        # that sees its site-packages (a venv's own too) gets Nuitka instead.
        python = build_environment(
            python=users,
            requirements=None,
            nuitka=nuitka_requirement(),
            cache=cache,
            log=log,
            system_site_packages=True,
            sites=sites,
        )
        interpreter = probe(python, shown_as=users)
    target = early or compile_target(app, launcher_dir, interpreter.module_origin)
    if target.launcher is not None:
        # Nuitka searches the launcher's directory: nothing else importable may lie there (a
        # launcher an earlier version named otherwise).
        for stale in target.main.parent.glob("*.py"):
            if stale != target.main:
                stale.unlink(missing_ok=True)
        target.main.write_text(target.launcher, encoding="utf-8")
    return interpreter, target


def _project_dependencies(
    app: AppSpec, python: Path, have: Installed, log: Log
) -> tuple[bool, tuple[str, ...]]:
    """Whether a build environment is to install the project's dependencies, and the lock's
    pins it installs them with: none when the interpreter (its venv, made from the project's
    lock) has them all, as installed there."""
    missing = unmet(app.dependencies, have)
    if not missing:
        log.info(
            f"[project.dependencies]: all {len(app.dependencies)} installed for {python}, "
            "compiled as installed there"
        )
        return False, ()
    pins = lock_pins(app.path)
    lacks = f"{missing[0]}{f' and {len(missing) - 1} more' if len(missing) > 1 else ''}"
    if pins is None:
        if unread := lock_files(app.path):
            log.warning(
                f"[project.dependencies] are installed from the package index into a build "
                f"environment, and {', '.join(unread)} is not read: {python} lacks {lacks}; "
                "to build the versions the lock pins, install the project into its venv "
                "and build with --python .venv/bin/python"
            )
        return True, ()
    outdated = out_of_date(app.dependencies, pins, have)
    if outdated:
        more = f" (and {len(outdated) - 1} more)" if len(outdated) > 1 else ""
        raise ConfigError(
            f"{pins.name} is out of date: it pins {outdated[0]}{more}; update the "
            "lock (uv lock, poetry lock, pdm lock) or [project.dependencies]"
        )
    log.info(
        f"[project.dependencies]: {python} lacks {lacks}; installed from the "
        f"package index into a build environment, pinned by {pins.name} "
        f"({len(pins.constraints)} versions"
        + (f"; not pinned: {', '.join(pins.unpinned)}" if pins.unpinned else "")
        + ")"
    )
    return True, pins.constraints


def nuitka_requirement() -> str:
    """The Nuitka that build environments get: the version installed next to pybin2img."""
    try:
        return f"nuitka=={metadata.version('nuitka')}"
    except metadata.PackageNotFoundError:
        return "nuitka>=4.3,<4.4"  # the range pyproject.toml pins
