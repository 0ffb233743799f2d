"""Compile stage: the app -> a Nuitka standalone dist folder with one entry binary.

Nuitka (AGPLv3 with a runtime exception for compiled programs) runs as a separate, unmodified
program, ``python -m nuitka``, under the build interpreter; pybin2img never imports it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import CompileError, UsageError
from .log import Log
from .options import AppKind, BuildOptions
from .runner import require_program, run_logged

# Runs under the build interpreter: reports its version and Nuitka's, and whether the app parses.
_PROBE = r"""
import json, sys
out = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}
try:
    from importlib.metadata import version
    out["nuitka"] = version("nuitka")
except Exception:
    out["nuitka"] = None
out["syntax_error"] = None
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            compile(f.read(), path, "exec", dont_inherit=True)
    except SyntaxError as e:
        out["syntax_error"] = {"file": e.filename or path, "line": e.lineno, "msg": e.msg}
        break
print(json.dumps(out))
"""


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """The build interpreter, as probed."""

    executable: Path
    python_version: str
    nuitka_version: str


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """A compiled app: the dist folder and its entry binary (both host paths)."""

    dist_dir: Path
    binary: Path
    interpreter: Interpreter
    log_file: Path


def check_app(options: BuildOptions) -> list[Path]:
    """Validate the app's path; return the Python files to syntax-check."""
    app = options.app
    if app.kind is not AppKind.SCRIPT:
        raise UsageError(f"{app.kind.value} input is not supported yet; give a .py script")
    if not app.path.exists():
        raise UsageError(f"app {app.path} does not exist")
    if app.path.is_dir():
        raise UsageError(f"app {app.path} is a directory; give a .py script")
    if app.path.suffix != ".py":
        raise UsageError(f"app {app.path} is not a Python script (expected a .py file)")
    return [app.path]


def probe_interpreter(options: BuildOptions, sources: list[Path]) -> Interpreter:
    """Run the build interpreter once: versions, Nuitka present, app free of syntax errors."""
    python = options.python
    if not python.exists():
        raise UsageError(f"Python interpreter {python} does not exist")
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE, *map(str, sources)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except OSError as exc:
        raise UsageError(f"cannot run Python interpreter {python}: {exc.strerror}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"Python interpreter {python} failed to start: {last}")
    info = json.loads(proc.stdout)
    error = info["syntax_error"]
    if error:
        raise CompileError(f"syntax error in {error['file']}, line {error['line']}: {error['msg']}")
    if not info["nuitka"]:
        raise CompileError(
            f"Nuitka is not installed for {python}; install it with: {python} -m pip install nuitka"
        )
    return Interpreter(
        executable=python,
        python_version=info["python"],
        nuitka_version=info["nuitka"],
    )


def default_jobs() -> int:
    """The CPUs this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def compile_app(
    options: BuildOptions, interpreter: Interpreter, workdir: Path, log: Log
) -> CompileResult:
    """Compile the app with Nuitka ``--standalone`` into ``workdir``."""
    if not any(shutil.which(cc) for cc in ("gcc", "cc", "clang")):
        raise CompileError(
            "no C compiler found (gcc, cc or clang); Nuitka needs one (Debian: apt-get install gcc)"
        )
    require_program("patchelf", CompileError, "Nuitka needs it (Debian: apt-get install patchelf)")

    name = options.app.name
    log_file = options.cache_dir / "logs" / f"{name}.nuitka.log"
    out_dir = workdir / "nuitka"
    argv = [
        str(interpreter.executable),
        "-m",
        "nuitka",
        "--mode=standalone",
        f"--output-dir={out_dir}",
        f"--output-filename={name}",
        f"--report={out_dir / 'report.xml'}",
        f"--jobs={options.jobs or default_jobs()}",
        "--assume-yes-for-downloads",
        "--reproducible=yes",
        "--remove-output",
        *options.nuitka_args,
        str(options.app.path),
    ]
    env = dict(os.environ)
    env["NUITKA_CACHE_DIR"] = str(options.cache_dir / "nuitka")
    run_logged(
        argv,
        log=log,
        log_file=log_file,
        error=CompileError,
        what=f"Nuitka compiling {options.app.path}",
        env=env,
        cwd=options.app.path.parent,
    )
    dists = sorted(out_dir.glob("*.dist"))
    if len(dists) != 1 or not (dists[0] / name).is_file():
        raise CompileError(
            f"Nuitka finished but left no {name} binary in {out_dir}; log: {log_file}"
        )
    return CompileResult(
        dist_dir=dists[0],
        binary=dists[0] / name,
        interpreter=interpreter,
        log_file=log_file,
    )
