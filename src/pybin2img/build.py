"""``build_image(options)``: the whole pipeline, one call.

options -> check -> compile -> (base) -> (trace) -> resolve -> plan -> write -> (smoke) ->
(compare) -> (load) -> (push, attach the SBOM, sign). Each stage is a package that this module
reaches through its face (its ``__init__``) and that hands the next frozen data; this module only
sequences them, times them and cleans up the workspace.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cache import Cache
from .compile import (
    CompileResult,
    CompileTarget,
    Interpreter,
    NamedModules,
    PackageTime,
    RemoteCache,
    compile_app,
    default_jobs,
    prepare_compile,
    remote_cache,
)
from .errors import Pybin2imgError
from .log import Log
from .oci import (
    BaseImage,
    LayerBlob,
    WrittenImage,
    base_blobs,
    commit_output,
    open_archive,
    pending_output,
    read_base,
    size_report,
    write_atomically,
    write_image,
)
from .options import BuildOptions, check_output
from .plan import (
    FoundLibrary,
    ImagePlan,
    checked_plan,
    companion_data,
    compiled_distributions,
    data_of_libraries,
    find_tini,
    image_config,
    is_static_program,
    libraries_by_name,
    library_names,
    missing_host_files,
    missing_programs,
    sbom_path,
)
from .provenance import git_info, oci_keys
from .reference import ImageReference
from .resolve import Closure, HostView, elf_roots, read_elf, resolve_closure
from .settings import BASES
from .ship import (
    Comparison,
    app_directories,
    check_engine,
    compare_image,
    hint_trace,
    launch_for,
    load_image,
    own_modules,
    run_smoke_test,
)
from .toolchain import Toolchain, probe_toolchain
from .trace import Trace, trace_dist

if TYPE_CHECKING:
    from .ship import Attachment, PushResult, Signature, SigningKey


@dataclass(frozen=True, kw_only=True)
class BuildResult:
    """What a build produced."""

    reference: ImageReference
    #: The manifest digest (``sha256:…``).
    digest: str
    #: The config digest: the image ID an engine shows.
    image_id: str
    tarball: Path
    size: int
    layers: tuple[LayerBlob, ...]
    files: int
    loaded: bool
    #: ``scratch``, ``distroless`` or the base image tarball's path.
    base: str = "scratch"
    #: The build interpreter (a cached build environment's with ``--requirements``).
    python: str = ""
    python_version: str = ""
    nuitka_version: str = ""
    #: ``(name, version)`` of the Python distributions compiled into the binary.
    distributions: tuple[tuple[str, str], ...] = ()
    #: The SBOM written next to the tarball.
    sbom: Path | None = None
    #: What ``--push`` did, when it was asked for.
    pushed: PushResult | None = None
    #: The SBOM pushed as an attachment of the image (with ``--push``).
    sbom_attachment: Attachment | None = None
    #: The signatures pushed (with ``--push --sign-key``): the image's and the SBOM's.
    signatures: tuple[Signature, ...] = ()
    #: What ``--trace`` found and added.
    trace: Trace | None = None
    #: The ``--compare`` runs, which agreed.
    comparison: Comparison | None = None
    #: Modules the app names in strings, compiled in (and a Django app's settings and apps).
    named: NamedModules = field(default_factory=NamedModules)
    #: Top-level packages of the app's imports shipped as bytecode (``--bytecode``).
    bytecode: tuple[str, ...] = ()
    #: Where the compile's time went, by top-level package (from the compile that made the dist).
    compile_profile: tuple[PackageTime, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def pinned_reference(self) -> str:
        """``name:tag@sha256:…``, the line printed on stdout."""
        return self.reference.with_digest(self.digest)

    def to_json(self) -> dict[str, Any]:
        """The ``--metadata-file`` document."""
        return {
            "reference": self.pinned_reference,
            "digest": self.digest,
            "image_id": self.image_id,
            "tags": [self.reference.familiar],
            "fully_qualified": self.reference.fully_qualified,
            "tarball": str(self.tarball),
            "sbom": str(self.sbom) if self.sbom else None,
            "size": self.size,
            "uncompressed_size": sum(layer.uncompressed_size for layer in self.layers),
            "files": self.files,
            "base": self.base,
            "python": {"executable": self.python, "version": self.python_version},
            "nuitka_version": self.nuitka_version,
            "distributions": [{"name": n, "version": v} for n, v in self.distributions],
            "layers": [
                {
                    "digest": layer.descriptor.digest,
                    "diff_id": layer.diff_id,
                    "media_type": layer.descriptor.media_type,
                    "size": layer.descriptor.size,
                    "uncompressed_size": layer.uncompressed_size,
                    "files": layer.files,
                    "holds": layer.description,
                }
                for layer in self.layers
            ],
            "loaded": self.loaded,
            "pushed": self.pushed.to_json() if self.pushed else None,
            "sbom_attachment": self.sbom_attachment.to_json() if self.sbom_attachment else None,
            "signatures": [signature.to_json() for signature in self.signatures],
            "trace": self.trace.to_json() if self.trace else None,
            "compare": self.comparison.to_json() if self.comparison else None,
            "named_modules": self.named.as_metadata(),
            "bytecode": list(self.bytecode),
            "compile_profile": [row.to_json() for row in self.compile_profile[:20]],
            "timings": self.timings,
        }

    def github_outputs(self) -> dict[str, str]:
        """Step outputs for GitHub Actions."""
        outputs = {
            "digest": self.digest,
            "reference": self.pinned_reference,
            "image-id": self.image_id,
            "tarball": str(self.tarball),
        }
        if self.pushed:
            outputs["pushed-reference"] = self.pushed.pinned_reference
        return outputs


def _with_own_sources(options: BuildOptions, named: NamedModules, log: Log) -> BuildOptions:
    """``options`` with the app's own source files as ``--include-data`` where its own code
    reads source (``inspect.getsource``, typeguard's ``@typechecked``): each ships where the
    module compiled from it names its file, so what reads it finds it, as on the host. A
    destination the user's ``--include-data`` already fills is left to it."""
    if not named.source_reads or not named.own_sources:
        return options
    taken = {item.partition("=")[2] for item in options.include_data}
    extra = tuple(f"{src}={dest}" for src, dest in named.own_sources if dest not in taken)
    log.detail(
        f"own sources: {named.source_reads[0]} reads source; the app's {len(named.own_sources)} "
        "source file(s) ship in /app"
    )
    return dataclasses.replace(options, include_data=(*options.include_data, *extra))


def _with_app_files(options: BuildOptions, named: NamedModules, log: Log) -> BuildOptions:
    """``options`` with a web framework's conventional directories beside the app
    (``templates``, ``static``) as ``--include-data``; and a warning for each other file or
    directory beside the app that its code names and nothing ships (the image then lacks it:
    Flask rendered a 500 for a template it did not have)."""
    taken = {item.partition("=")[2].rstrip("/") for item in options.include_data}

    def shipped(path: str) -> bool:
        return any(path == dest or path.startswith(dest + "/") for dest in taken)

    extra = tuple(f"{source}={dest}" for dest, source in named.web_data if not shipped(dest))
    if extra:
        log.detail(
            "web data: "
            + ", ".join(item.partition("=")[2] for item in extra)
            + " beside the app, as the web framework it imports reads them, ship in /app"
        )
    taken |= {dest for dest, _source in named.web_data}
    own = set(named.own_packages)
    missing = [
        (path, is_dir, where)
        for path, _source, is_dir, where in named.app_paths
        if not shipped(path) and path.split("/")[0] not in own
    ]
    for path, is_dir, where in missing[:5]:
        log.warning(
            f"the app's code names {path} ({where}), a {'directory' if is_dir else 'file'} "
            f"beside it that the image does not get: --include-data {path}={path} ships it"
        )
    if len(missing) > 5:
        log.warning(f"... and {len(missing) - 5} more files beside the app that its code names")
    return dataclasses.replace(options, include_data=(*options.include_data, *extra))


def build_image(options: BuildOptions, log: Log | None = None) -> BuildResult:
    """Compile the app, collect its libraries, write the image tarball and optionally load it."""
    log = log or Log()
    check_output(options.output)
    git = git_info(options.app.directory)
    # SOURCE_DATE_EPOCH, else the app's last commit, else 0: never the time of the build.
    epoch = next(e for e in (options.source_date_epoch, git.commit_time, 0) if e is not None)
    cache = Cache(options.cache_dir)
    signing_key = _before_compile(options, log)

    with (
        cache.workspace() as workdir,
        cache.holding(),
        remote_cache(options.cache_repo, log) as remote,
    ):
        interpreter, target, toolchain = _check(options, cache, log, remote)
        options = _with_own_sources(options, interpreter.named, log)
        options = _with_app_files(options, interpreter.named, log)
        compiled = _compile(options, target, interpreter, cache, workdir, log, remote)

        base_image = _base(options, workdir, log) if options.base not in BASES else None
        trace = _trace(options, compiled, workdir, log) if options.trace is not None else None

        with log.stage("resolve") as stage:
            resolved = _resolve(options, compiled, interpreter.named, trace, log)
            stage.summary = resolved.summary

        with log.stage("plan") as stage:
            checked = checked_plan(
                options,
                compiled=compiled,
                closure=resolved.closure,
                roots=resolved.roots,
                app_data=tuple(dict.fromkeys((*target.app_data, *interpreter.named.own_packages))),
                traced_files=resolved.traced_files,
                tini=resolved.tini,
                base_image=base_image,
                toolchain=toolchain,
                epoch=epoch,
                workdir=workdir,
                log=log,
            )
            stage.summary = checked.summary
        programs = interpreter.named.programs
        for warning in missing_programs(programs, checked.plan.nodes, options.env):
            log.warning(warning)
        run = {p.program for p in programs}  # warned of above, as programs
        host_paths = [p for p in interpreter.named.host_paths if p[0] not in run]
        for warning in missing_host_files(host_paths, checked.plan.nodes):
            log.warning(warning)
        for analyser in interpreter.named.analysers:
            log.warning(f"{analyser.where}: {analyser.why}")
        for function, where in interpreter.named.worker_functions:
            log.warning(
                f"{where}: joblib's process workers (its default backend, loky) get {function} "
                "of the main script as code, which a compiled function has not got: they stop "
                "(RuntimeError: Compiled function bytecode used); define it in a module of the "
                'app, or use backend="multiprocessing" or prefer="threads"'
            )

        # What pybin2img knows goes into labels and annotations; --label/--annotation win.
        labels = oci_keys(options, git, epoch, base_image, toolchain)
        written, comparison = _write_and_test(
            options,
            checked.plan,
            labels=labels,
            epoch=epoch,
            machine=resolved.closure.machine,
            compiled=compiled,
            target=target,
            base_image=base_image,
            by_name=resolved.by_name,
            cache=cache,
            workdir=workdir,
            log=log,
        )
        sbom_file = sbom_path(options.output, options.sbom_format)
        sbom = checked.sbom(
            checked.owners, checked.plan.packages, written.manifest_digest, options.sbom_format
        )
        write_atomically(sbom_file, sbom)

    if options.load:
        _load(options, written, log)
    release = None
    if options.push:
        from .ship import release_image

        release = release_image(options, written, base_image, sbom, sbom_file, signing_key, log)

    return BuildResult(
        reference=options.reference,
        digest=written.manifest_digest,
        image_id=written.config_digest,
        tarball=written.path,
        sbom=sbom_file,
        size=written.size,
        layers=written.layers,
        files=checked.files,
        loaded=options.load,
        base=options.base,
        python=str(compiled.interpreter.executable),
        python_version=compiled.interpreter.python_version,
        nuitka_version=compiled.interpreter.nuitka_version,
        distributions=compiled_distributions(compiled),
        pushed=release.pushed if release else None,
        sbom_attachment=release.attachment if release else None,
        signatures=release.signatures if release else (),
        trace=trace,
        comparison=comparison,
        named=interpreter.named,
        bytecode=compiled.bytecode,
        compile_profile=compiled.profile,
        timings=dict(log.timings),
    )


def _before_compile(options: BuildOptions, log: Log) -> SigningKey | None:
    """Fail before a long compile when what comes after it would: the engine the image is for
    cannot be reached (``--load``), the registry or the signing key refuses (``--push``)."""
    if options.load:
        check_engine(options.docker_env, _zstd_layers(options))
    if not options.push:
        return None
    from .ship import check_release  # requests is slow to import; only --push needs it

    return check_release(options, log)


def _zstd_layers(options: BuildOptions) -> str | None:
    """Why the image will have zstd layers (``--compression``, ``--base``), or ``None``."""
    if options.compression == "zstd":
        return "--compression zstd writes them"
    if options.base in BASES:
        return None
    try:
        with open_archive(Path(options.base)) as base:
            zstd = any(layer.codec == "zstd" for layer in base.layers)
    except (Pybin2imgError, OSError):
        return None  # the base stage says what is wrong with it, after the compile as before
    return "the --base image has them" if zstd else None


def _check(
    options: BuildOptions, cache: Cache, log: Log, remote: RemoteCache | None
) -> tuple[Interpreter, CompileTarget, Toolchain]:
    """The ``check`` stage: the build interpreter probed, what to compile, the toolchain."""
    with log.stage("check") as stage:
        interpreter, target = prepare_compile(options, cache, log, remote)
        for line in interpreter.named.describe():
            log.detail(line)
        if interpreter.named.error:
            log.warning(
                "the app's files could not all be read for modules named in strings "
                f"({interpreter.named.error}); those not found must be given with "
                "--nuitka-arg=--include-module=NAME"
            )
        stage.summary = f"Python {interpreter.python_version}, Nuitka {interpreter.nuitka_version}"
        toolchain = probe_toolchain(interpreter.python_version, interpreter.nuitka_version)
    return interpreter, target, toolchain


def _compile(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    cache: Cache,
    workdir: Path,
    log: Log,
    remote: RemoteCache | None,
) -> CompileResult:
    """The ``compile`` stage."""
    with log.stage("compile") as stage:
        compiled = compile_app(options, target, interpreter, cache, workdir, log, remote)
        size = _tree_size(compiled.dist_dir) / 1e6
        stage.summary = f"{size:.1f} MB dist" + (
            " (from the cache repository)"
            if compiled.from_cache_repo
            else " (cached)"
            if compiled.cached
            else ""
        )
    return compiled


@dataclass(frozen=True, kw_only=True)
class _Resolved:
    """What the resolve stage found: the closure of the dist's ``roots`` (with ``tini``, the
    libraries loaded by name, ``by_name``, and those the trace saw)."""

    roots: list[Path]
    tini: str | None
    by_name: tuple[FoundLibrary, ...]
    closure: Closure
    #: The host files the trace read and the data files of the libraries loaded by name.
    traced_files: tuple[str, ...]
    summary: str


def _resolve(
    options: BuildOptions,
    compiled: CompileResult,
    named: NamedModules,
    trace: Trace | None,
    log: Log,
) -> _Resolved:
    roots = elf_roots(compiled.dist_dir, compiled.binary)
    # A dynamic tini is resolved with the app: it needs the libc the image holds anyway.
    tini = find_tini(read_elf(str(compiled.binary)).interpreter) if options.init == "tini" else None
    by_name = libraries_by_name(named, log, added=options.extra_libs)
    closure = resolve_closure(
        [str(r) for r in roots],
        HostView("/"),
        library_path=options.library_path,
        extra_libs=(
            *options.extra_libs,
            *(lib.path for lib in (trace.libraries if trace else ())),
            *([tini] if tini and not is_static_program(tini) else []),
            *library_names(by_name),
        ),
    )
    dist = str(compiled.dist_dir) + "/"
    copied = [o for o in closure.objects if not o.source.startswith(dist)]
    by_name_data = data_of_libraries(by_name, closure.objects, log)
    by_name_data += tuple(
        path for path in companion_data(closure.objects, dist, log) if path not in by_name_data
    )
    summary = f"{len(roots)} ELF files in the dist, {len(copied)} system libraries"
    if trace:
        traced = {lib.path for lib in trace.libraries}
        added = [o for o in copied if o.reason == "extra" and o.path in traced]
        summary += f" ({len(added)} added by the trace)"
    for conflict in closure.conflicts:
        log.warning(str(conflict))
    for obj in copied:
        log.detail(f"{obj.path}  ({obj.reason}, needed by {obj.needed_by or '-'})")
    return _Resolved(
        roots=roots,
        tini=tini,
        by_name=by_name,
        closure=closure,
        traced_files=(*(f.path for f in (trace.files if trace else ())), *by_name_data),
        summary=summary,
    )


def _write_and_test(
    options: BuildOptions,
    plan: ImagePlan,
    *,
    labels: dict[str, str],
    epoch: int,
    machine: str,
    compiled: CompileResult,
    target: CompileTarget,
    base_image: BaseImage | None,
    by_name: tuple[FoundLibrary, ...],
    cache: Cache,
    workdir: Path,
    log: Log,
) -> tuple[WrittenImage, Comparison | None]:
    r"""The ``write`` stage, then the smoke test and ``--compare`` when asked for: the tarball
    is complete under a temporary name until they passed, so nothing that failed them is ever
    left where a later step would pick it up. ``labels`` are what pybin2img knows of the image
    (its ``--annotation``\ s win over them in the annotations)."""
    config = image_config(
        options,
        machine=machine,
        binary=compiled.binary,
        plan=plan,
        epoch=epoch,
        base_image=base_image,
        labels=labels,
    )
    annotations = {**labels, **dict(options.annotations)}
    comparison = None
    with pending_output(options.output) as partial:
        with log.stage("write") as stage:
            written = write_image(
                layers=plan.layers,
                config=config,
                reference=options.reference,
                annotations=annotations,
                output=partial,
                workdir=workdir,
                compression=options.compression,
                compression_level=options.compression_level,
                blob_cache=cache.ensure("blobs"),
                jobs=options.jobs or default_jobs(),
                base_blobs=base_blobs(base_image, workdir / "base-blobs") if base_image else (),
                log=log,
            )
            stage.summary = f"{options.output} ({written.size / 1e6:.1f} MB)"
        for line in size_report(plan.nodes, written):
            log.detail(line)
        own = own_modules(options.app, target)
        if options.smoke_test is not None or options.start_check:
            with (
                log.stage("smoke") as stage,
                hint_trace(library_names(by_name), traced=options.trace is not None),
            ):
                stage.summary = run_smoke_test(
                    options,
                    written,
                    log,
                    own_modules=own,
                    app_dirs=app_directories(options.app, target),
                )
        if options.compare is not None:
            with log.stage("compare") as stage:
                comparison = compare_image(
                    options,
                    launch_for(options.app, target),
                    compiled.interpreter.executable,
                    written,
                    workdir / "compare",
                    own_modules=own,
                )
                stage.summary = comparison.summary
        commit_output(partial)
    return dataclasses.replace(written, path=options.output), comparison


def _load(options: BuildOptions, written: WrittenImage, log: Log) -> None:
    """The ``load`` stage (``--load``)."""
    with log.stage("load") as stage:
        load_image(
            written.path,
            image_ids=(written.config_digest, written.manifest_digest),
            docker_env=options.docker_env,
        )
        stage.summary = options.reference.familiar


def _base(options: BuildOptions, workdir: Path, log: Log) -> BaseImage:
    """The ``base`` stage: the ``--base`` image tarball read."""
    with log.stage("base") as stage:
        base_image = read_base(Path(options.base), workdir)
        stage.summary = f"{base_image.name}: {len(base_image.layers)} layers reused"
    return base_image


def _trace(options: BuildOptions, compiled: CompileResult, workdir: Path, log: Log) -> Trace:
    """The ``trace`` stage: the ``--trace`` run of the dist, reported: what is added and why,
    what is not."""
    with log.stage("trace") as stage:
        private = (
            str(options.app.directory.resolve()),
            str(Path.cwd()),
            str(Path.home()),
            str(options.cache_dir),
        )
        trace = trace_dist(
            compiled.binary,
            compiled.dist_dir,
            args=options.trace or "",
            env=(*options.env, *options.trace_env),
            timeout=options.trace_timeout,
            workdir=workdir / "trace",
            private=private,
        )
        if trace.warning:
            log.warning(trace.warning)
        for line in trace.report():
            log.detail(line)
        stage.summary = trace.summary
    return trace


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
