"""Resolve the shared-library closure of a program exactly as the target's loader would.

The walk simulates one process: ``roots[0]`` is exec'd (the kernel maps its ``PT_INTERP``),
its ``DT_NEEDED`` entries are loaded breadth-first, then every other root is ``dlopen``'d by
absolute path, then the libraries glibc itself ``dlopen``s, then ``extra_libs``. Nothing is
executed: every decision is made from ELF facts (:mod:`pybin2img.elf`), the target's
``ld.so.cache`` (:mod:`pybin2img.ldcache`) and a view of the target's files
(:mod:`pybin2img.fsview`). The search follows glibc's ``_dl_map_object`` (``elf/dl-load.c``)
or, for a musl program, musl's ``load_library``.

The result is frozen data; nothing here writes a file.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import ResolveError
from . import elf
from .fsview import FileSystemView, Kind
from .ldcache import (
    CACHE_FLAGS,
    CacheFormatError,
    LdCache,
    ld_so_conf_dirs,
    loader_system_dirs,
    read_ld_so_cache,
)

__all__ = ["Closure", "Conflict", "Edge", "LoadedObject", "resolve_closure", "verify_closure"]

#: ``AT_PLATFORM`` values ``$PLATFORM`` can take, per ``e_machine``; the last is the baseline.
_PLATFORMS: dict[int, tuple[str, ...]] = {
    62: ("haswell", "xeon_phi", "x86_64"),
    3: ("i386", "i486", "i586", "i686"),
    183: ("aarch64",),
    40: ("v6l", "v8l", "v7l"),
    21: ("power9", "power10", "power8"),
}
#: Debian multiarch triplets, for a loader whose compiled-in directories cannot be read.
#: glibc's loader for (e_machine, ELF class): what ``ld.so --list`` of a shared library uses
#: when the library names no interpreter of its own.
_DEFAULT_INTERPRETERS: dict[tuple[int, int], str] = {
    (62, 2): "/lib64/ld-linux-x86-64.so.2",
    (3, 1): "/lib/ld-linux.so.2",
    (183, 2): "/lib/ld-linux-aarch64.so.1",
    (40, 1): "/lib/ld-linux-armhf.so.3",
    (21, 2): "/lib64/ld64.so.2",
    (22, 2): "/lib/ld64.so.1",
    (243, 2): "/lib/ld-linux-riscv64-lp64d.so.1",
}

_TRIPLETS: dict[tuple[int, int], str] = {
    (62, 2): "x86_64-linux-gnu",
    (3, 1): "i386-linux-gnu",
    (183, 2): "aarch64-linux-gnu",
    (40, 1): "arm-linux-gnueabihf",
    (21, 2): "powerpc64le-linux-gnu",
    (22, 2): "s390x-linux-gnu",
    (243, 2): "riscv64-linux-gnu",
}
#: Names musl's loader answers itself ("lib" + one of these prefixes).
_MUSL_RESERVED = ("c.", "pthread.", "rt.", "m.", "dl.", "util.", "xnet.")
_MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")
_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")
_MAX_MISMATCHES = 5


@dataclass(frozen=True, kw_only=True)
class LoadedObject:
    """One file the process maps."""

    #: Target path the loader opened (symlinks not resolved: what ``$ORIGIN`` is taken from).
    path: str
    #: Target path with every symlink resolved inside the view.
    realpath: str
    #: Host path of the bytes.
    source: str
    soname: str | None
    needed: tuple[str, ...]
    #: ``root``, ``interpreter``, ``needed``, ``dlopen`` (loaded by glibc itself),
    #: ``hwcaps`` (a CPU-specific variant) or ``extra``.
    reason: str
    #: Target path of the object whose lookup first loaded it (``None`` for roots).
    needed_by: str | None


@dataclass(frozen=True, kw_only=True)
class Edge:
    """One lookup: *requester* asked for *needed* and got the object at *resolved*."""

    requester: str
    needed: str
    resolved: str


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """A lookup satisfied by an already-loaded object although its own search finds another.

    Which copy a process uses then depends on what it loaded first (for extension modules:
    the import order), so both files are part of the closure.
    """

    #: The name looked up (a ``DT_NEEDED`` string).
    name: str
    #: Target path of the object that asked.
    requester: str
    #: Target path of the object that was already loaded and is used.
    loaded: str
    #: Target path that the requester's own search finds.
    alternative: str

    def __str__(self) -> str:
        return (
            f"{self.name} needed by {self.requester} is {self.loaded} when that is loaded "
            f"first, else {self.alternative}; both are included"
        )


@dataclass(frozen=True, kw_only=True)
class Closure:
    """Every file a program maps, and how each lookup was answered."""

    #: The roots as given: the main program first, then the objects it ``dlopen``s by path.
    roots: tuple[str, ...]
    #: ``PT_INTERP`` of the main program, exactly as written; ``None`` if it is static.
    interpreter: str | None
    #: Roots first, then the other objects in load order; each file once.
    objects: tuple[LoadedObject, ...]
    #: Every lookup, in the order the loader makes them (the interpreter's included).
    edges: tuple[Edge, ...]
    conflicts: tuple[Conflict, ...]
    #: ``glibc``, ``musl``, or ``None`` for a static program.
    libc: str | None
    #: ``(major, minor)`` from the newest ``GLIBC_x.y`` version libc.so.6 defines.
    glibc_version: tuple[int, int] | None
    #: The loader's default directories for this target, in search order.
    default_dirs: tuple[str, ...]
    #: The ``library_path`` and ``extra_libs`` the closure was resolved with.
    library_path: tuple[str, ...] = ()
    extra_libs: tuple[str, ...] = ()
    #: Things that resolved but may not behave the same at run time (CWD-relative paths...).
    warnings: tuple[str, ...] = ()


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


def _source_identity(source: str) -> Hashable:
    try:
        st = os.stat(source)
    except OSError:
        return os.path.realpath(source)
    return (st.st_dev, st.st_ino)


class _Fatal(Exception):
    """A candidate glibc refuses outright (the search stops there)."""


@dataclass(frozen=True)
class _Dir:
    path: str
    #: For messages: where the directory comes from (``RUNPATH of /app/x``).
    what: str
    #: A non-baseline ``$PLATFORM`` expansion: what it holds is loaded on some CPUs only.
    variant: bool = False


@dataclass(frozen=True)
class _Found:
    path: str
    realpath: str
    source: str
    identity: Hashable
    facts: elf.ElfFacts


@dataclass(frozen=True)
class _Search:
    found: _Found | None
    variants: tuple[_Found, ...] = ()
    tried: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    fatal: str | None = None


@dataclass(eq=False)
class _Object:
    path: str
    found: _Found
    origin: str
    loader: _Object | None
    reason: str
    needed_by: str | None
    phase: int
    order: int
    registered: bool = True
    walked: bool = False
    links: dict[str, _Object] = field(default_factory=dict)


@dataclass(frozen=True)
class _Target:
    musl: bool
    ei_class: int
    ei_data: int
    e_machine: int
    default_dirs: tuple[str, ...]
    lib: str
    platforms: tuple[str, ...]
    hwcaps: bool
    cache: LdCache | None


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
        self.search_memo: dict[tuple[str, tuple[_Dir, ...], bool], _Search] = {}
        self.dirs_memo: dict[int, tuple[_Dir, ...]] = {}
        self.musl = False
        self.root_ids: list[Hashable] = []
        self.main: _Object
        self.interp: _Object | None = None
        self.interpreter: str | None = None
        self.target: _Target

    # -- the process ---------------------------------------------------------------------

    def run(self, roots: tuple[str, ...], extra_libs: tuple[str, ...]) -> Closure:
        main_found = self._open_root(roots[0], main=True)
        self.root_ids.append(main_found.identity)
        facts = main_found.facts
        interpreter = facts.interpreter
        if interpreter is None and facts.needed:
            # A shared library as the root: resolved as `ld.so --list lib.so` would, with the
            # machine's glibc loader as the program interpreter.
            interpreter = _DEFAULT_INTERPRETERS.get((facts.e_machine, facts.ei_class))
        self.musl = interpreter is not None and _is_musl(interpreter)
        self.main = self._add(main_found, loader=None, reason="root", needed_by=None, phase=0)
        # The kernel-started program's $ORIGIN comes from /proc/self/exe: its real path.
        self.main.origin = posixpath.dirname(main_found.realpath)
        if interpreter is None:
            return self._static(roots, extra_libs)
        self.interpreter = interpreter
        self.target = self._derive_target(facts, interpreter)
        self._load_interpreter(interpreter)
        if not self.musl and self.view.lstat_kind("/etc/ld.so.preload") is not Kind.MISSING:
            self._warn("the target has /etc/ld.so.preload; the libraries it names are not resolved")
        self._walk([self.main])
        for phase, root in enumerate(roots[1:], start=1):
            found = self._open_root(root, main=False)
            self.root_ids.append(found.identity)
            if found.identity in self.by_identity:
                continue  # already loaded as a dependency: dlopen just returns it
            # glibc: a dlopen by path has no l_loader; musl passes the executable instead.
            loader = self.main if self.musl else None
            obj = self._add(found, loader=loader, reason="root", needed_by=None, phase=phase)
            self._walk([obj])
        libc = self._libc()
        version = self._glibc_version(libc)
        phase = len(roots)
        if not self.musl:
            for name in ("libgcc_s.so.1", *self._nss_names(version)):
                self._implicit(name, libc, "dlopen", phase)
        for name in extra_libs:
            self._implicit(name, self.main, "extra", phase)
        while self.deferred:
            batch, self.deferred = self.deferred, []
            self._walk(batch)
        if not self.musl:
            self._check_versions()
        return self._closure(roots, extra_libs, version)

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
        search = self._search(name, loader)
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
            raise self._not_found(name, requester, reason, search)
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
        search: _Search,
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
                registered=False,
            )
            self.deferred.append(alt)
            self._add_variants(search, loader, requester, phase)
        self.conflicts.append(
            Conflict(name=name, requester=requester.path, loaded=loaded.path, alternative=alt.path)
        )

    def _add_variants(
        self, search: _Search, loader: _Object | None, requester: _Object, phase: int
    ) -> None:
        for variant in search.variants:
            if variant.identity not in self.by_identity:
                obj = self._add(
                    variant,
                    loader=loader,
                    reason="hwcaps",
                    needed_by=requester.path,
                    phase=phase,
                    registered=False,
                )
                self.deferred.append(obj)

    def _edge(self, requester: _Object, name: str, obj: _Object) -> _Object:
        self.edges.append(Edge(requester=requester.path, needed=name, resolved=obj.path))
        requester.links.setdefault(name, obj)
        return obj

    # -- the process's loaded objects ----------------------------------------------------

    def _add(
        self,
        found: _Found,
        *,
        loader: _Object | None,
        reason: str,
        needed_by: str | None,
        phase: int,
        registered: bool = True,
    ) -> _Object:
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
        if registered:
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

    def _glibc_version(self, libc: _Object | None) -> tuple[int, int] | None:
        if self.musl or libc is None:
            return None
        found = [_GLIBC_VERSION.match(v) for v in libc.found.facts.verdef]
        versions = [(int(m.group(1)), int(m.group(2))) for m in found if m]
        return max(versions) if versions else None

    @staticmethod
    def _nss_names(version: tuple[int, int] | None) -> tuple[str, ...]:
        # Before 2.34 the files and dns NSS services were separate modules, loaded on the
        # first getpwnam/getaddrinfo; libnss_dns needs libresolv.
        if version is not None and version < (2, 34):
            return ("libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2")
        return ()

    # -- roots and target ----------------------------------------------------------------

    def _open_root(self, path: str, *, main: bool, check: bool = True) -> _Found:
        what = "the program" if main else "the dlopen'd object"
        if not path.startswith("/"):
            raise ResolveError(f"{what} {path} is not an absolute path inside the target")
        real = self.view.realpath(path)
        if real is None or self.view.lstat_kind(real) is not Kind.REGULAR:
            raise ResolveError(f"{what} {path} does not exist in the target")
        source = self.view.source(real)
        try:
            facts = self.elf.get(source)
        except elf.ElfFormatError as exc:
            raise ResolveError(f"{what} {path} is not a loadable ELF file: {exc}") from exc
        except OSError as exc:
            raise ResolveError(f"{what} {path} cannot be read: {exc.strerror}") from exc
        found = _Found(path, real, source, self.view.identity(real), facts)
        if not main and check:
            try:
                checked = self._verify(path)
            except _Fatal as exc:
                raise ResolveError(f"cannot dlopen {exc}") from exc
            if checked is None or isinstance(checked, str):
                reason = checked or "missing"
                raise ResolveError(f"{path} cannot be dlopen'd by {self.main.path}: {reason}")
        elif facts.e_type not in (elf.ET_EXEC, elf.ET_DYN) or facts.ei_class not in elf.EHDR_SIZE:
            raise ResolveError(f"the program {path} is not an ELF executable")
        return found

    def _static(self, roots: tuple[str, ...], extra: tuple[str, ...]) -> Closure:
        for root in roots[1:]:
            found = self._open_root(root, main=False, check=False)
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
        real = self.view.realpath(interp)
        if real is None or self.view.lstat_kind(real) is not Kind.REGULAR:
            raise ResolveError(
                f"the program interpreter {interp} of {self.main.path} does not exist in the "
                "target; install the C library's loader"
            )
        source = self.view.source(real)
        try:
            facts = self.elf.get(source)
        except elf.ElfFormatError as exc:
            raise ResolveError(f"the program interpreter {interp} is not ELF: {exc}") from exc
        found = _Found(interp, real, source, self.view.identity(real), facts)
        self.interp = self._add(
            found, loader=None, reason="interpreter", needed_by=self.main.path, phase=0
        )
        self._register(self.interp, interp)
        self._edge(self.main, interp, self.interp)

    def _derive_target(self, facts: elf.ElfFacts, interpreter: str) -> _Target:
        musl = self.musl
        loader_bytes = b""
        real = self.view.realpath(interpreter)
        if real is not None and self.view.lstat_kind(real) is Kind.REGULAR:
            with open(self.view.source(real), "rb") as stream:
                loader_bytes = stream.read()
        if musl:
            default_dirs = self._musl_default_dirs(interpreter)
        else:
            default_dirs = loader_system_dirs(loader_bytes) or self._guess_default_dirs(facts)
        cache = None
        if self.use_cache and not musl:
            try:
                cache = read_ld_so_cache(self.view)
            except (CacheFormatError, OSError) as exc:  # ld.so ignores a cache it cannot use
                self._warn(f"the target's /etc/ld.so.cache is unreadable ({exc}); ignored")
        return _Target(
            musl=musl,
            ei_class=facts.ei_class,
            ei_data=facts.ei_data,
            e_machine=facts.e_machine,
            default_dirs=default_dirs,
            lib=default_dirs[0].strip("/") if default_dirs else "lib",
            platforms=_PLATFORMS.get(facts.e_machine, ()),
            hwcaps=b"glibc-hwcaps" in loader_bytes,
            cache=cache,
        )

    def _guess_default_dirs(self, facts: elf.ElfFacts) -> tuple[str, ...]:
        triplet = _TRIPLETS.get((facts.e_machine, facts.ei_class))
        self._warn("the loader's default directories could not be read; guessed from the layout")
        if triplet and self.view.realpath(f"/usr/lib/{triplet}") is not None:
            return (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib")
        if facts.ei_class == elf.ELFCLASS64 and self.view.realpath("/usr/lib64") is not None:
            return ("/lib64", "/usr/lib64")
        return ("/lib", "/usr/lib")

    def _musl_default_dirs(self, interp: str) -> tuple[str, ...]:
        # musl: <prefix>/etc/ld-musl-ARCH.path, where <prefix> is the loader's directory
        # minus its last component (/lib/ld-musl-x86_64.so.1 -> /etc/ld-musl-x86_64.path).
        arch = posixpath.basename(interp)[len("ld-musl-") :].split(".so", 1)[0]
        prefix = posixpath.dirname(posixpath.dirname(interp)).rstrip("/")
        conf = f"{prefix}/etc/ld-musl-{arch}.path"
        real = self.view.realpath(conf)
        if real is None or self.view.lstat_kind(real) is not Kind.REGULAR:
            return _MUSL_DEFAULT_PATH
        with open(self.view.source(real), "rb") as stream:
            text = stream.read().decode("utf-8", "surrogateescape")
        return tuple(d for d in re.split(r"[:\n]", text) if d)

    # -- one search ----------------------------------------------------------------------

    def _search(self, name: str, loader: _Object | None) -> _Search:
        if "$" in name:
            expanded = self._expand_name(name, loader or self.main)
            if expanded is None:
                return _Search(None, fatal="empty dynamic string token substitution")
            name = expanded
        if "/" in name:
            if not name.startswith("/"):
                return _Search(None, tried=(f"the current directory ({name} is relative)",))
            return self._open_path(name)
        dirs = self._dirs_for(loader)
        nodeflib = (loader or self.main).found.facts.nodeflib
        key = (name, dirs, nodeflib)
        if key not in self.search_memo:
            if self.musl:
                self.search_memo[key] = self._search_musl(name, dirs)
            else:
                self.search_memo[key] = self._search_glibc(name, dirs, nodeflib)
        return self.search_memo[key]

    def _open_path(self, path: str) -> _Search:
        try:
            checked = self._verify(path)
        except _Fatal as exc:
            return _Search(None, tried=(path,), fatal=str(exc))
        if isinstance(checked, _Found):
            return _Search(checked, tried=(path,))
        return _Search(None, tried=(path,), skipped=(f"{path} ({checked})",) if checked else ())

    def _search_glibc(self, name: str, dirs: tuple[_Dir, ...], nodeflib: bool) -> _Search:
        tried: list[str] = []
        skipped: list[str] = []
        variants: list[_Found] = []
        try:
            for directory in dirs:
                found = self._try_dir(directory, name, tried, skipped, variants)
                if found is not None:
                    return _Search(found, tuple(variants), tuple(tried), tuple(skipped))
            found = self._try_cache(name, nodeflib, tried, skipped, variants)
            if found is not None:
                return _Search(found, tuple(variants), tuple(tried), tuple(skipped))
            if not nodeflib:
                for path in self.target.default_dirs:
                    directory = _Dir(path, "default")
                    found = self._try_dir(directory, name, tried, skipped, variants)
                    if found is not None:
                        return _Search(found, tuple(variants), tuple(tried), tuple(skipped))
        except _Fatal as exc:
            return _Search(None, tuple(variants), tuple(tried), tuple(skipped), fatal=str(exc))
        return _Search(None, tuple(variants), tuple(tried), tuple(skipped))

    def _try_dir(
        self,
        directory: _Dir,
        name: str,
        tried: list[str],
        skipped: list[str],
        variants: list[_Found],
    ) -> _Found | None:
        tried.append(directory.path)
        base = directory.path.rstrip("/")
        listing = self.view.listdir(directory.path)
        if self.target.hwcaps and "glibc-hwcaps" in listing:
            # Loaded instead of the baseline file on CPUs of that level: ship them all.
            for sub in sorted(self.view.listdir(f"{base}/glibc-hwcaps")):
                if name in self.view.listdir(f"{base}/glibc-hwcaps/{sub}"):
                    hit = self._candidate(f"{base}/glibc-hwcaps/{sub}/{name}", skipped)
                    if hit is not None:
                        variants.append(hit)
        if name not in listing:
            return None
        hit = self._candidate(f"{base}/{name}", skipped)
        if hit is not None and directory.variant:
            variants.append(hit)
            return None
        return hit

    def _try_cache(
        self,
        name: str,
        nodeflib: bool,
        tried: list[str],
        skipped: list[str],
        variants: list[_Found],
    ) -> _Found | None:
        cache = self.target.cache
        if cache is None:
            return None
        tried.append("/etc/ld.so.cache")
        flags = CACHE_FLAGS.get((self.target.e_machine, self.target.ei_class))
        baseline, cpu_specific = cache.lookup(name, flags)
        for path in cpu_specific:
            hit = self._candidate(path, skipped)
            if hit is not None:
                variants.append(hit)
        if baseline is None:
            return None
        # NODEFLIB rejects entries by prefix, as glibc compares with its system_dirs.
        system = tuple(d.rstrip("/") + "/" for d in self.target.default_dirs)
        if nodeflib and baseline.startswith(system):
            return None
        # An entry whose file is gone falls through to the default directories.
        return self._candidate(baseline, skipped)

    def _candidate(self, path: str, skipped: list[str]) -> _Found | None:
        checked = self._verify(path)
        if isinstance(checked, _Found):
            return checked
        if checked is not None:
            skipped.append(f"{path} ({checked})")
        return None

    def _search_musl(self, name: str, dirs: tuple[_Dir, ...]) -> _Search:
        tried: list[str] = []
        for directory in (*dirs, *(_Dir(d, "default") for d in self.target.default_dirs)):
            tried.append(directory.path)
            if name in self.view.listdir(directory.path):
                path = f"{directory.path.rstrip('/')}/{name}"
                try:
                    checked = self._verify(path)
                except _Fatal as exc:
                    return _Search(None, tried=tuple(tried), fatal=str(exc))
                if isinstance(checked, _Found):
                    return _Search(checked, tried=tuple(tried))
                if checked is not None:  # musl does not skip a wrong-class file
                    return _Search(None, tried=tuple(tried), fatal=f"{path}: {checked}")
        return _Search(None, tried=tuple(tried))

    def _verify(self, path: str) -> _Found | str | None:
        """glibc's ``open_verify``: the file, a reason to skip it, ``None`` if absent.

        Raise :class:`_Fatal` for what glibc treats as fatal; the checks run in its order.
        """
        try:
            return self._open_verify(path)
        except _Fatal as exc:
            raise _Fatal(f"{path}: {exc}") from exc

    def _open_verify(self, path: str) -> _Found | str | None:
        real = self.view.realpath(path)
        if real is None:
            return None
        kind = self.view.lstat_kind(real)
        if kind is Kind.DIRECTORY:
            raise _Fatal("cannot read file data: Is a directory")
        if kind is not Kind.REGULAR:
            return None
        source = self.view.source(real)
        try:
            facts = self.elf.get(source)
        except elf.ElfFormatError as exc:
            if exc.size is not None and exc.size < elf.EHDR_SIZE[self.target.ei_class]:
                raise _Fatal("file too short") from exc
            raise _Fatal(str(exc)) from exc
        except OSError as exc:  # EACCES and the like: glibc goes on searching
            return f"cannot read it: {exc.strerror}"
        t = self.target
        if facts.size < elf.EHDR_SIZE[t.ei_class]:
            raise _Fatal("file too short")
        if facts.ei_class != t.ei_class:
            return f"wrong ELF class: ELFCLASS{32 if facts.ei_class == elf.ELFCLASS32 else 64}"
        if facts.ei_data != t.ei_data:
            order = "little" if t.ei_data == elf.ELFDATA2LSB else "big"
            raise _Fatal(f"ELF file data encoding not {order}-endian")
        if facts.ei_version != 1:
            raise _Fatal("ELF file version ident does not match current one")
        if facts.ei_osabi not in (0, 3):  # ELFOSABI_SYSV, ELFOSABI_GNU
            raise _Fatal("ELF file OS ABI invalid")
        if facts.ei_abiversion != 0 and not (facts.ei_osabi == 3 and facts.ei_abiversion < 4):
            raise _Fatal("ELF file ABI version invalid")
        if not facts.ei_pad_zero:
            raise _Fatal("nonzero padding in e_ident")
        if facts.e_version != 1:
            raise _Fatal("ELF file version does not match current one")
        if facts.e_machine != t.e_machine:
            return f"wrong machine (e_machine {facts.e_machine})"
        if facts.e_type not in (elf.ET_DYN, elf.ET_EXEC):
            raise _Fatal("only ET_DYN and ET_EXEC can be loaded")
        if facts.e_phentsize != elf.PHDR_SIZE[t.ei_class]:
            raise _Fatal("ELF file's phentsize not the expected size")
        return _Found(path, real, source, self.view.identity(real), facts)

    # -- search lists ----------------------------------------------------------------------

    def _dirs_for(self, loader: _Object | None) -> tuple[_Dir, ...]:
        key = id(loader)
        if key not in self.dirs_memo:
            self.dirs_memo[key] = tuple(self._build_dirs(loader))
        return self.dirs_memo[key]

    def _build_dirs(self, loader: _Object | None) -> Iterator[_Dir]:
        main = self.main
        if self.musl:
            yield from self._path_list(self.library_path, main, "library path", musl=True)
            obj = loader
            while obj is not None:
                facts = obj.found.facts
                own = facts.runpath if facts.runpath is not None else facts.rpath
                if own is not None:
                    yield from self._path_list(
                        own.split(":"), obj, f"RPATH of {obj.path}", musl=True
                    )
                obj = obj.loader
            return
        if loader is None or loader.found.facts.runpath is None:
            obj, did_main = loader, False
            while obj is not None:
                rpath = obj.found.facts.effective_rpath
                if rpath is not None:
                    yield from self._path_list(rpath.split(":"), obj, f"RPATH of {obj.path}")
                    did_main |= obj is main
                obj = obj.loader
            rpath = main.found.facts.effective_rpath
            if not did_main and rpath is not None:
                yield from self._path_list(rpath.split(":"), main, f"RPATH of {main.path}")
        yield from self._path_list(self.library_path, main, "library path")
        if loader is not None and loader.found.facts.runpath is not None:
            runpath = loader.found.facts.runpath.split(":")
            yield from self._path_list(runpath, loader, f"RUNPATH of {loader.path}")

    def _path_list(
        self, elements: Sequence[str], obj: _Object, what: str, *, musl: bool = False
    ) -> Iterator[_Dir]:
        """One RPATH/RUNPATH/library path, as ``fillin_rpath`` builds it."""
        if musl and any("$" in e.replace("${ORIGIN}", "").replace("$ORIGIN", "") for e in elements):
            # musl's fixup_rpath gives up on the whole list at the first token it does not know.
            self._warn(f"{what} uses a token other than $ORIGIN; musl ignores all of it")
            return
        seen: set[tuple[str, bool]] = set()
        for element in elements:
            expanded = [(element, False)] if "$" not in element else self._expand(element, obj)
            for path, variant in expanded:
                if musl and not path:
                    continue  # musl skips empty elements; glibc reads them as the CWD
                if not path or not path.startswith("/"):
                    shown = repr(element) if element else "an empty element"
                    self._warn(
                        f"{what} has {shown}, which means the current directory at run time; "
                        "ignored"
                    )
                    continue
                directory = path.rstrip("/") or "/"
                if (directory, variant) not in seen:
                    seen.add((directory, variant))
                    yield _Dir(directory, what, variant)

    def _expand(self, text: str, obj: _Object) -> list[tuple[str, bool]]:
        """DST substitution; one result per ``$PLATFORM`` value, the baseline last."""
        platforms = self.target.platforms if _uses(text, "PLATFORM") else ("",)
        if not platforms:
            self._warn(f"$PLATFORM in {text!r} is unknown for this machine; element dropped")
            return []
        result = []
        for platform in platforms:
            values = {"ORIGIN": obj.origin, "LIB": self.target.lib, "PLATFORM": platform}
            expanded = _DST.sub(functools.partial(_dst_value, values), text)
            result.append((expanded, platform != platforms[-1]))
        return result

    def _expand_name(self, name: str, obj: _Object) -> str | None:
        expanded = self._expand(name, obj)
        return expanded[-1][0] if expanded else None

    # -- results and errors ----------------------------------------------------------------

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

    def _not_found(
        self, name: str, requester: _Object, reason: str, search: _Search
    ) -> ResolveError:
        if search.fatal is not None:
            return ResolveError(
                f"{name} {self._chain(requester, reason)} cannot be loaded: {search.fatal} "
                "(glibc stops at the first unusable file; remove it or change the search path)",
                details=self._details(search),
            )
        where = ", ".join(dict.fromkeys(search.tried)) or "(no directory)"
        hint = self._stale_cache_hint(name)
        skipped = f" (skipped: {', '.join(search.skipped)})" if search.skipped else ""
        return ResolveError(
            f"{name} {self._chain(requester, reason)} was not found in: {where}{skipped}; "
            f"{hint}install it or pass --library-path",
            details=self._details(search),
        )

    def _chain(self, requester: _Object, reason: str) -> str:
        if reason == "dlopen":
            return "(which glibc loads at run time)"
        if reason == "extra":
            return "(an extra library)"
        chain = []
        obj: _Object | None = requester
        while obj is not None and obj.loader is not None:
            chain.append(obj.found.facts.soname or posixpath.basename(obj.path))
            obj = obj.loader
        root = obj.path if obj is not None else requester.path
        via = f" (via {' -> '.join(reversed(chain))})" if chain else ""
        return f"needed by {root}{via}"

    def _details(self, search: _Search) -> str:
        lines = [f"tried: {d}" for d in dict.fromkeys(search.tried)]
        lines += [f"skipped: {s}" for s in search.skipped]
        return "\n".join(lines)

    def _stale_cache_hint(self, name: str) -> str:
        if self.musl or not self.use_cache:
            return ""
        for directory in ld_so_conf_dirs(self.view):
            if name in self.view.listdir(directory):
                return f"{directory}/{name} exists but is not in /etc/ld.so.cache (run ldconfig); "
        return ""

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
        libc: str | None = None
        if not static:
            libc = "musl" if self.musl else "glibc"
        return Closure(
            roots=roots,
            interpreter=self.interpreter,
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


def _is_musl(interpreter: str) -> bool:
    return posixpath.basename(interpreter).startswith("ld-musl-")


def _dst_value(values: dict[str, str], match: re.Match[str]) -> str:
    return values[match.group(1) or match.group(2)]


def _uses(text: str, token: str) -> bool:
    return any((m.group(1) or m.group(2)) == token for m in _DST.finditer(text))


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
