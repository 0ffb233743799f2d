"""Resolve the shared-library closure of a program exactly as the target's loader would.

The walk simulates one process: ``roots[0]`` is exec'd (the kernel maps its ``PT_INTERP``),
its ``DT_NEEDED`` entries are loaded breadth-first, then every other root is ``dlopen``'d by
absolute path, then the libraries glibc itself ``dlopen``s, then ``extra_libs``. Nothing is
executed: every decision is made from ELF facts (:mod:`~pybin2img.resolve.elf`), the
target's ``ld.so.cache`` (:mod:`~pybin2img.resolve.ldcache`) and a view of the target's files
(:mod:`~pybin2img.resolve.fsview`). This module keeps the load graph: what is loaded, which
names answer lookups, conflicts and symbol versions. The target is detected by
:mod:`~pybin2img.resolve.target`; each lookup is a search by :mod:`~pybin2img.resolve.search`,
which follows glibc's ``_dl_map_object`` (``elf/dl-load.c``) or musl's ``load_library``.

The result is frozen data; nothing here writes a file.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from ..errors import ResolveError
from . import elf
from .closure import Closure, Conflict, Edge, LoadedObject
from .fsview import FileSystemView, Kind
from .search import Found, Searcher, SearchResult, open_interpreter, open_root
from .target import (
    Target,
    detect_target,
    glibc_dlopens,
    glibc_version,
    is_musl,
    program_interpreter,
)

__all__ = ["resolve_closure", "verify_closure"]

#: Names musl's loader answers itself ("lib" + one of these prefixes).
_MUSL_RESERVED = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
_MAX_MISMATCHES = 5
#: Where an OpenSSL 3 libcrypto looks for its provider modules, as ``OpenSSL_version
#: (OPENSSL_MODULES_DIR)`` spells it in the library.
_MODULESDIR = re.compile(rb'MODULESDIR: "(/[^"\x00]{1,200})"')


def resolve_closure(
    roots: Sequence[str],
    view: FileSystemView,
    *,
    library_path: Sequence[str] = (),
    extra_libs: Sequence[str] = (),
    use_cache: bool = True,
) -> Closure:
    """Resolve every shared library *roots* need inside *view*, as the target loader does.

    ``roots[0]`` is the main program; the others are ``dlopen``'d by absolute path in the
    given order (Python extension modules). *library_path* plays ``LD_LIBRARY_PATH`` (the
    host's is never read); *extra_libs* are names or paths the program ``dlopen``s itself.
    *use_cache* reads the target's ``/etc/ld.so.cache``. Raise :class:`ResolveError` when a
    library is missing, unusable, or lacks a symbol version that an object needs.
    """
    if not roots:
        raise ValueError("resolve_closure needs at least the main program")
    return _Process(view, tuple(library_path), use_cache).run(tuple(roots), tuple(extra_libs))


def verify_closure(
    closure: Closure,
    staged: FileSystemView,
    *,
    library_path: Sequence[str] = (),
    roots: Sequence[str] | None = None,
) -> None:
    """Check that *staged* (the planned image) resolves every lookup to the same bytes.

    The roots are resolved again inside *staged* alone, without a cache; each edge must land
    on a file whose host source is the one *closure* recorded, and every object of *closure*
    must be loaded. *roots* are the roots' paths inside *staged* when the plan moved them
    (same order as ``closure.roots``). Raise :class:`ResolveError` naming the first mismatches.
    """
    if roots is not None and len(roots) != len(closure.roots):
        raise ValueError("verify_closure needs one staged path per root of the closure")
    try:
        again = resolve_closure(
            tuple(roots) if roots is not None else closure.roots,
            staged,
            library_path=library_path,
            extra_libs=closure.extra_libs,
            use_cache=False,
        )
    except ResolveError as exc:
        raise ResolveError(
            f"the staged image does not resolve: {exc}", details=exc.details
        ) from exc

    problems = _differences(closure, again)
    if problems:
        more = len(problems) - _MAX_MISMATCHES
        shown = "; ".join(problems[:_MAX_MISMATCHES]) + (f"; and {more} more" if more > 0 else "")
        raise ResolveError(
            f"the staged image resolves differently from the build: {shown}",
            details="\n".join(problems),
        )


def _differences(want: Closure, got: Closure) -> list[str]:
    """Lookups of *want* that *got* answers with other bytes, and objects *got* lacks.

    Objects are matched by the identity of their host source, not by target path, so a plan
    may move a file as long as the loader still finds it.
    """
    want_ids = {o.path: _source_identity(o.source) for o in want.objects}
    got_ids = {o.path: _source_identity(o.source) for o in got.objects}
    got_edges = {(got_ids[e.requester], e.needed): e.resolved for e in got.edges}
    problems: list[str] = []
    for edge in want.edges:
        resolved = got_edges.get((want_ids[edge.requester], edge.needed))
        if resolved is None:
            problems.append(f"{edge.needed} needed by {edge.requester} is not loaded in the image")
        elif got_ids[resolved] != want_ids[edge.resolved]:
            problems.append(
                f"{edge.needed} needed by {edge.requester} resolves to {resolved} in the image, "
                f"not to the bytes of {edge.resolved}"
            )
    loaded = set(got_ids.values())
    problems += [
        f"{o.path} is not loaded in the image"
        for o in want.objects
        if want_ids[o.path] not in loaded
    ]
    return list(dict.fromkeys(problems))


@functools.lru_cache(maxsize=8)
def _modules_dir(source: str, identity: Hashable) -> str | None:
    """The ``MODULESDIR`` built into the libcrypto at ``source`` (``identity``: the file's, so
    that a resolve and its check in the staged image read it once), or None."""
    del identity  # the key only
    try:
        with open(source, "rb") as stream:
            found = _MODULESDIR.search(stream.read())
    except OSError:
        return None
    return None if found is None else found.group(1).decode("utf-8", "surrogateescape")


def _source_identity(source: str) -> Hashable:
    try:
        st = os.stat(source)
    except OSError:
        return os.path.realpath(source)
    return (st.st_dev, st.st_ino)


@dataclass(eq=False)
class _Object:
    path: str
    found: Found
    origin: str
    loader: _Object | None
    reason: str
    needed_by: str | None
    phase: int
    order: int
    registered: bool = True
    walked: bool = False
    links: dict[str, _Object] = field(default_factory=dict)


class _Process:
    """One simulated process; all state of one resolve_closure call."""

    def __init__(self, view: FileSystemView, library_path: tuple[str, ...], use_cache: bool):
        self.view = view
        self.library_path = library_path
        self.use_cache = use_cache
        self.elf = elf.ElfCache()
        self.objects: list[_Object] = []
        self.by_identity: dict[Hashable, _Object] = {}
        self.names: dict[str, _Object] = {}
        self.sonames: dict[str, _Object] = {}
        self.edges: list[Edge] = []
        self.conflicts: list[Conflict] = []
        self.warnings: dict[str, None] = {}
        self.deferred: list[_Object] = []
        self.musl = False
        self.root_ids: list[Hashable] = []
        self.main: _Object
        self.interp: _Object | None = None
        self.interpreter: str | None = None
        self.target: Target
        self.searcher: Searcher

    # -- the process ---------------------------------------------------------------------

    def run(self, roots: tuple[str, ...], extra_libs: tuple[str, ...]) -> Closure:
        main_found = open_root(roots[0], "the program", self.view, self.elf, executable=True)
        self.root_ids.append(main_found.identity)
        facts = main_found.facts
        interpreter = program_interpreter(facts)
        self.musl = interpreter is not None and is_musl(interpreter)
        self.main = self._add(main_found, loader=None, reason="root", needed_by=None, phase=0)
        # The kernel-started program's $ORIGIN comes from /proc/self/exe: its real path.
        self.main.origin = posixpath.dirname(main_found.realpath)
        if interpreter is None:
            return self._static(roots, extra_libs)
        self.interpreter = interpreter
        self.target, notes = detect_target(self.view, facts, interpreter, use_cache=self.use_cache)
        for note in notes:
            self._warn(note)
        self.searcher = Searcher(
            self.view, self.target, self.elf, self.main, self.library_path, self._warn
        )
        self._load_interpreter(interpreter)
        self._walk([self.main])
        for phase, root in enumerate(roots[1:], start=1):
            found = open_root(root, "the dlopen'd object", self.view, self.elf, executable=False)
            self.searcher.check_dlopen(root)
            self.root_ids.append(found.identity)
            if found.identity in self.by_identity:
                continue  # already loaded as a dependency: dlopen just returns it
            # glibc: a dlopen by path has no l_loader; musl passes the executable instead.
            loader = self.main if self.musl else None
            obj = self._add(found, loader=loader, reason="root", needed_by=None, phase=phase)
            self._walk([obj])
        libc = self._libc()
        version = None if self.musl or libc is None else glibc_version(libc.found.facts)
        phase = len(roots)
        if not self.musl:
            for name in glibc_dlopens(version):
                self._implicit(name, libc, "dlopen", phase)
        for name in extra_libs:
            self._implicit(name, self.main, "extra", phase)
        for crypto in [o for o in self.objects if posixpath.basename(o.path) == "libcrypto.so.3"]:
            for module in self._openssl_modules(crypto):
                self._implicit(module, crypto, "dlopen", phase)
        while self.deferred:
            batch, self.deferred = self.deferred, []
            self._walk(batch)
        if not self.musl:
            self._check_versions()
        return self._closure(roots, extra_libs, version)

    def _openssl_modules(self, crypto: _Object) -> list[str]:
        """The provider modules an OpenSSL 3 ``libcrypto.so.3`` ``dlopen``s from the directory
        built into it (``MODULESDIR``) when a program loads one by name: Debian's
        ``ossl-modules/legacy.so``, which ``OSSL_PROVIDER_load(NULL, "legacy")`` needs
        (cryptography before 42 fails at import without it). A copy bundled in a wheel has
        another name (``libcrypto-<hash>.so.3``) and is not read."""
        directory = _modules_dir(crypto.found.source, crypto.found.identity)
        real = None if directory is None else self.view.realpath(directory)
        if directory is None or real is None:
            return []
        return [
            posixpath.join(directory, name)
            for name in sorted(self.view.listdir(real))
            if name.endswith(".so")
            and self.view.lstat_kind(posixpath.join(real, name)) is Kind.REGULAR
        ]

    def _walk(self, queue: list[_Object]) -> None:
        """Breadth-first over DT_NEEDED, each object's entries in order (_dl_map_object_deps)."""
        i = 0
        while i < len(queue):
            obj = queue[i]
            i += 1
            if obj.walked:
                continue
            obj.walked = True
            for name in obj.found.facts.needed:
                dep, new = self._lookup(name, obj, obj, "needed", obj.phase)
                if new:
                    queue.append(dep)

    def _implicit(self, name: str, requester: _Object | None, reason: str, phase: int) -> None:
        # glibc's own dlopen has no caller object: the executable's RPATH still applies,
        # its RUNPATH does not (checked with LD_DEBUG=libs on glibc 2.36).
        loader = self.main if reason == "extra" else None
        edge_from = requester or self.main
        dep, new = self._lookup(name, loader, edge_from, reason, phase)
        if new:
            self._walk([dep])

    def _lookup(
        self, name: str, loader: _Object | None, requester: _Object, reason: str, phase: int
    ) -> tuple[_Object, bool]:
        """Answer one lookup; return the object and whether it was newly loaded."""
        loaded = self._loaded_by_name(name)
        if loaded is not None and loaded is self.interp:
            # The loader answers to its own names and is never searched for.
            return self._edge(requester, name, loaded), False
        search = self.searcher.search(name, loader)
        if loaded is not None:
            alternative = search.found
            if alternative is not None and alternative.identity != loaded.found.identity:
                self._conflict(name, requester, loaded, search, loader=loader, phase=phase)
            elif alternative is None and loaded.phase not in (0, requester.phase):
                self._warn(
                    f"{name} needed by {requester.path} is found only because "
                    f"{loaded.needed_by or loaded.path} loaded it first (load order matters)"
                )
            return self._edge(requester, name, loaded), False
        if search.found is None:
            raise self.searcher.not_found(
                name, requester, reason, search, cache_hint=self.use_cache
            )
        known = self.by_identity.get(search.found.identity)
        if known is not None:
            new = not known.registered
            self._register(known, name)
            return self._edge(requester, name, known), new
        obj = self._add(
            search.found, loader=loader, reason=reason, needed_by=requester.path, phase=phase
        )
        self._register(obj, name)
        self._add_variants(search, loader, requester, phase)
        return self._edge(requester, name, obj), True

    def _conflict(
        self,
        name: str,
        requester: _Object,
        loaded: _Object,
        search: SearchResult,
        *,
        loader: _Object | None,
        phase: int,
    ) -> None:
        assert search.found is not None
        alt = self.by_identity.get(search.found.identity)
        if alt is None:
            alt = self._add(
                search.found,
                loader=loader,
                reason="needed",
                needed_by=requester.path,
                phase=phase,
                deferred=True,
            )
            self._add_variants(search, loader, requester, phase)
        self.conflicts.append(
            Conflict(name=name, requester=requester.path, loaded=loaded.path, alternative=alt.path)
        )

    def _add_variants(
        self, search: SearchResult, loader: _Object | None, requester: _Object, phase: int
    ) -> None:
        for variant in search.variants:
            if variant.identity not in self.by_identity:
                self._add(
                    variant,
                    loader=loader,
                    reason="hwcaps",
                    needed_by=requester.path,
                    phase=phase,
                    deferred=True,
                )

    def _edge(self, requester: _Object, name: str, obj: _Object) -> _Object:
        self.edges.append(Edge(requester=requester.path, needed=name, resolved=obj.path))
        requester.links.setdefault(name, obj)
        return obj

    # -- the process's loaded objects ----------------------------------------------------

    def _add(
        self,
        found: Found,
        *,
        loader: _Object | None,
        reason: str,
        needed_by: str | None,
        phase: int,
        deferred: bool = False,
    ) -> _Object:
        # A deferred object (a copy mapped instead of another on some runs or CPUs) answers
        # no lookup and is walked after everything else.
        obj = _Object(
            path=found.path,
            found=found,
            # $ORIGIN: the directory of the path as opened, symlinks not resolved.
            origin=posixpath.dirname(found.path),
            loader=loader,
            reason=reason,
            needed_by=needed_by,
            phase=phase,
            order=len(self.objects),
            registered=False,
        )
        self.objects.append(obj)
        self.by_identity[found.identity] = obj
        if deferred:
            self.deferred.append(obj)
        else:
            self._register(obj, None)
        return obj

    def _register(self, obj: _Object, name: str | None) -> None:
        """Make *obj* answer lookups by *name*, its path (l_name) and its SONAME."""
        if not obj.registered:
            obj.registered = True
            # musl matches only the short names it was asked for; glibc also l_name (the
            # path; empty for the executable) and DT_SONAME.
            if obj.order != 0 and not self.musl:  # order 0 is the executable
                self.names.setdefault(obj.path, obj)
            soname = obj.found.facts.soname
            if soname is not None and not self.musl:
                self.sonames.setdefault(soname, obj)
        if name is not None:
            self.names.setdefault(name, obj)

    def _loaded_by_name(self, name: str) -> _Object | None:
        if self.musl and name.startswith("lib") and name[3:].startswith(_MUSL_RESERVED):
            return self.interp
        candidates = [o for o in (self.names.get(name), self.sonames.get(name)) if o]
        return min(candidates, key=lambda o: o.order) if candidates else None

    def _libc(self) -> _Object | None:
        if self.musl:
            return self.interp
        return self.sonames.get("libc.so.6")

    # -- roots and the interpreter -------------------------------------------------------

    def _static(self, roots: tuple[str, ...], extra: tuple[str, ...]) -> Closure:
        for root in roots[1:]:
            # No interpreter, so no target to verify it against: only its ELF type is checked.
            found = open_root(root, "the dlopen'd object", self.view, self.elf, executable=True)
            self.root_ids.append(found.identity)
            if found.facts.needed:
                raise ResolveError(
                    f"{roots[0]} is statically linked, but {root} needs shared libraries "
                    f"({', '.join(found.facts.needed)})"
                )
            if found.identity not in self.by_identity:
                self._add(found, loader=None, reason="root", needed_by=None, phase=1)
        if extra:
            raise ResolveError(f"{roots[0]} is statically linked; it cannot load {extra[0]}")
        return self._closure(roots, extra, None, static=True)

    def _load_interpreter(self, interp: str) -> None:
        found = open_interpreter(interp, self.main.path, self.view, self.elf)
        self.interp = self._add(
            found, loader=None, reason="interpreter", needed_by=self.main.path, phase=0
        )
        self._register(self.interp, interp)
        self._edge(self.main, interp, self.interp)

    # -- results and errors --------------------------------------------------------------

    def _check_versions(self) -> None:
        """Each VERNEED must be in the VERDEF of the library used for that name."""
        for obj in self.objects:
            for need in obj.found.facts.verneed:
                lib = obj.links.get(need.file) or self._loaded_by_name(need.file)
                if lib is None:
                    continue
                defined = set(lib.found.facts.verdef)
                if not defined:
                    self._warn(f"{lib.path} has no version information (required by {obj.path})")
                    continue
                for version, weak in need.versions:
                    if version not in defined and not weak:
                        raise ResolveError(
                            f"{obj.path} needs version {version} of {need.file}, but "
                            f"{lib.path} (the copy the loader uses) does not define it; "
                            f"ship a {need.file} that provides {version} or rebuild against "
                            "this one"
                        )

    def _warn(self, message: str) -> None:
        self.warnings[message] = None

    def _closure(
        self,
        roots: tuple[str, ...],
        extra_libs: tuple[str, ...],
        version: tuple[int, int] | None,
        *,
        static: bool = False,
    ) -> Closure:
        # Roots first, in the order given (a root already loaded as a dependency included).
        root_objects = list(dict.fromkeys(self.by_identity[i] for i in self.root_ids))
        others = [o for o in self.objects if o not in root_objects]
        libc = None if static else "musl" if self.musl else "glibc"
        return Closure(
            roots=roots,
            interpreter=self.interpreter,
            machine=self.main.found.facts.machine,
            objects=tuple(_freeze(o) for o in (*root_objects, *others)),
            edges=tuple(self.edges),
            conflicts=tuple(self.conflicts),
            libc=libc,
            glibc_version=version,
            default_dirs=() if static else self.target.default_dirs,
            library_path=self.library_path,
            extra_libs=extra_libs,
            warnings=tuple(self.warnings),
        )


def _freeze(obj: _Object) -> LoadedObject:
    facts = obj.found.facts
    return LoadedObject(
        path=obj.path,
        realpath=obj.found.realpath,
        source=obj.found.source,
        soname=facts.soname,
        needed=facts.needed,
        reason=obj.reason,
        needed_by=obj.needed_by,
    )
