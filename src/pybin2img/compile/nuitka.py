"""Compile stage: the app -> a Nuitka standalone dist folder with one entry binary.

Nuitka (AGPLv3 with a runtime exception for compiled programs) runs as a separate, unmodified
program, ``python -m nuitka``, under the build interpreter; pybin2img never imports it.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree

from ..cache import PROCESSES, Cache, file_digest, listing_digest
from ..errors import CompileError
from ..log import Log
from ..options import BuildOptions
from ..runner import run_logged
from ..settings import BASES
from .buildenv import check_environment
from .bytecode import bytecode_packages, metadata_config
from .ccache import ccache_report, checked_remote
from .distcache import cached_entry, compile_key, entry_path, new_entry
from .generated import write_code_table
from .importview import import_view
from .libpython import NUITKA_ARGS as LIBPYTHON_ARGS
from .libpython import Libpython, check_linked, interpreter_libpython
from .origins import report_origins
from .patchelf import nuitka_patchelf
from .pkgfiles import add_files, files_args
from .probe import Interpreter
from .profile import PackageTime, describe, profile
from .progress import NuitkaProgress
from .regex import known_file, write_pattern_table
from .startup import (
    blob_tags,
    hook_digest,
    link_startup,
    startup_nuitka_args,
    why_not_deferred,
)
from .strip import check_dist, strip_libraries
from .target import CompileTarget

if TYPE_CHECKING:
    from .remotecache import RemoteCache


@dataclass(frozen=True, kw_only=True)
class CompileResult:
    """A compiled app: the dist folder and its entry binary (both host paths)."""

    dist_dir: Path
    binary: Path
    interpreter: Interpreter
    log_file: Path
    #: Whether the dist came from the cache (no compile ran).
    cached: bool = False
    #: Whether it came from the cache repository (``--cache-repo``).
    from_cache_repo: bool = False
    #: Every module compiled or included (``ssl``, ``zoneinfo``, ``flask.app``, …).
    modules: frozenset[str] = frozenset()
    #: Names of the installed distributions the modules came from (``Flask``, ``numpy``).
    distributions: tuple[str, ...] = ()
    #: Top-level packages of the app's imports shipped as bytecode by ``--bytecode``.
    bytecode: tuple[str, ...] = ()
    #: Where the compile's time went, by top-level package (most first).
    profile: tuple[PackageTime, ...] = ()
    #: Dist-relative path -> the file Nuitka copied it from, as its report names it
    #: (:func:`~.origins.report_origins`: with Nuitka's placeholders, ``${sys.prefix}/…``).
    origins: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Link:
    """What pybin2img adds to Nuitka's link, decided once per build (:func:`compile_app`)."""

    #: Link pybin2img's start-up object (:mod:`.startup`).
    deferred: bool
    #: The tags of Nuitka's constants blob (:func:`~.startup.blob_tags`): the object then
    #: reads the program's bytecode from its file.
    blob: tuple[int, int] | None
    #: The archive the build interpreter is made of, linked instead of Nuitka's pick.
    libpython: Libpython | None


#: pybin2img's own choices for Nuitka, each measured (README "Start-up: where it goes").
_OWN_ARGS: tuple[str, ...] = ()
#: The environment Nuitka compiles in, whatever the caller's says. The bytecode it ships (the
#: standard library, packages as bytecode) carries no column positions: the image has no
#: source for a traceback to underline, and they are a quarter of the compressed bytecode
#: (README "Start-up: where it goes", the table of changes).
_NUITKA_ENV: dict[str, str] = {"PYTHONNODEBUGRANGES": "1"}
#: For ``CFLAGS``: every function and object in a section of its own, so that the link drops
#: what nothing refers to (``--gc-sections`` in :func:`link_flags`): most of Nuitka's runtime
#: helpers (one per operation and pair of types), which every program carries. On
#: examples/hello 0.34 MB less code, 0.12 MB less compressed image and 0.2 MiB less peak RSS
#: (README "Start-up: where it goes"); what the program exports for extension modules stays.
SECTION_CFLAGS = ("-ffunction-sections", "-fdata-sections")
#: For ``CFLAGS``: Nuitka's runtime as compatible with CPython as its C has it (the part of its
#: ``--full-compat`` that is C; the rest changes the code Nuitka generates, and Nuitka keeps it
#: for its tests). Without it the runtime's recursion guards compile to nothing: a recursion
#: too deep in code compiled to C overflowed the stack (SIGSEGV) where the interpreter raises
#: ``RecursionError``, which apps catch. With it the guards count calls against
#: ``sys.getrecursionlimit()``, and a few error messages and float roundings are the
#: interpreter's (README "Recursion").
COMPAT_CFLAGS = ("-D_NUITKA_FULL_COMPAT",)
#: The caller's compiler settings, which Nuitka takes from the environment: part of the key.
_COMPILER_ENV = ("CC", "CFLAGS", "CCFLAGS", "CPPFLAGS", "LDFLAGS")
#: glibc's loader applies packed relative relocations (``DT_RELR``) from 2.36 on.
_RELR_GLIBC = (2, 36)


def files_named_by(nuitka_args: Sequence[str]) -> dict[str, str]:
    """The files and directories ``--nuitka-arg`` options name (``--user-package-configuration-
    file=F``, ``--include-data-files=SRC=DEST``, ``--include-data-dir=DIR=DEST``, …), with the
    digests a cached dist is checked against, as the app's sources are: an edited package
    configuration or data file is a new compile, not the dist made before it."""
    found: dict[str, str] = {}
    for arg in nuitka_args:
        name, equals, value = arg.partition("=")
        if not name.startswith("--") or not equals:
            continue
        for part in value.split("="):
            path = Path(part).absolute()
            try:
                if path.is_dir():
                    found[str(path)] = listing_digest(path)
                    for file in sorted(p for p in path.rglob("*") if p.is_file()):
                        found[str(file)] = file_digest(file)
                elif path.is_file():
                    found[str(path)] = file_digest(path)
            except OSError:
                continue  # Nuitka says what it cannot read
    return found


def _accelerator_args(interpreter: Interpreter) -> tuple[str, ...]:
    """The standard library's C accelerators the interpreter has as extension modules, which
    Nuitka's configuration leaves out (its yaml's "may slow down by using fallback
    implementation"): the program runs json, bisect, heapq and datetime as the interpreter does,
    not their pure-Python fallbacks. Those four modules are in every program's standard library
    part (examples/hello's too), so their accelerators are always included."""
    return tuple(f"--include-module={name}" for name in interpreter.accelerators)


def link_flags(base: str) -> tuple[str, ...]:
    """Flags for the link of the binary (Nuitka takes them from ``LDFLAGS``).

    The binary is a position-independent executable with libpython linked in statically:
    about 38,000 relative relocations, 0.9 MB of ``.rela.dyn`` that the loader reads at every
    start. Packed (``-z pack-relative-relocs``) they take a few kilobytes: on examples/hello,
    0.15 MB less compressed image and 0.7 MiB less peak RSS, addresses still randomised. The
    loader must be glibc 2.36 or later, which the build machine's is when the image ships it
    (``scratch`` and ``distroless`` bases); a base image brings its own, maybe older, loader.

    And ``--gc-sections``: what nothing refers to is left out (with :data:`SECTION_CFLAGS`).
    """
    if base not in BASES or _host_glibc() < _RELR_GLIBC:
        return ("-Wl,--gc-sections",)
    return ("-Wl,--gc-sections", "-Wl,-z,pack-relative-relocs")


@functools.lru_cache(maxsize=1)
def _host_glibc() -> tuple[int, int]:
    """``(major, minor)`` of this machine's glibc, ``(0, 0)`` when it is not glibc."""
    try:
        name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
        major, minor = version.split(".")[:2]
        return (int(major), int(minor)) if name == "glibc" else (0, 0)
    except (ValueError, OSError):
        return (0, 0)


def default_jobs() -> int:
    """The CPUs this process may use (cgroup/affinity aware where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def compile_app(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    cache: Cache,
    workdir: Path,
    log: Log,
    remote: RemoteCache | None = None,
) -> CompileResult:
    """Compile the app with Nuitka ``--standalone``, or reuse an identical earlier compile:
    from the local cache, else from the cache repository (``remote``), which then gets what
    was compiled."""
    readers = interpreter.named.sources if options.as_files_defaults else ()
    for reader in readers:
        log.detail(f"as files: {reader.package}: {reader.why} ({reader.where})")
    if readers:
        as_files = (*options.as_files, *(r.package for r in readers))
        options = replace(options, as_files=tuple(dict.fromkeys(as_files)))
    bytecode = bytecode_packages(options, interpreter, (target.cwd, *target.pythonpath))
    metadata = json.dumps(metadata_config(bytecode, interpreter), sort_keys=True)
    why = why_not_deferred(interpreter, options.nuitka_args)
    if why is not None:
        log.detail(f"start-up: the program imports inspect and os at every start: {why}")
    deferred = why is None
    # Whether the program reads its bytecode from its file depends on Nuitka's sources.
    blob = blob_tags(interpreter) if deferred else None
    reads = "file" if blob is not None else "nuitka"
    if deferred and blob is None:
        log.detail(
            f"start-up: the program maps its bytecode as Nuitka has it: Nuitka "
            f"{interpreter.nuitka_version}'s sources do not spell its constants blob as "
            "pybin2img reads it"
        )
    startup = (
        (
            f"startup:{hook_digest()}",
            f"bytecode:{reads}",
            f"build-imports:{options.build_imports}",
            *startup_nuitka_args(options.nuitka_args),
        )
        if deferred
        else ()
    )
    libpython, why_not = interpreter_libpython(interpreter, options.nuitka_args)
    if libpython is not None:
        log.detail(
            f"libpython: {libpython.archive}, as {interpreter.identity[0]} is linked "
            "(profile-optimised, at fixed addresses)"
        )
    elif why_not is not None:
        log.detail(f"libpython: as Nuitka links it: {why_not}")
    link = _Link(deferred=deferred, blob=blob, libpython=libpython)
    own = (
        *_OWN_ARGS,
        *_accelerator_args(interpreter),
        *(f"env:{name}={value}" for name, value in sorted(_NUITKA_ENV.items())),
        *(f"env:{name}={os.environ[name]}" for name in _COMPILER_ENV if name in os.environ),
        *link_flags(options.base),
        *SECTION_CFLAGS,
        *COMPAT_CFLAGS,
        metadata,
        *startup,
        *((libpython.key(), *LIBPYTHON_ARGS) if libpython is not None else ()),
    )
    key = compile_key(options, target, interpreter, choices=(*own, *bytecode))
    log_file = cache.path("logs", f"{target.binary_name}.nuitka.log")
    entry = cached_entry(cache, key, target.binary_name, log)
    if entry is not None and not cache.use(entry):
        entry = None  # pruned just now
    cached = entry is not None
    from_repo = False
    if entry is None:
        with cache.lock(f"dist-{key}"):
            entry = cached_entry(cache, key, target.binary_name, log)
            cached = entry is not None
            if entry is None and remote is not None:
                entry = remote.fetch_dist(cache, key, target.binary_name)
                cached = from_repo = entry is not None
            if entry is None:
                if remote is not None:
                    remote.fetch_module_cache(cache, key)
                entry = _compile_into_cache(
                    options,
                    target,
                    interpreter,
                    cache,
                    key,
                    workdir,
                    log_file,
                    log,
                    bytecode,
                    link,
                )
                if remote is not None:
                    remote.store_dist(cache, key, entry, target.binary_name)
            cache.use(entry)
    contents = json.loads((entry / "contents.json").read_text())
    for line in contents.get("added_files", ()):
        log.detail(line)
    if remote is not None and not cached:
        remote.store_module_cache(cache, key, frozenset(contents["modules"]))
    return CompileResult(
        dist_dir=entry / "dist",
        binary=entry / "dist" / target.binary_name,
        interpreter=interpreter,
        log_file=log_file,
        cached=cached,
        from_cache_repo=from_repo,
        modules=frozenset(contents["modules"]),
        distributions=tuple(contents["distributions"]),
        bytecode=tuple(contents.get("bytecode", ())),
        profile=tuple(PackageTime.from_json(row) for row in contents.get("profile", ())),
        origins=dict(contents.get("origins", {})),
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
    bytecode: tuple[str, ...],
    link: _Link,
) -> Path:
    check_environment(interpreter.executable, cache, log)
    tools, patchelf = nuitka_patchelf(workdir, log)
    try:
        dist, report = _run_nuitka(
            options,
            target,
            interpreter,
            cache,
            workdir,
            log_file,
            log,
            bytecode,
            tools,
            link,
        )
    except CompileError as exc:
        full = cache.out_of_space("compiling the app", exc.details)
        if full is not None:
            raise full from exc
        known = known_failure(exc.details or "")
        if known is not None:
            raise CompileError(f"{known}; full log: {log_file}", details=exc.details) from exc
        raise
    check_dist(dist, lambda rel: _copied_from(report, rel, interpreter, target.cwd), patchelf)
    if link.libpython is not None:
        check_linked(dist / target.binary_name, link.libpython)
    strip_libraries(dist, target.binary_name, log)
    written = (
        {
            **write_pattern_table(
                dist, report, target.cwd, interpreter, known_file(cache, interpreter), log
            ),
            **_code_table(options, dist, report, target.cwd, interpreter, log),
        }
        if link.deferred
        else {}
    )
    sources, modules, distributions, times = _read_report(report, target.cwd)
    for line in describe(times):
        log.detail(line)
    chosen = {package.split(".")[0] for package in bytecode}
    shipped = sorted(row.package for row in times if row.bytecode and row.package in chosen)
    added, added_lines, added_origins = add_files(
        dist, options, frozenset(modules), interpreter.sys_path
    )
    sources.update(added)
    sources.update(files_named_by(options.nuitka_args))
    with new_entry(cache, key, sources) as staging:
        shutil.move(str(dist), staging / "dist")
        contents = {
            "modules": sorted(modules),
            "distributions": sorted(distributions),
            "bytecode": shipped,
            "profile": [row.to_json() for row in times],
            # What each copied file of the dist is a copy of, for the SBOM's owners.
            "origins": {
                **report_origins(ElementTree.parse(report).getroot()),  # noqa: S314
                **added_origins,
                **written,
            },
            "added_files": added_lines,
        }
        (staging / "contents.json").write_text(json.dumps(contents, indent=1))
    return entry_path(cache, key, sources)


def _code_table(
    options: BuildOptions, dist: Path, report: Path, cwd: Path, interpreter: Interpreter, log: Log
) -> dict[str, str]:
    if not options.build_imports:
        log.detail("generated code: compiled by the program at start (--no-build-imports)")
        return {}
    return write_code_table(dist, report, cwd, interpreter, log)


def _read_report(
    report: Path, cwd: Path
) -> tuple[dict[str, str], set[str], set[str], list[PackageTime]]:
    """From Nuitka's report: the files the dist was made from, its modules and distributions,
    and where the time went.

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
    return sources, modules, distributions, profile(root.iter("module"))


def _run_nuitka(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    cache: Cache,
    workdir: Path,
    log_file: Path,
    log: Log,
    bytecode: tuple[str, ...],
    tools: Path,
    link: _Link,
) -> tuple[Path, Path]:
    """Run Nuitka into ``workdir`` with ``tools`` first on its PATH (the patchelf it is to
    use); return the dist folder and the compilation report. ``bytecode``: the packages
    shipped as bytecode (:func:`bytecode_packages`); ``link``: what pybin2img adds to the link
    (its start-up object, the interpreter's libpython)."""
    if not any(shutil.which(cc) for cc in ("gcc", "cc", "clang")):
        raise CompileError(
            "no C compiler found (gcc, cc or clang); Nuitka needs one (Debian: apt-get install gcc)"
        )
    if not shutil.which("ccache"):
        log.warning("ccache is not installed: rebuilds will be several times slower")

    name = target.binary_name
    out_dir = workdir / "nuitka"
    report = out_dir / "report.xml"
    # Nuitka sees the app's directories through views without the standard library's names,
    # and runs by its __main__.py's path with no user site: nothing of the app's comes before
    # the standard library, in Nuitka's own process or in what it compiles.
    view = import_view(target, interpreter, workdir)
    for path in view.hidden:
        log.detail(f"not given to Nuitka: {path} (named like a standard library module)")

    argv = [
        *_no_aslr_prefix(),
        str(interpreter.executable),
        "-s",
        *([str(interpreter.nuitka_main)] if interpreter.nuitka_main else ["-m", "nuitka"]),
        "--mode=standalone",
        f"--output-dir={out_dir}",
        f"--output-filename={name}",
        f"--report={report}",
        f"--jobs={options.jobs or default_jobs()}",
        # Hermetic: no look for a newer Nuitka on PyPI (on by default, once a week), and no
        # download (without --assume-yes-for-downloads and with no stdin, Nuitka says no to
        # every one it would make: a --zig compiler, a private jsonschema, ...).
        "--update-check=never",
        "--reproducible=yes",
        "--remove-output",
        *target.nuitka_args,
        *interpreter.named.nuitka_args(),
        *_package_configuration(interpreter, workdir),
        *(f"--noinclude-custom-mode={package}:bytecode" for package in bytecode),
        *_bytecode_metadata(bytecode, interpreter, workdir),
        *_OWN_ARGS,
        *_accelerator_args(interpreter),
        *(startup_nuitka_args(options.nuitka_args) if link.deferred else ()),
        *(LIBPYTHON_ARGS if link.libpython is not None else ()),
        *files_args(
            as_files=options.as_files,
            bytecode=bytecode,
            include_data=options.include_data,
            search_path=[
                str(target.cwd),
                *map(str, target.pythonpath),
                *interpreter.sys_path,
            ],
            stdlib=interpreter.stdlib_modules,
            workdir=workdir,
        ),
        *options.nuitka_args,
        str(view.main),
    ]
    # ccache's settings are the options' (CCACHE_* and --ccache-remote-storage), without a
    # remote storage that does not answer.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCACHE_")}
    env.update(checked_remote(options.ccache_env, log))
    env.update(_NUITKA_ENV)
    env["NUITKA_CACHE_DIR"] = str(cache.ensure("nuitka"))
    env["PATH"] = os.pathsep.join([str(tools), env.get("PATH", os.defpath)])
    # Every build compiles in a fresh work directory, with Nuitka from a build environment in
    # the cache directory, which has another path on another machine: make ccache see paths
    # relative to the cache directory, so an unchanged C file hits the cache (a remote one
    # too) whatever the work directory is called and wherever the cache directory is.
    env["CCACHE_BASEDIR"] = str(cache.root)
    env["CCACHE_NOHASHDIR"] = "true"
    flags = (
        *link_flags(options.base),
        *(link.libpython.link_flags() if link.libpython is not None else ()),
        *(link_startup(interpreter, workdir, link.blob) if link.deferred else ()),
    )
    if flags:
        env["LDFLAGS"] = " ".join(filter(None, [env.get("LDFLAGS"), *flags]))
    env["CFLAGS"] = " ".join(filter(None, [env.get("CFLAGS"), *SECTION_CFLAGS, *COMPAT_CFLAGS]))
    if view.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(
            [*map(str, view.pythonpath), *filter(None, [env.get("PYTHONPATH")])]
        )
    progress = NuitkaProgress(out_dir)
    with (
        log.progress(progress.describe, progress.line),
        ccache_report(env, cache.path("nuitka"), log),
    ):
        run_logged(
            argv,
            log=log,
            log_file=log_file,
            error=CompileError,
            what=f"Nuitka compiling {target.main}",
            env=env,
            record=workdir / PROCESSES,
            cwd=view.cwd,
            unwritable=cache.unusable,
        )
    dists = sorted(out_dir.glob("*.dist"))
    if len(dists) != 1 or not (dists[0] / name).is_file():
        raise CompileError(
            f"Nuitka finished but left no {name} binary in {out_dir}; log: {log_file}"
        )
    return dists[0], report


#: Nuitka's DLL plugin stopping on a library its configuration gives by a bare name (the
#: assertion's path is that name made relative to the module's directory): a package that
#: loads the system's library by its soname, as Debian's do.
_BARE_DLL = re.compile(
    r"AssertionError: (?P<path>\.\./\S*?(?P<name>[^/\s]+\.so[.\d]*))\s*\n"
    r"(?:.*\n)*?.*FATAL: dll-files: Plugin issue while working on 'module '(?P<module>[\w.]+)''"
)


def known_failure(output: str) -> str | None:
    """What a Nuitka failure whose output ends with ``output`` means, in one line, where it is
    one pybin2img knows; ``None`` otherwise."""
    output = "\n".join(line.removeprefix("  | ") for line in output.splitlines())
    bare = _BARE_DLL.search(output)
    if bare is not None:
        top = bare["module"].split(".")[0]
        return (
            f"Nuitka's configuration for {bare['module']} names the library {bare['name']} by "
            "its bare name, as the package installed here loads it from the system (Debian's "
            "packages do), and Nuitka's DLL plugin cannot place a library given so (it stops "
            f"with an AssertionError); build with {top} from PyPI, whose wheel brings its own "
            "copy (a venv with it: --python VENV/bin/python, or -r)"
        )
    return None


def _bytecode_metadata(
    bytecode: Sequence[str], interpreter: Interpreter, workdir: Path
) -> list[str]:
    """A Nuitka package configuration that ships the metadata of the distributions whose
    packages go as bytecode, where the app imports them (:func:`metadata_config`)."""
    entries = metadata_config(bytecode, interpreter)
    if not entries:
        return []
    config = workdir / "bytecode-metadata.nuitka-package.config.yml"
    config.write_text(json.dumps(entries, indent=1, sort_keys=True))  # JSON is YAML
    return [f"--user-package-configuration-file={config}"]


def _copied_from(report: Path, rel: str, interpreter: Interpreter, cwd: Path) -> Path | None:
    """The file Nuitka copied to ``rel`` in the dist (an extension module or a library), as
    its report names it; ``None`` when it names none."""
    try:
        root = ElementTree.parse(report).getroot()  # noqa: S314 - Nuitka's own report
    except (OSError, ElementTree.ParseError):
        return None
    for element in root:
        if element.tag.startswith("included_") and element.get("dest_path") == rel:
            source = element.get("source_path", "")
            break
    else:
        return None
    try:
        proc = subprocess.run(
            [
                str(interpreter.executable),
                "-I",
                "-c",
                "import sys; print(sys.prefix); print(sys.base_prefix)",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    prefix, base_prefix = proc.stdout.splitlines()[:2]
    for placeholder, value in (
        ("${sys.real_prefix}", base_prefix),
        ("${sys.prefix}", prefix),
        ("${cwd}", str(cwd)),
    ):
        if source.startswith(placeholder):
            source = value + source[len(placeholder) :]
    path = Path(source)
    return path if path.is_absolute() and path.is_file() else None


def _package_configuration(interpreter: Interpreter, workdir: Path) -> list[str]:
    """The Nuitka package configuration made from what the probe found (the metadata of
    every distribution whose code is compiled in), written into ``workdir``."""
    text = interpreter.named.package_configuration()
    path = workdir / "pybin2img.nuitka-package.config.yml"
    path.write_text(text, encoding="utf-8")
    return [f"--user-package-configuration-file={path}"]


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
