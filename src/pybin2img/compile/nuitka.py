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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from .. import __version__
from ..cache import Cache, digest_of, file_digest
from ..errors import CompileError, UsageError
from ..log import Log
from ..options import BuildOptions
from ..runner import require_program, run_logged
from .app import CompileTarget

# Runs under the build interpreter: its version, Nuitka's, the installed distributions (part of
# the compile cache key), where a ``-m`` module is, and whether the app's files parse.
_PROBE = r"""
import json, sys
args = json.loads(sys.argv[1])
out = {"python": "%d.%d.%d" % sys.version_info[:3], "executable": sys.executable}
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
sources = list(args["sources"])
out["module_origin"] = None
if args["module"]:
    import importlib.util
    sys.path.insert(0, args["cwd"])
    try:
        spec = importlib.util.find_spec(args["module"])
    except Exception:
        spec = None
    if spec is not None and spec.origin and spec.origin.endswith(".py"):
        out["module_origin"] = spec.origin
        sources.append(spec.origin)
out["syntax_error"] = None
out["missing_import"] = None
import ast, importlib.util
sys.path[:0] = args["path"]
for path in sources:
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), path)
    except SyntaxError as e:
        out["syntax_error"] = {"file": e.filename or path, "line": e.lineno, "msg": e.msg}
        break
    # Unconditional module-level imports only: those in try/if blocks may be optional.
    for node in tree.body:
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            try:
                found = importlib.util.find_spec(top) is not None
            except (ImportError, ValueError):
                found = False
            if not found and top != "__main__":
                out["missing_import"] = {"file": path, "line": node.lineno, "module": top}
                break
        if out["missing_import"]:
            break
    if out["missing_import"]:
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
    #: Where the interpreter finds the ``-m`` module, if one was asked for.
    module_origin: Path | None = None


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """A compiled app: the dist folder and its entry binary (both host paths)."""

    dist_dir: Path
    binary: Path
    interpreter: Interpreter
    log_file: Path
    #: Whether the dist came from the cache (no compile ran).
    cached: bool = False
    #: Every module compiled or included (``ssl``, ``zoneinfo``, ``flask.app``, …).
    modules: frozenset[str] = frozenset()
    #: Names of the installed distributions the modules came from (``Flask``, ``numpy``).
    distributions: tuple[str, ...] = ()


def probe_interpreter(
    python: Path,
    sources: Sequence[Path],
    *,
    module: str | None = None,
    cwd: Path | None = None,
    import_path: Sequence[Path] = (),
) -> Interpreter:
    """Run the build interpreter once: versions, Nuitka present, the app's files free of syntax
    errors and of module-level imports the interpreter cannot find (``import_path`` is where
    the app's own modules are)."""
    if not python.exists():
        raise UsageError(f"Python interpreter {python} does not exist")
    args = {
        "sources": [str(p) for p in sources],
        "module": module,
        "cwd": str(cwd or Path.cwd()),
        "path": [str(p) for p in import_path],
    }
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE, json.dumps(args)],
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
    missing = info["missing_import"]
    if missing:
        raise CompileError(
            f"{missing['file']}, line {missing['line']}: module {missing['module']!r} is not "
            f"installed for {python}; install it there or list it in -r requirements.txt"
        )
    if not info["nuitka"]:
        raise CompileError(
            f"Nuitka is not installed for {python}; install it with: {python} -m pip install nuitka"
        )
    if module and not info["module_origin"]:
        raise UsageError(f"module {module!r} was not found by {python} (run from {args['cwd']})")
    real = os.path.realpath(info["executable"])
    st = os.stat(real)
    return Interpreter(
        executable=python,
        python_version=info["python"],
        nuitka_version=info["nuitka"],
        distributions=tuple((name, ver) for name, ver in info["distributions"]),
        identity=(real, st.st_size, st.st_mtime_ns),
        module_origin=Path(info["module_origin"]) if info["module_origin"] else None,
    )


def default_jobs() -> int:
    """The CPUs this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: Changes whenever what pybin2img does to a dist after Nuitka changes (stripping, …), so
#: that cached dists made the old way are not reused.
_DIST_FORMAT = 3


def compile_key(options: BuildOptions, target: CompileTarget, interpreter: Interpreter) -> str:
    """Hash of every input that can change the dist, except the app's own source files.

    Those are only known after a compile (Nuitka follows the app's imports); each cached dist
    records them with their hashes, and a hit requires every one to be unchanged.
    """
    return digest_of(
        "dist",
        _DIST_FORMAT,
        __version__,
        str(target.main),
        target.binary_name,
        target.nuitka_args,
        [str(p) for p in target.pythonpath],
        target.launcher,
        interpreter.identity,
        interpreter.python_version,
        interpreter.nuitka_version,
        interpreter.distributions,
        options.nuitka_args,
        options.include_data,
    )[:32]


def compile_app(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    cache: Cache,
    workdir: Path,
    log: Log,
) -> CompileResult:
    """Compile the app with Nuitka ``--standalone``, or reuse an identical earlier compile."""
    key = compile_key(options, target, interpreter)
    log_file = cache.path("logs", f"{target.binary_name}.nuitka.log")
    entry = _cached_entry(cache, key, target.binary_name)
    cached = entry is not None
    if entry is None:
        with cache.lock(f"dist-{key}"):
            entry = _cached_entry(cache, key, target.binary_name)
            cached = entry is not None
            if entry is None:
                entry = _compile_into_cache(
                    options, target, interpreter, cache, key, workdir, log_file, log
                )
    contents = json.loads((entry / "contents.json").read_text())
    return CompileResult(
        dist_dir=entry / "dist",
        binary=entry / "dist" / target.binary_name,
        interpreter=interpreter,
        log_file=log_file,
        cached=cached,
        modules=frozenset(contents["modules"]),
        distributions=tuple(contents["distributions"]),
    )


def _compile_into_cache(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    cache: Cache,
    key: str,
    workdir: Path,
    log_file: Path,
    log: Log,
) -> Path:
    dist, report = _run_nuitka(options, target, interpreter, cache, workdir, log_file, log)
    _strip_libraries(dist, target.binary_name, log)
    sources, modules, distributions = _read_report(report, target.cwd)
    entry_key = digest_of(key, sources)[:32]
    with cache.staging("dists", entry_key) as staging:
        shutil.move(str(dist), staging / "dist")
        (staging / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True))
        contents = {"modules": sorted(modules), "distributions": sorted(distributions)}
        (staging / "contents.json").write_text(json.dumps(contents, indent=1))
    _remember(cache, key, entry_key)
    return cache.path("dists", entry_key)


_KEEP_PER_KEY = 3


def _cached_entry(cache: Cache, key: str, name: str) -> Path | None:
    """The newest cache entry for ``key`` whose recorded app sources are all unchanged."""
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
        if (
            (entry / "dist" / name).is_file()
            and (entry / "contents.json").is_file()
            and all(_hash_or_none(Path(path)) == digest for path, digest in sources.items())
        ):
            return entry
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


def _read_report(report: Path, cwd: Path) -> tuple[dict[str, str], set[str], set[str]]:
    """From Nuitka's report: the files the dist was made from, its modules and distributions.

    Files: the report names them with placeholders; ``${cwd}`` is the directory Nuitka ran in
    (the app's), ``${sys.prefix}`` and friends the interpreter's tree, which the compile key
    already covers (interpreter identity and installed distributions). Everything else — the
    app's modules and data, and host libraries Nuitka copied into the dist — is hashed, so that
    a change to any of them means a new compile.
    """
    try:
        root = ElementTree.parse(report).getroot()  # noqa: S314 - Nuitka's own report
    except (OSError, ElementTree.ParseError) as exc:
        raise CompileError(f"cannot read Nuitka's report {report}: {exc}") from exc
    sources: dict[str, str] = {}
    modules: set[str] = set()
    distributions: set[str] = set()
    for element in root.iter():
        if element.tag == "module":
            modules.add(element.get("name", ""))
            if element.get("distribution"):
                distributions.add(element.get("distribution", ""))
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
    return sources, modules, distributions


def _run_nuitka(
    options: BuildOptions,
    target: CompileTarget,
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

    name = target.binary_name
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
        *target.nuitka_args,
        *include_data_args(options.include_data),
        *options.nuitka_args,
        str(target.main),
    ]
    env = dict(os.environ)
    env["NUITKA_CACHE_DIR"] = str(cache.ensure("nuitka"))
    # Every build compiles in a fresh work directory: make ccache see paths relative to it, so
    # an unchanged C file hits the cache whatever the directory is called this time.
    env["CCACHE_BASEDIR"] = str(workdir)
    env["CCACHE_NOHASHDIR"] = "true"
    if target.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            [*map(str, target.pythonpath), *filter(None, [env.get("PYTHONPATH")])]
        )
    run_logged(
        argv,
        log=log,
        log_file=log_file,
        error=CompileError,
        what=f"Nuitka compiling {target.main}",
        env=env,
        cwd=target.cwd,
    )
    dists = sorted(out_dir.glob("*.dist"))
    if len(dists) != 1 or not (dists[0] / name).is_file():
        raise CompileError(
            f"Nuitka finished but left no {name} binary in {out_dir}; log: {log_file}"
        )
    return dists[0], report


def _strip_libraries(dist: Path, binary: str, log: Log) -> None:
    """Strip symbol tables and debug info from the dist's shared objects.

    Nuitka strips the binary it links but copies extension modules as the interpreter has
    them; a self-built Python (pyenv) ships them unstripped, about a third of their size.
    ``--strip-unneeded`` keeps everything the dynamic loader uses. binutils' strip can break a
    file patchelf rewrote (a wheel's bundled library: its segments no longer line up with their
    pages), so each stripped copy is checked and kept only when every loadable segment is still
    mappable.
    """
    strip = shutil.which("strip")
    if strip is None:
        log.detail("strip (binutils) not found: shared objects are shipped unstripped")
        return
    kept = 0
    for library in sorted(dist.rglob("*.so*")):
        if not library.is_file() or library.is_symlink() or library.name == binary:
            continue
        copy = library.with_name(library.name + ".pybin2img-strip")
        shutil.copy2(library, copy)
        proc = subprocess.run(
            [strip, "--strip-unneeded", str(copy)], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and _segments_aligned(copy):
            os.replace(copy, library)
        else:
            copy.unlink(missing_ok=True)
            kept += 1
    if kept:
        log.detail(f"strip: {kept} shared objects kept as they were (strip would break them)")


def _segments_aligned(path: Path) -> bool:
    """Whether the loader can map every PT_LOAD segment (offset and address agree modulo the
    alignment): what ``ELF load command address/offset not page-aligned`` complains about."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with path.open("rb") as f:
            for segment in ELFFile(f).iter_segments():
                if segment["p_type"] != "PT_LOAD":
                    continue
                align = max(1, segment["p_align"])
                if segment["p_offset"] % align != segment["p_vaddr"] % align:
                    return False
    except (ELFError, OSError):
        return False
    return True


def include_data_args(items: Sequence[str]) -> list[str]:
    """Nuitka arguments for ``--include-data SRC=DEST`` (a file or a whole directory), as
    checked by :func:`pybin2img.options.build_options` (SRC absolute, DEST inside /app)."""
    args = []
    for item in items:
        source, _, dest = item.partition("=")
        kind = "dir" if Path(source).is_dir() else "files"
        args.append(f"--include-data-{kind}={source}={dest}")
    return args


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
