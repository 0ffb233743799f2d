"""``--compare[=ARGS]``: the image against the interpreter it replaces.

The app runs twice with ARGS: here, under the build interpreter (the build environment's, which
has the app's requirements), locked down as ``--trace`` runs the dist (a private working
directory, a copy of the app's directory where the image's is ``/app``, :func:`working_copy`;
private ``HOME`` and ``TMPDIR``, the image's ``--env``, stdin closed, a timeout); and in the
finished image, as the smoke test runs it (the Docker engine when reachable, else private
namespaces). The build fails (exit code 9) when the exit codes or stdout differ; the message
shows the first differing lines as a small unified diff.

What legitimately differs is made the same before comparing, and only that:

- the program's name: the interpreter run sees ``sys.argv[0]`` as the image's program
  (``/app/NAME``), so usage lines agree;
- paths, in the interpreter run's stdout: its private working directory reads as the image's
  working directory (``--workdir``), the app's directory as ``/app``, its private temporary
  directory as ``/tmp``, its private home as ``/home/nonroot`` (the image's user's);
- a death by signal N is exit code 128+N on both sides (as tini reports it).

Nothing else is: ``sys.executable``, ``__compiled__``, stderr (warnings, logs), the network (the
image has none; the interpreter run has the build machine's).
"""

from __future__ import annotations

import difflib
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..app import AppKind, AppSpec
from ..errors import SmokeTestError
from ..trace import private_environment, stop_session
from .runimage import SmokeResult, engine_reachable, exit_code_text, output_tail, run_image
from .smoke import (
    APP_PREFIX,
    import_failure,
    missing_attribute,
    missing_module,
    missing_module_hint,
    missing_package_file,
)

if TYPE_CHECKING:
    from ..compile import CompileTarget
    from ..oci import WrittenImage
    from ..options import BuildOptions

#: How many lines of the unified diff the error shows.
DIFF_LINES = 20


@dataclass(frozen=True, kw_only=True)
class Launch:
    """How the interpreter runs the app as ``python app.py`` / ``python -m app`` would."""

    #: The script to run (a script, a project's generated entry point), or ``None``.
    script: Path | None = None
    #: The module to run as ``-m`` (a package with ``__main__``, ``-m MODULE``), or ``None``.
    module: str | None = None
    #: Import roots put first on ``sys.path`` (the script's directory, a package's parent).
    path: tuple[Path, ...] = ()
    #: ``sys.argv[0]``: the program as the image runs it.
    argv0: str
    #: The app's own directory on this machine: it reads as ``/app`` in the compared output.
    app_dir: Path


@dataclass(frozen=True, kw_only=True)
class Run:
    """One side of the comparison."""

    where: str
    #: ``None``: still running at the timeout, stopped.
    exit_code: int | None
    stdout: str
    #: stdout and stderr together, for the error's tail.
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"where": self.where, "exit_code": self.exit_code, "stdout_lines": self.lines}

    @property
    def lines(self) -> int:
        return len(self.stdout.splitlines())


@dataclass(frozen=True, kw_only=True)
class Comparison:
    """A comparison that passed, for ``-v`` and ``--metadata-file``."""

    args: str
    host: Run
    image: Run
    #: ``(text of the interpreter run, what it reads as)``.
    normalised: tuple[tuple[str, str], ...]

    @property
    def summary(self) -> str:
        return (
            f"same exit code ({self.image.exit_code}) and stdout ({self.image.lines} lines) "
            f"under the interpreter and in {self.image.where}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "args": self.args,
            "same": True,
            "interpreter": self.host.to_json(),
            "image": self.image.to_json(),
            "normalised": [{"text": old, "reads": new} for old, new in self.normalised],
        }


def compare_image(
    options: BuildOptions,
    launch: Launch,
    python: Path,
    written: WrittenImage,
    workdir: Path,
    *,
    own_modules: frozenset[str] = frozenset(),
) -> Comparison:
    """Run the app with ``options.compare`` here and in the image; raise
    :class:`SmokeTestError` when they differ. ``own_modules``: the app's own top-level
    modules, for the message of an app that died importing a package."""
    args = shlex.split(options.compare or "")
    workdir.mkdir(parents=True, exist_ok=True)
    host, normalised = run_on_host(
        launch,
        python,
        args,
        env=options.env,
        timeout=options.compare_timeout,
        workdir=workdir,
        image_workdir=options.workdir,
    )
    result = run_image(
        tarball=written.path,
        image_ids=(written.config_digest, written.manifest_digest),
        args=args,
        timeout=options.compare_timeout,
        docker_env=options.docker_env,
        engine=engine_reachable(options.docker_env, written.layers),
    )
    image = image_run(result)
    problem = verdict(host, image, timeout=options.compare_timeout)
    if problem is not None:
        given = (options.compare or "").strip()
        raise SmokeTestError(
            f"--compare {given!r}: {problem}", details=details(host, image, own_modules)
        )
    return Comparison(args=options.compare or "", host=host, image=image, normalised=normalised)


def image_run(result: SmokeResult) -> Run:
    return Run(
        where=f"the image ({result.where})",
        exit_code=None if result.still_running else result.exit_code,
        stdout=result.stdout,
        output=result.output,
    )


#: Runs the app as ``python SCRIPT`` or ``python -m MODULE`` would, with ``sys.argv[0]`` as
#: the image has it. Everything happens in a function, so the script's globals are only its
#: own. ``-m`` goes through runpy's ``_run_module_as_main``, the function ``python -m`` calls.
_LAUNCHER = """\
def _launch():
    import json, sys
    spec = json.loads(sys.argv[1])
    sys.argv[:] = [spec["argv0"], *sys.argv[2:]]
    sys.path[0:1] = spec["path"]
    if spec["module"] is not None:
        import runpy
        runpy._run_module_as_main(spec["module"], alter_argv=False)
        return
    import __main__
    with open(spec["script"], "rb") as f:
        code = compile(f.read(), spec["script"], "exec", dont_inherit=True)
    __main__.__file__ = spec["script"]
    __main__.__cached__ = None
    del globals()["_launch"]
    exec(code, __main__.__dict__)
_launch()
"""


def host_command(python: Path, launch: Launch, args: Sequence[str]) -> list[str]:
    """The command that runs the app under ``python`` (``-B``: nothing written next to the
    app's sources; ``-s``: no user site-packages)."""
    spec = {
        "argv0": launch.argv0,
        "path": [str(p) for p in launch.path],
        "script": str(launch.script) if launch.script else None,
        "module": launch.module,
    }
    return [str(python), "-B", "-s", "-c", _LAUNCHER, json.dumps(spec), *args]


def run_on_host(
    launch: Launch,
    python: Path,
    args: Sequence[str],
    *,
    env: Sequence[str],
    timeout: float,
    workdir: Path,
    image_workdir: str,
) -> tuple[Run, tuple[tuple[str, str], ...]]:
    """Run the app here, locked down; return the run (stdout normalised) and what was
    normalised."""
    home, tmp, cwd = (workdir / name for name in ("home", "tmp", "cwd"))
    for directory in (home, tmp, cwd):
        directory.mkdir(parents=True, exist_ok=True)
    if image_workdir == APP_PREFIX.rstrip("/"):
        working_copy(launch.app_dir, cwd)
    stdout_file, stderr_file = workdir / "stdout", workdir / "stderr"
    with stdout_file.open("wb") as out, stderr_file.open("wb") as err:
        process = subprocess.Popen(
            host_command(python, launch, args),
            env=private_environment(home=home, tmp=tmp, env=env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop_session(process)
    stdout = stdout_file.read_bytes().decode("utf-8", "replace")
    stderr = stderr_file.read_bytes().decode("utf-8", "replace")
    replacements = (
        (str(cwd), image_workdir),
        (str(home), "/home/nonroot"),
        (str(tmp), "/tmp"),
        (str(launch.app_dir), APP_PREFIX.rstrip("/")),
    )
    run = Run(
        where="the interpreter",
        exit_code=None if code is None else (128 - code if code < 0 else code),
        stdout=normalise(stdout, replacements),
        output=stdout + stderr,
    )
    return run, replacements


#: What the interpreter run's working directory gets of the app's directory at most: in all,
#: and of one file.
WORKING_COPY_BYTES = 64 << 20
WORKING_COPY_FILE_BYTES = 16 << 20
#: Directories of the app's that are never copied there.
_NOT_COPIED = frozenset({"__pycache__", "node_modules"})


def working_copy(app_dir: Path, cwd: Path) -> None:
    """Copy the app's directory into ``cwd``, the interpreter run's working directory: the
    image's working directory ``/app`` holds the app, so a path the app reads relative to it
    (``StaticFiles(directory="static")``, ``open("config.yaml")``) is found here as there, and
    what the app writes stays in the copy. Left out: hidden directories (``.git``, ``.venv``),
    virtual environments, ``__pycache__``, ``node_modules``, the run's own directory, and files
    beyond :data:`WORKING_COPY_FILE_BYTES` each or :data:`WORKING_COPY_BYTES` in all."""
    own = os.path.realpath(cwd)
    total = 0
    for dirpath, dirnames, filenames in os.walk(app_dir):
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not name.startswith(".")
            and name not in _NOT_COPIED
            and not os.path.exists(os.path.join(dirpath, name, "pyvenv.cfg"))
            and not (own + os.sep).startswith(
                os.path.realpath(os.path.join(dirpath, name)) + os.sep
            )
        )
        target = cwd / Path(dirpath).relative_to(app_dir)
        target.mkdir(parents=True, exist_ok=True)
        for name in sorted(filenames):
            source = os.path.join(dirpath, name)
            try:
                size = os.lstat(source).st_size
                if size > WORKING_COPY_FILE_BYTES or total + size > WORKING_COPY_BYTES:
                    continue
                shutil.copy2(source, target / name, follow_symlinks=False)
            except OSError:
                continue
            total += size


def normalise(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    """``text`` with each path replaced, longest first (a private directory inside the app's
    reads as itself, not as a part of ``/app``)."""
    for old, new in sorted(replacements, key=lambda pair: -len(pair[0])):
        if old and old != new:
            text = text.replace(old, new)
    return text


def verdict(host: Run, image: Run, *, timeout: float) -> str | None:
    """``None`` when the two runs agree, else what differs, in one line."""
    still = [run.where for run in (host, image) if run.exit_code is None]
    if still:
        return (
            f"{' and '.join(still)} was still running after {timeout:g}s; compare a run that "
            "ends (ARGS, --compare-timeout)"
        )
    if host.stdout == image.stdout and host.exit_code == image.exit_code:
        return None
    parts = []
    if host.exit_code != image.exit_code:
        here, there = exit_code_text(host.exit_code), exit_code_text(image.exit_code)
        parts.append(f"exit code {here} here, {there} in the image")
    if host.stdout != image.stdout:
        line = first_difference(host.stdout, image.stdout)
        parts.append(f"stdout differs from line {line}")
    return "the image does not run as the interpreter does: " + "; ".join(parts)


def first_difference(a: str, b: str) -> int:
    """The number (from 1) of the first line where ``a`` and ``b`` differ."""
    a_lines, b_lines = a.splitlines(keepends=True), b.splitlines(keepends=True)
    for number, (x, y) in enumerate(zip(a_lines, b_lines, strict=False), start=1):
        if x != y:
            return number
    return min(len(a_lines), len(b_lines)) + 1


def unified(host_stdout: str, image_stdout: str, limit: int = DIFF_LINES) -> list[str]:
    """The first lines of a unified diff from the interpreter's stdout to the image's."""
    diff = difflib.unified_diff(
        host_stdout.splitlines(),
        image_stdout.splitlines(),
        fromfile="interpreter",
        tofile="image",
        n=1,
        lineterm="",
    )
    lines = list(diff)
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more diff lines)"]
    return lines


def details(host: Run, image: Run, own_modules: frozenset[str] = frozenset()) -> str:
    """The error's details: the diff of stdout, and the end of each run's output where it
    failed (an exception shows there), with the one message for an app that died importing a
    package."""
    lines = [f"  {line}" for line in unified(host.stdout, image.stdout)]
    failure = (
        import_failure(image.exit_code, image.output, own_modules)
        or missing_package_file(image.exit_code, image.output, own_modules)
        or (
            missing_attribute(image.exit_code, image.output, own_modules)
            if missing_attribute(host.exit_code, host.output, own_modules) is None
            else None
        )
    )
    missing = missing_module(image.output)
    if failure is not None:
        lines.append("  " + failure.message("in the image"))
    elif missing is not None and missing_module(host.output) != missing:
        lines.append(f"  in the image: {missing_module_hint(missing)}")
    for run in (host, image):
        failed = run.exit_code != 0 or run is image
        if failed and run.output.strip() and run.output != run.stdout:
            lines.append(f"  the output of {run.where} ended with:")
            lines.append(output_tail(run.output))
    return "\n".join(lines)


def launch_for(app: AppSpec, target: CompileTarget) -> Launch:
    """How the interpreter runs the app that ``target`` compiles: a script (a project's is
    pybin2img's generated entry point) from its directory, a package or ``-m MODULE`` as
    ``python -m`` runs it from where pybin2img runs."""
    argv0 = f"{APP_PREFIX}{target.binary_name}"
    if app.kind is AppKind.SCRIPT:
        directory = app.path.parent
        return Launch(script=app.path, path=(directory,), argv0=argv0, app_dir=directory)
    if app.kind is AppKind.PACKAGE:
        directory = app.path.parent
        return Launch(module=app.path.name, path=(directory,), argv0=argv0, app_dir=directory)
    if app.kind is AppKind.MODULE:
        return Launch(module=app.module, path=(app.path,), argv0=argv0, app_dir=app.path)
    root = target.pythonpath[0] if target.pythonpath else app.path
    path = (root, *target.pythonpath[1:])
    return Launch(script=target.main, path=path, argv0=argv0, app_dir=root)
