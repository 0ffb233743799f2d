"""Compile stage: the app -> a Nuitka standalone dist folder with one entry binary.

Nuitka (AGPLv3 with a runtime exception for compiled programs) runs as a separate, unmodified
program, ``python -m nuitka``, under the build interpreter; pybin2img never imports it.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from . import __version__
from .cache import Cache, digest_of, file_digest
from .errors import CompileError, UsageError
from .log import Log
from .options import AppKind, BuildOptions
from .runner import require_program, run_logged

# Runs under the build interpreter: its version, Nuitka's, the installed distributions (part of
# the compile cache key), and whether the app parses.
_PROBE = r"""
import json, sys
out = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable,
       "prefix": sys.prefix, "base_prefix": sys.base_prefix}
try:
    from importlib.metadata import distributions, version
    out["nuitka"] = version("nuitka")
except Exception:
    out["nuitka"] = None
try:
    out["distributions"] = sorted(
        {(d.metadata["Name"] or "?").lower(): d.version for d in distributions()}.items())
except Exception:
    out["distributions"] = []
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
    #: ``(name, version)`` of every installed distribution: a change means a recompile.
    distributions: tuple[tuple[str, str], ...] = ()
    #: What identifies the interpreter's build (real path, size, mtime).
    identity: tuple[str, int, int] = ("", 0, 0)


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """A compiled app: the dist folder and its entry binary (both host paths)."""

    dist_dir: Path
    binary: Path
    interpreter: Interpreter
    log_file: Path
    #: Whether the dist came from the cache (no compile ran).
    cached: bool = False


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


def probe_interpreter(python: Path, sources: list[Path]) -> Interpreter:
    """Run the build interpreter once: versions, Nuitka present, app free of syntax errors."""
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
    real = os.path.realpath(info["executable"])
    st = os.stat(real)
    return Interpreter(
        executable=python,
        python_version=info["python"],
        nuitka_version=info["nuitka"],
        distributions=tuple((name, ver) for name, ver in info["distributions"]),
        identity=(real, st.st_size, st.st_mtime_ns),
    )


def default_jobs() -> int:
    """The CPUs this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def compile_key(options: BuildOptions, interpreter: Interpreter) -> str:
    """Hash of every input that can change the dist, except the app's own source files.

    Those are only known after a compile (Nuitka follows the app's imports); each cached dist
    records them with their hashes, and a hit requires every one to be unchanged.
    """
    return digest_of(
        "dist",
        __version__,
        options.app.kind.value,
        str(options.app.path),
        options.app.module,
        options.app.script,
        options.app.name,
        interpreter.identity,
        interpreter.python_version,
        interpreter.nuitka_version,
        interpreter.distributions,
        options.nuitka_args,
    )[:32]


def compile_app(
    options: BuildOptions, interpreter: Interpreter, cache: Cache, workdir: Path, log: Log
) -> CompileResult:
    """Compile the app with Nuitka ``--standalone``, or reuse an identical earlier compile."""
    name = options.app.name
    key = compile_key(options, interpreter)
    log_file = cache.path("logs", f"{name}.nuitka.log")
    hit = _cached_dist(cache, key, name)
    if hit is not None:
        return CompileResult(
            dist_dir=hit, binary=hit / name, interpreter=interpreter, log_file=log_file, cached=True
        )
    with cache.lock(f"dist-{key}"):
        hit = _cached_dist(cache, key, name)
        if hit is not None:
            return CompileResult(
                dist_dir=hit,
                binary=hit / name,
                interpreter=interpreter,
                log_file=log_file,
                cached=True,
            )
        dist, report = _run_nuitka(options, interpreter, cache, workdir, log_file, log)
        sources = _user_sources(report, options.app.path.parent)
        entry_key = digest_of(key, sources)[:32]
        with cache.staging("dists", entry_key) as staging:
            shutil.move(str(dist), staging / "dist")
            (staging / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True))
        _remember(cache, key, entry_key)
    dist_dir = cache.path("dists", entry_key, "dist")
    return CompileResult(
        dist_dir=dist_dir, binary=dist_dir / name, interpreter=interpreter, log_file=log_file
    )


_KEEP_PER_KEY = 3


def _cached_dist(cache: Cache, key: str, name: str) -> Path | None:
    """The dist of the newest entry for ``key`` whose recorded app sources are unchanged."""
    try:
        entries = json.loads(cache.path("dists", f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    for entry_key in entries:
        entry = cache.path("dists", entry_key)
        try:
            sources = json.loads((entry / "sources.json").read_text())
        except (OSError, ValueError):
            continue
        if (entry / "dist" / name).is_file() and all(
            _hash_or_none(Path(path)) == digest for path, digest in sources.items()
        ):
            return entry / "dist"
    return None


def _remember(cache: Cache, key: str, entry_key: str) -> None:
    """Put ``entry_key`` first in the index of ``key``; drop the oldest entries beyond a few."""
    index = cache.path("dists", f"{key}.json")
    try:
        entries = [e for e in json.loads(index.read_text()) if e != entry_key]
    except (OSError, ValueError):
        entries = []
    entries.insert(0, entry_key)
    for old in entries[_KEEP_PER_KEY:]:
        shutil.rmtree(cache.path("dists", old), ignore_errors=True)
    tmp = index.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(entries[:_KEEP_PER_KEY]))
    os.replace(tmp, index)


def _hash_or_none(path: Path) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def _user_sources(report: Path, cwd: Path) -> dict[str, str]:
    """Every file the dist was made from that lies outside the interpreter's own tree.

    Nuitka's report names files with placeholders: ``${cwd}`` is the directory it ran in (the
    app's), ``${sys.prefix}`` and friends the interpreter's tree, which the compile key already
    covers (interpreter identity and installed distributions). Everything else — the app's
    modules and data, and host libraries Nuitka copied into the dist — is hashed, so that a
    change to any of them means a new compile.
    """
    try:
        root = ElementTree.parse(report).getroot()  # noqa: S314 - Nuitka's own report
    except (OSError, ElementTree.ParseError) as exc:
        raise CompileError(f"cannot read Nuitka's report {report}: {exc}") from exc
    sources: dict[str, str] = {}
    for element in root.iter():
        for attribute in ("source_path", "source"):
            value = element.get(attribute)
            if not value:
                continue
            if value.startswith("${cwd}"):
                value = str(cwd) + value[len("${cwd}") :]
            elif value.startswith("${"):
                continue
            path = (cwd / value).resolve()
            if path.is_file():
                sources[str(path)] = file_digest(path)
    if not sources:
        raise CompileError(f"Nuitka's report {report} names no source file of the app")
    return sources


def _run_nuitka(
    options: BuildOptions,
    interpreter: Interpreter,
    cache: Cache,
    workdir: Path,
    log_file: Path,
    log: Log,
) -> tuple[Path, Path]:
    """Run Nuitka into ``workdir``; return the dist folder and the compilation report."""
    if not any(shutil.which(cc) for cc in ("gcc", "cc", "clang")):
        raise CompileError(
            "no C compiler found (gcc, cc or clang); Nuitka needs one (Debian: apt-get install gcc)"
        )
    require_program("patchelf", CompileError, "Nuitka needs it (Debian: apt-get install patchelf)")
    if not shutil.which("ccache"):
        log.warning("ccache is not installed: rebuilds will be several times slower")

    name = options.app.name
    out_dir = workdir / "nuitka"
    report = out_dir / "report.xml"
    argv = [
        *_no_aslr_prefix(),
        str(interpreter.executable),
        "-m",
        "nuitka",
        "--mode=standalone",
        f"--output-dir={out_dir}",
        f"--output-filename={name}",
        f"--report={report}",
        f"--jobs={options.jobs or default_jobs()}",
        "--assume-yes-for-downloads",
        "--reproducible=yes",
        "--remove-output",
        *options.nuitka_args,
        str(options.app.path),
    ]
    env = dict(os.environ)
    env["NUITKA_CACHE_DIR"] = str(cache.ensure("nuitka"))
    # Every build compiles in a fresh work directory: make ccache see paths relative to it, so
    # an unchanged C file hits the cache whatever the directory is called this time.
    env["CCACHE_BASEDIR"] = str(workdir)
    env["CCACHE_NOHASHDIR"] = "true"
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
    return dists[0], report


@functools.lru_cache(maxsize=1)
def _no_aslr_prefix() -> tuple[str, ...]:
    """``setarch <arch> -R`` when the kernel allows it.

    With address-space randomisation some packages' generated C differs from build to build
    (set constants of type objects hash by address, e.g. Flask via jinja2), so Nuitka runs
    without it where possible.
    """
    setarch = shutil.which("setarch")
    if not setarch:
        return ()
    arch = platform.machine()
    try:
        ok = subprocess.run(
            [setarch, arch, "-R", "true"], capture_output=True, check=False, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return ()
    return (setarch, arch, "-R") if ok.returncode == 0 else ()
