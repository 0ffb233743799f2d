"""Smoke test: run the finished image once, locked down, before anything is shipped.

In the Docker engine when one is reachable (``--read-only --network none --cap-drop ALL`` as the
image's user); otherwise in private namespaces (mount, PID, network, IPC, UTS) rooted at the
image's files, with a read-only root. The build fails when the app exits non-zero or its output
shows a failed import or a missing shared object, which some packages only print as a warning.
A program still running when the time is up (a server) passes if its output so far is clean.

Without ``--smoke-test`` the build makes a *start check* (``--no-start-check`` turns it off): the
same run with the image's own arguments, where only the signs of a broken image fail it (those
patterns, a crash); a non-zero exit alone is the app's business (a CLI that wants arguments, a
service missing its configuration). Where neither an engine nor namespaces can run the image,
the start check is skipped with a warning.

This module holds the verdict (the patterns, the import that killed the app, the start check's
record); ``runimage`` runs the image.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..app import AppKind, AppSpec
from ..errors import SmokeTestError
from ..log import Log
from .runimage import (
    SmokeResult,
    engine_reachable,
    exit_code_text,
    namespace_problem,
    output_tail,
    run_image,
)

if TYPE_CHECKING:
    from ..compile import CompileTarget
    from ..oci import WrittenImage
    from ..options import BuildOptions

#: Output that means the app is broken even when it exits 0.
FAILURE_PATTERNS = re.compile(
    r"ModuleNotFoundError|ImportError|No module named|cannot open shared object file"
    r"|error while loading shared libraries|failed unexpectedly despite"
    r"|RequestsDependencyWarning|Fatal Python error|Segmentation fault"
    # uvicorn's and python-magic-like "module:app" and ctypes library lookups
    r"|Could not import module|failed to find lib[\w.+-]+"
    # inspect.getsource and its kin where the program has no source for the code
    r"|could not get source code"
)
#: What a pattern means, where the output alone does not say it.
_PATTERN_HINTS = {
    "could not get source code": (
        "code that reads the source of Python code at run time (inspect.getsource: typeguard's "
        "@typechecked, torch.jit.script) finds none in the program; an installed package ships "
        "its files with --as-files PACKAGE, the app's own modules are compiled and have none"
    ),
}
#: Exit codes of a process killed by SIGILL, SIGABRT, SIGBUS, SIGFPE or SIGSEGV (as the engine,
#: tini and a shell report them): a crash, never the app's own choice.
CRASH_CODES = frozenset(128 + n for n in (4, 6, 7, 8, 11))


@dataclass(frozen=True, kw_only=True)
class ImportFailure:
    """The app died of an uncaught exception raised while a package's module was imported."""

    #: The package (top-level import name) whose module was being imported: ``wordcloud``.
    package: str
    #: That module: ``wordcloud.wordcloud``.
    module: str
    #: The exception's line: ``FileNotFoundError: [Errno 2] No such file or directory: …``.
    error: str

    def message(self, what: str) -> str:
        """The one message for this failure, wherever it is found (start check, smoke test,
        ``--compare``): ``what`` says which run found it."""
        found = (
            f"{what}: the app died of an exception raised while the package {self.package!r} "
            f"was imported (module {self.module}): {self.error}; "
        )
        missing = _MISSING_MODULE.match(self.error)
        stdlib = sys.stdlib_module_names
        if missing and self.package in stdlib and missing["name"].split(".")[0] in stdlib:
            # Nuitka ships its set of the standard library without what those modules import,
            # unless the program's own code imports them (README "Packages that fail in the
            # image").
            return found + (
                f"{self.module} is in the program as part of the standard library Nuitka "
                f"ships, but {missing['name']}, which it imports, is not: the app imports "
                f"{self.module} only by a computed name; --nuitka-arg=--include-module="
                f"{self.module} compiles it in with what it imports"
            )
        if missing and missing["name"].split(".")[0] not in stdlib:
            return found + missing_module_hint(missing["name"])
        return found + (
            "a package that reads files next to its code or finds its parts at run time may "
            'need them shipped (README "Packages that fail in the image")'
        )


def missing_module(output: str) -> str | None:
    """The module outside the standard library that a run's output says was not found."""
    found = _NO_MODULE.search(output)
    if found is None or found["name"].partition(".")[0] in sys.stdlib_module_names:
        return None
    return found["name"]


def missing_module_hint(name: str) -> str:
    """What to do about ``No module named NAME`` in the image, where the build environment has
    the module: the app or a package imports it by a name the build did not read."""
    top = name.partition(".")[0]
    return (
        f"the image has no module {name}; where the build environment has it, it is imported "
        "by a name the build does not read (a configuration file not shipped with "
        "--include-data, a name made at run time): --nuitka-arg=--include-package="
        f"{top} compiles it in"
    )


#: The exception of an import that found no module: ``No module named 'urllib'``.
_MISSING_MODULE = re.compile(r"ModuleNotFoundError: No module named '(?P<name>[\w.]+)'")
#: The same anywhere in a run's output (logging's ``Cannot resolve 'a.b': No module named 'a'``).
_NO_MODULE = re.compile(r"No module named '(?P<name>[\w.]+)'")
#: A frame of a traceback, as CPython and a compiled app print it: a module's frame is
#: ``<module>`` (``<module NAME>`` in some Nuitka versions), importlib's are
#: ``<frozen importlib._bootstrap>``.
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line \d+, in (?P<name>.+?)\s*$')
_TRACEBACK = "Traceback (most recent call last):"
#: Where installed packages live on a build machine (a traceback printed by an interpreter).
_SITE = re.compile(r"/(?:site|dist)-packages/")


def import_failure(
    exit_code: int | None, output: str, own_modules: frozenset[str] = frozenset()
) -> ImportFailure | None:
    """Whether the run died of an uncaught exception raised while a package's module was
    being imported: wordcloud's ``FileNotFoundError`` for the data file it reads at import, a
    plugin registry found empty. No working image does that.

    The signs, all needed: the exit code of an uncaught exception (1); the output ends with
    a traceback (the one that ended the program: a traceback logged by an app that went on is
    not); in it, after the program's own first frame, a module-level frame (a module being
    imported, the innermost one counts) of a module that is not the app's own
    (``own_modules``: its top-level names; an app that raises while its own module is
    imported, say for a missing setting, exits as it chooses).
    """
    found = _uncaught(exit_code, output)
    if found is None:
        return None
    frames, error = found
    for path, name in reversed(frames[1:]):
        module = _module_of_frame(path, name)
        if module is None:
            continue
        top = module.split(".")[0]
        if top in own_modules or module == "__main__":
            return None
        return ImportFailure(package=top, module=module, error=error[0])
    return None


def _uncaught(exit_code: int | None, output: str) -> tuple[list[tuple[str, str]], list[str]] | None:
    """The frames (file, name) and the exception's lines of the uncaught exception the run
    died of: exit code 1 and the traceback the output ends with; else ``None``."""
    if exit_code != 1:
        return None
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if not starts:
        return None
    frames: list[tuple[str, str]] = []
    error: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        frame = _FRAME.match(line)
        if frame and not error:
            frames.append((frame.group("file"), frame.group("name")))
        elif line.startswith((" ", "\t")) and not error:
            continue  # the source line of a frame, CPython's ^^^^ markers
        elif line.strip():
            error.append(line.strip())
    if not frames or not error:
        return None
    if not error[0].partition(":")[0].replace(".", "").isidentifier():
        return None  # what follows the frames is no exception's line
    return frames, error


#: The exception of a file that is not there, in the image's ``/app``: its first directory.
_MISSING_FILE = re.compile(
    r"^FileNotFoundError: \[Errno 2\] No such file or directory: "
    r"(?:PosixPath\()?'/app/(?P<top>[A-Za-z_]\w*)/(?P<rest>[^']+)'"
)


@dataclass(frozen=True, kw_only=True)
class MissingPackageFile:
    """The app died of an uncaught ``FileNotFoundError`` for a file below a package's
    directory in ``/app``: a package's data file the image does not have."""

    package: str
    path: str
    error: str

    def message(self, what: str) -> str:
        return (
            f"{what}: the app died reading {self.path}, a file of the package "
            f"{self.package!r} that the image does not have ({self.error}); a package that "
            "reads files next to its code may need them shipped "
            '(README "Packages that fail in the image")'
        )


def missing_package_file(
    exit_code: int | None, output: str, own_modules: frozenset[str] = frozenset()
) -> MissingPackageFile | None:
    """Whether the run died of an uncaught ``FileNotFoundError`` naming a file below a
    directory of ``/app`` that is not the app's own (``own_modules``: its top-level names,
    its data directories among them): the directory of a package compiled into the binary,
    whose data file the image lacks. Under the interpreter the package reads it from where
    it is installed; no working image does that."""
    found = _uncaught(exit_code, output)
    if found is None:
        return None
    _frames, error = found
    if len(error) != 1:
        return None  # the output goes on after the exception's line: the app went on
    match = _MISSING_FILE.match(error[0])
    if match is None or match["top"] in own_modules:
        return None
    return MissingPackageFile(
        package=match["top"], path=f"/app/{match['top']}/{match['rest']}", error=error[0]
    )


#: The exception of a module that lacks an attribute: the module and the attribute.
_NO_ATTRIBUTE = re.compile(
    r"^AttributeError: (?:partially initialized )?module '(?P<module>[\w.]+)' has no "
    r"attribute '(?P<attribute>\w+)'"
)


@dataclass(frozen=True, kw_only=True)
class MissingAttribute:
    """The app died of an uncaught ``AttributeError`` for an attribute of a module that is not
    the app's own: the module in the image lacks what the app uses of it on the build machine,
    most often a submodule nothing compiled in (``import google; google.protobuf``) that some
    other import made an attribute of its package there."""

    module: str
    attribute: str
    error: str

    def message(self, what: str) -> str:
        return (
            f"{what}: the app died of {self.error}, a module that is not the app's own: in the "
            "image it lacks what the app uses of it; where that is a submodule, "
            f"--nuitka-arg=--include-module={self.module}.{self.attribute} compiles it in "
            "(--compare runs the app under the interpreter too, to show the difference)"
        )


def missing_attribute(
    exit_code: int | None, output: str, own_modules: frozenset[str] = frozenset()
) -> MissingAttribute | None:
    """Whether the run died of an uncaught ``AttributeError: module 'X' has no attribute
    'Y'`` for a module ``X`` that is not one of the app's own (``own_modules``: top-level
    names; the app's own module is its business). A working app does not die of that at its
    start; a module of the image that is not the one of the build machine does."""
    found = _uncaught(exit_code, output)
    if found is None:
        return None
    _frames, error = found
    match = _NO_ATTRIBUTE.match(error[0]) if len(error) == 1 else None
    if match is None:
        return None
    module = match["module"]
    if module.split(".")[0] in own_modules or module == "__main__":
        return None
    return MissingAttribute(module=module, attribute=match["attribute"], error=error[0])


#: The exception of a file that is not there: its path as the app gave it.
_NO_FILE = re.compile(
    r"^FileNotFoundError: \[Errno 2\] No such file or directory: (?:PosixPath\()?'(?P<path>[^']+)'"
)


@dataclass(frozen=True, kw_only=True)
class MissingAppFile:
    """The app died of an uncaught ``FileNotFoundError`` for a file in ``/app`` that lies
    beside the app on the build machine: the app reads it, and only ``--include-data`` ships
    files that are not code."""

    #: Relative to ``/app``: ``logging.json``, ``conf/app.toml``.
    relative: str
    #: Where the build machine has it.
    host: Path
    error: str

    def message(self, what: str) -> str:
        kind = "directory" if self.host.is_dir() else "file"
        return (
            f"{what}: the app died reading /app/{self.relative}, a {kind} beside it on this "
            f"machine ({self.host}) that the image does not have ({self.error}); "
            f"--include-data {self.relative}={self.relative} ships it (given to the image at "
            "run time, by a volume, it is not there at this check: --no-start-check)"
        )


def missing_app_file(
    exit_code: int | None, output: str, app_dirs: Iterable[Path] = (), workdir: str = "/app"
) -> MissingAppFile | None:
    """Whether the run died of an uncaught ``FileNotFoundError`` for a path in ``/app``
    (``/app/x``, or ``x`` read from the image's ``workdir``) that one of ``app_dirs`` (the
    app's directories on this machine, ``/app`` in the image) has: a file of the app's that
    was not shipped. Under the interpreter the app found it."""
    found = _uncaught(exit_code, output)
    if found is None:
        return None
    _frames, error = found
    match = _NO_FILE.match(error[0]) if len(error) == 1 else None
    if match is None:
        return None
    path = posixpath.normpath(posixpath.join(workdir, match["path"]))
    if not path.startswith(APP_PREFIX):
        return None
    relative = path[len(APP_PREFIX) :]
    for directory in app_dirs:
        host = directory / relative
        if os.path.lexists(host):
            return MissingAppFile(relative=relative, host=host, error=error[0])
    return None


def _module_of_frame(path: str, name: str) -> str | None:
    """The module a module-level frame runs, ``None`` for any other frame (a function's,
    importlib's own ``<frozen importlib._bootstrap>``)."""
    if name.startswith("<module ") and name.endswith(">"):
        return name[len("<module ") : -1]
    if name != "<module>" or path.startswith("<") or not path.endswith(".py"):
        return None
    site = _SITE.search(path)
    if site is not None:
        relative = path[site.end() :]
    elif path.startswith(APP_PREFIX):
        relative = path[len(APP_PREFIX) :]
    else:
        relative = os.path.basename(path)
    parts = relative[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or None


#: Where the dist is in the image: a frame's file there names its module by its path.
APP_PREFIX = "/app/"


def app_directories(app: AppSpec, target: CompileTarget) -> tuple[Path, ...]:
    """Where the app's own files are on this machine: the directory of its script, its
    project's source roots, its package's parent; for ``-m MODULE``, the current directory."""
    if app.kind is AppKind.MODULE:
        return (app.path,)
    return target.pythonpath or (target.cwd,)


def own_modules(app: AppSpec, target: CompileTarget) -> frozenset[str]:
    """The app's own top-level module names: the modules and packages beside its script, or
    in its project's source root or its package's directory; for ``-m MODULE``, that module's.
    """
    if app.kind is AppKind.MODULE:
        return frozenset({(app.module or "").split(".")[0]} - {""})
    roots = app_directories(app, target)
    names = {app.path.stem} if app.kind is AppKind.SCRIPT else set()
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.name.partition(".")
            module = suffix in ("py", "pyc") or suffix.endswith("so")
            if module or (not dot and entry.is_dir()):
                names.add(stem)
    return frozenset(name for name in names if name.isidentifier())


@contextmanager
def hint_trace(loaded_by_name: Iterable[str], *, traced: bool) -> Iterator[None]:
    """A failed smoke test of an image with libraries loaded by name (``loaded_by_name``: the
    libraries added for them) says that they are in the image, and that a file they need
    beyond their packages' is found by ``--trace``."""
    try:
        yield
    except SmokeTestError as exc:
        added = sorted(set(loaded_by_name))
        if not added or traced:
            raise
        raise SmokeTestError(
            f"{exc.message}; the libraries the code loads by name are in the image "
            f"({', '.join(added)}, with their Debian packages' data files): if the app "
            "needs another file at run time, build with --trace to find it",
            details=exc.details,
        ) from exc


def run_smoke_test(
    options: BuildOptions,
    written: WrittenImage,
    log: Log,
    *,
    own_modules: frozenset[str] = frozenset(),
    app_dirs: tuple[Path, ...] = (),
) -> str:
    """The build's smoke test (``--smoke-test``), or its start check: in the engine when one
    is reachable, else in private namespaces; return its one-line summary.

    ``own_modules``: the app's own top-level modules (:func:`own_modules`); an exception that
    kills the app while one of them is imported is the app's business, not a broken image.
    ``app_dirs``: where the app's files are on this machine (:func:`app_directories`).
    The start check of an image whose exact bytes already passed it (a rebuild with nothing
    changed: same manifest digest) is not run again; ``--smoke-test`` always runs.
    """
    strict = options.smoke_test is not None
    passed = _verdict_path(options, written)
    if not strict and passed.is_file():
        with contextlib.suppress(OSError):
            os.utime(passed)  # used now: `cache prune` removes the least recently used first
        return "start check: this exact image passed it before"
    summary = _run(options, written, log, strict=strict, own_modules=own_modules, app_dirs=app_dirs)
    if not strict and summary != _SKIPPED:
        with contextlib.suppress(OSError):  # a record only saves time; never fail for it
            passed.parent.mkdir(parents=True, exist_ok=True)
            passed.write_text(summary + "\n", encoding="utf-8")
    return summary


_SKIPPED = "start check skipped"


def _verdict_path(options: BuildOptions, written: WrittenImage) -> Path:
    """Where a passed start check of this image (with this timeout) is recorded."""
    digest = written.manifest_digest.partition(":")[2]
    return options.cache_dir / "checks" / f"{digest}-{options.smoke_timeout:g}"


def _run(
    options: BuildOptions,
    written: WrittenImage,
    log: Log,
    *,
    strict: bool,
    own_modules: frozenset[str],
    app_dirs: tuple[Path, ...],
) -> str:
    engine = engine_reachable(options.docker_env, written.layers)
    problem = None if engine else namespace_problem()
    if not strict and problem is not None:
        log.warning(
            "the image was not started: no Docker engine is reachable and no private "
            f"namespaces can be made here ({problem}), so a broken image would go unnoticed "
            "(--no-start-check: do not try)"
        )
        return _SKIPPED
    result = smoke_test(
        tarball=written.path,
        image_ids=(written.config_digest, written.manifest_digest),
        args=shlex.split(options.smoke_test or ""),
        timeout=options.smoke_timeout,
        docker_env=options.docker_env,
        engine=engine,
        strict=strict,
        own_modules=own_modules,
        app_dirs=app_dirs,
        workdir=options.workdir,
    )
    what = "" if strict else "start check, "
    if result.still_running:
        return f"{what}{result.where}: still running after {options.smoke_timeout:g}s, stopped"
    if result.exit_code:
        return (
            f"{what}{result.where}: exit code {result.exit_code}, no sign of a broken image "
            "(--smoke-test=ARGS runs it with arguments and wants exit code 0)"
        )
    return f"{what}{result.where}: exit code 0"


def smoke_test(
    *,
    tarball: Path,
    image_ids: Sequence[str],
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
    engine: bool,
    strict: bool = True,
    own_modules: frozenset[str] = frozenset(),
    app_dirs: tuple[Path, ...] = (),
    workdir: str = "/app",
) -> SmokeResult:
    """Run the image once; raise :class:`SmokeTestError` when it fails.

    ``engine``: use the Docker engine (the caller checked it is reachable); otherwise run in
    private namespaces. ``strict``: a non-zero exit fails too, not only a crash, the output
    of a broken image (:data:`FAILURE_PATTERNS`), the app dying while a package was
    imported (:func:`import_failure`; ``own_modules`` are the app's, not packages), reading
    a file of its own that was not shipped (:func:`missing_app_file`: ``app_dirs`` on this
    machine, ``workdir`` in the image) or using what a module lacks in the image
    (:func:`missing_attribute`).
    """
    result = run_image(
        tarball=tarball,
        image_ids=image_ids,
        args=args,
        timeout=timeout,
        docker_env=docker_env,
        engine=engine,
    )
    tail = output_tail(result.output)
    failure: ImportFailure | MissingPackageFile | MissingAppFile | MissingAttribute | None = (
        import_failure(result.exit_code, result.output, own_modules)
        or missing_package_file(result.exit_code, result.output, own_modules)
        or missing_app_file(result.exit_code, result.output, app_dirs, workdir)
        or missing_attribute(result.exit_code, result.output, own_modules)
    )
    what = "smoke test" if strict else "start check"
    if failure is not None:
        raise SmokeTestError(failure.message(f"{what} ({result.where})"), details=tail)
    crashed = result.exit_code in CRASH_CODES
    if result.exit_code not in (0, None) and not result.still_running and (strict or crashed):
        raise SmokeTestError(
            f"{what} ({result.where}): the app exited with code "
            f"{exit_code_text(result.exit_code)}"
            + (": a crash, not an exit the app chose" if crashed else ""),
            details=tail,
        )
    match = FAILURE_PATTERNS.search(result.output)
    if match:
        hint = _PATTERN_HINTS.get(match.group(0))
        missing = missing_module(result.output)
        if hint is None and missing is not None:
            hint = missing_module_hint(missing)
        raise SmokeTestError(
            f"{what} ({result.where}): the output shows {match.group(0)!r}"
            + (f": {hint}" if hint else ""),
            details=tail,
        )
    return result
