"""Where the target's loader finds a library by name, and how it opens a file.

:class:`Searcher` follows glibc's ``_dl_map_object`` (``elf/dl-load.c``): the RPATH chain
unless the caller has a RUNPATH, ``LD_LIBRARY_PATH``, the caller's RUNPATH, ``ld.so.cache`` and
the default directories (the last two not for ``DF_1_NODEFLIB``), with ``glibc-hwcaps``
variants and dynamic string tokens; each candidate is checked by :func:`open_verify`. For a
musl program it follows musl's ``load_library``. :func:`open_root` and
:func:`open_interpreter` open what the kernel maps. The search reads the loaded objects it is
given but never changes them: the load graph is :mod:`pybin2img.resolve.process`'s.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import ResolveError
from . import elf
from .fsview import FileSystemView, Kind
from .ldcache import CACHE_FLAGS, ld_so_conf_dirs
from .target import Target

__all__ = [
    "Dir",
    "Fatal",
    "Found",
    "Loaded",
    "SearchResult",
    "Searcher",
    "open_file",
    "open_interpreter",
    "open_root",
    "open_verify",
]

_DST = re.compile(r"\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))")


class Fatal(Exception):
    """A candidate glibc refuses outright (the search stops there)."""


@dataclass(frozen=True)
class Dir:
    """One directory of a search list."""

    path: str
    #: For messages: where the directory comes from (``RUNPATH of /app/x``).
    what: str
    #: A non-baseline ``$PLATFORM`` expansion: what it holds is loaded on some CPUs only.
    variant: bool = False


@dataclass(frozen=True)
class Found:
    """A file the loader opened: where it is, and its ELF facts."""

    #: Target path as opened.
    path: str
    #: Target path with every symlink resolved.
    realpath: str
    #: Host path of the bytes.
    source: str
    #: The same for every path of one file (a process maps each file once).
    identity: Hashable
    facts: elf.ElfFacts


@dataclass(frozen=True)
class SearchResult:
    """The outcome of one search, with what it looked at (for messages)."""

    found: Found | None
    #: CPU-specific copies loaded instead of ``found`` on some machines.
    variants: tuple[Found, ...] = ()
    tried: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    #: Why the search stopped at an unusable file.
    fatal: str | None = None

    @property
    def details(self) -> str:
        lines = [f"tried: {d}" for d in dict.fromkeys(self.tried)]
        lines += [f"skipped: {s}" for s in self.skipped]
        return "\n".join(lines)


class Loaded(Protocol):
    """What a search reads of a loaded object: its file, ``$ORIGIN`` and loader chain."""

    @property
    def path(self) -> str: ...
    @property
    def found(self) -> Found: ...
    @property
    def origin(self) -> str: ...
    @property
    def loader(self) -> Loaded | None: ...


class Searcher:
    """The library search of one process: its search lists and their answers, memoised."""

    def __init__(
        self,
        view: FileSystemView,
        target: Target,
        elf_cache: elf.ElfCache,
        main: Loaded,
        library_path: tuple[str, ...],
        warn: Callable[[str], None],
    ):
        self.view = view
        self.target = target
        self.elf = elf_cache
        #: The executable: its RPATH applies to every lookup glibc makes without a RUNPATH.
        self.main = main
        self.library_path = library_path
        self.warn = warn
        self.search_memo: dict[tuple[str, tuple[Dir, ...], bool], SearchResult] = {}
        # Per loader object (None: glibc's own dlopen).
        self.dirs_memo: dict[Loaded | None, tuple[Dir, ...]] = {}

    def search(self, name: str, loader: Loaded | None) -> SearchResult:
        """Look *name* up as a ``DT_NEEDED`` entry of *loader* (``None``: glibc's own dlopen)."""
        if "$" in name:
            expanded = self._expand_name(name, loader or self.main)
            if expanded is None:
                return SearchResult(None, fatal="empty dynamic string token substitution")
            name = expanded
        if "/" in name:
            if not name.startswith("/"):
                return SearchResult(None, tried=(f"the current directory ({name} is relative)",))
            return self._open_path(name)
        dirs = self._dirs_for(loader)
        nodeflib = (loader or self.main).found.facts.nodeflib
        key = (name, dirs, nodeflib)
        if key not in self.search_memo:
            if self.target.musl:
                self.search_memo[key] = self._search_musl(name, dirs)
            else:
                self.search_memo[key] = self._search_glibc(name, dirs, nodeflib)
        return self.search_memo[key]

    def check_dlopen(self, path: str) -> None:
        """Raise :class:`ResolveError` if the program's ``dlopen`` of *path* would fail."""
        try:
            checked = open_verify(path, self.view, self.target, self.elf)
        except Fatal as exc:
            raise ResolveError(f"cannot dlopen {exc}") from exc
        if checked is None or isinstance(checked, str):
            reason = checked or "missing"
            raise ResolveError(f"{path} cannot be dlopen'd by {self.main.path}: {reason}")

    def not_found(
        self, name: str, requester: Loaded, reason: str, result: SearchResult, *, cache_hint: bool
    ) -> ResolveError:
        """The error for *name*, which *requester* looked up (for *reason*) and did not get.

        With *cache_hint*, a library installed where ``ldconfig`` looks but missing from the
        cache is pointed out.
        """
        wanted = _wanted_by(requester, reason)
        if result.fatal is not None:
            return ResolveError(
                f"{name} {wanted} cannot be loaded: {result.fatal} "
                "(glibc stops at the first unusable file; remove it or change the search path)",
                details=result.details,
            )
        where = ", ".join(dict.fromkeys(result.tried)) or "(no directory)"
        hint = self._stale_cache_hint(name) if cache_hint and not self.target.musl else ""
        skipped = f" (skipped: {', '.join(result.skipped)})" if result.skipped else ""
        return ResolveError(
            f"{name} {wanted} was not found in: {where}{skipped}; "
            f"{hint}install it or pass --library-path",
            details=result.details,
        )

    def _stale_cache_hint(self, name: str) -> str:
        for directory in ld_so_conf_dirs(self.view):
            if name in self.view.listdir(directory):
                return f"{directory}/{name} exists but is not in /etc/ld.so.cache (run ldconfig); "
        return ""

    # -- one search ----------------------------------------------------------------------

    def _open_path(self, path: str) -> SearchResult:
        try:
            checked = self._verify(path)
        except Fatal as exc:
            return SearchResult(None, tried=(path,), fatal=str(exc))
        if isinstance(checked, Found):
            return SearchResult(checked, tried=(path,))
        skipped = (f"{path} ({checked})",) if checked else ()
        return SearchResult(None, tried=(path,), skipped=skipped)

    def _search_glibc(self, name: str, dirs: tuple[Dir, ...], nodeflib: bool) -> SearchResult:
        tried: list[str] = []
        skipped: list[str] = []
        variants: list[Found] = []
        try:
            for directory in dirs:
                found = self._try_dir(directory, name, tried, skipped, variants)
                if found is not None:
                    return SearchResult(found, tuple(variants), tuple(tried), tuple(skipped))
            found = self._try_cache(name, nodeflib, tried, skipped, variants)
            if found is not None:
                return SearchResult(found, tuple(variants), tuple(tried), tuple(skipped))
            if not nodeflib:
                for path in self.target.default_dirs:
                    directory = Dir(path, "default")
                    found = self._try_dir(directory, name, tried, skipped, variants)
                    if found is not None:
                        return SearchResult(found, tuple(variants), tuple(tried), tuple(skipped))
        except Fatal as exc:
            return SearchResult(None, tuple(variants), tuple(tried), tuple(skipped), fatal=str(exc))
        return SearchResult(None, tuple(variants), tuple(tried), tuple(skipped))

    def _try_dir(
        self,
        directory: Dir,
        name: str,
        tried: list[str],
        skipped: list[str],
        variants: list[Found],
    ) -> Found | None:
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
        variants: list[Found],
    ) -> Found | None:
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

    def _candidate(self, path: str, skipped: list[str]) -> Found | None:
        checked = self._verify(path)
        if isinstance(checked, Found):
            return checked
        if checked is not None:
            skipped.append(f"{path} ({checked})")
        return None

    def _search_musl(self, name: str, dirs: tuple[Dir, ...]) -> SearchResult:
        tried: list[str] = []
        for directory in (*dirs, *(Dir(d, "default") for d in self.target.default_dirs)):
            tried.append(directory.path)
            if name in self.view.listdir(directory.path):
                path = f"{directory.path.rstrip('/')}/{name}"
                try:
                    checked = self._verify(path)
                except Fatal as exc:
                    return SearchResult(None, tried=tuple(tried), fatal=str(exc))
                if isinstance(checked, Found):
                    return SearchResult(checked, tried=tuple(tried))
                if checked is not None:  # musl does not skip a wrong-class file
                    return SearchResult(None, tried=tuple(tried), fatal=f"{path}: {checked}")
        return SearchResult(None, tried=tuple(tried))

    def _verify(self, path: str) -> Found | str | None:
        return open_verify(path, self.view, self.target, self.elf)

    # -- search lists --------------------------------------------------------------------

    def _dirs_for(self, loader: Loaded | None) -> tuple[Dir, ...]:
        if loader not in self.dirs_memo:
            self.dirs_memo[loader] = tuple(self._build_dirs(loader))
        return self.dirs_memo[loader]

    def _build_dirs(self, loader: Loaded | None) -> Iterator[Dir]:
        main = self.main
        obj: Loaded | None
        if self.target.musl:
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
        self, elements: Sequence[str], obj: Loaded, what: str, *, musl: bool = False
    ) -> Iterator[Dir]:
        """One RPATH/RUNPATH/library path, as ``fillin_rpath`` builds it."""
        if musl and any("$" in e.replace("${ORIGIN}", "").replace("$ORIGIN", "") for e in elements):
            # musl's fixup_rpath gives up on the whole list at the first token it does not know.
            self.warn(f"{what} uses a token other than $ORIGIN; musl ignores all of it")
            return
        seen: set[tuple[str, bool]] = set()
        for element in elements:
            expanded = [(element, False)] if "$" not in element else self._expand(element, obj)
            for path, variant in expanded:
                if musl and not path:
                    continue  # musl skips empty elements; glibc reads them as the CWD
                if not path or not path.startswith("/"):
                    shown = repr(element) if element else "an empty element"
                    self.warn(
                        f"{what} has {shown}, which means the current directory at run time; "
                        "ignored"
                    )
                    continue
                directory = path.rstrip("/") or "/"
                if (directory, variant) not in seen:
                    seen.add((directory, variant))
                    yield Dir(directory, what, variant)

    def _expand(self, text: str, obj: Loaded) -> list[tuple[str, bool]]:
        """DST substitution; one result per ``$PLATFORM`` value, the baseline last."""
        platforms = self.target.platforms if _uses(text, "PLATFORM") else ("",)
        if not platforms:
            self.warn(f"$PLATFORM in {text!r} is unknown for this machine; element dropped")
            return []
        result = []
        for platform in platforms:
            values = {"ORIGIN": obj.origin, "LIB": self.target.lib, "PLATFORM": platform}
            expanded = _DST.sub(functools.partial(_dst_value, values), text)
            result.append((expanded, platform != platforms[-1]))
        return result

    def _expand_name(self, name: str, obj: Loaded) -> str | None:
        expanded = self._expand(name, obj)
        return expanded[-1][0] if expanded else None


def open_verify(
    path: str, view: FileSystemView, target: Target, elf_cache: elf.ElfCache
) -> Found | str | None:
    """glibc's ``open_verify``: the file, a reason to skip it, ``None`` if absent.

    Raise :class:`Fatal` for what glibc treats as fatal; the checks run in its order.
    """
    try:
        return _open_verify(path, view, target, elf_cache)
    except Fatal as exc:
        raise Fatal(f"{path}: {exc}") from exc


def _open_verify(
    path: str, view: FileSystemView, t: Target, elf_cache: elf.ElfCache
) -> Found | str | None:
    real = view.realpath(path)
    if real is None:
        return None
    kind = view.lstat_kind(real)
    if kind is Kind.DIRECTORY:
        raise Fatal("cannot read file data: Is a directory")
    if kind is not Kind.REGULAR:
        return None
    source = view.source(real)
    try:
        facts = elf_cache.get(source)
    except elf.ElfFormatError as exc:
        if exc.size is not None and exc.size < elf.EHDR_SIZE[t.ei_class]:
            raise Fatal("file too short") from exc
        raise Fatal(str(exc)) from exc
    except OSError as exc:  # EACCES and the like: glibc goes on searching
        return f"cannot read it: {exc.strerror}"
    if facts.size < elf.EHDR_SIZE[t.ei_class]:
        raise Fatal("file too short")
    if facts.ei_class != t.ei_class:
        return f"wrong ELF class: ELFCLASS{32 if facts.ei_class == elf.ELFCLASS32 else 64}"
    if facts.ei_data != t.ei_data:
        order = "little" if t.ei_data == elf.ELFDATA2LSB else "big"
        raise Fatal(f"ELF file data encoding not {order}-endian")
    if facts.ei_version != 1:
        raise Fatal("ELF file version ident does not match current one")
    if facts.ei_osabi not in (0, 3):  # ELFOSABI_SYSV, ELFOSABI_GNU
        raise Fatal("ELF file OS ABI invalid")
    if facts.ei_abiversion != 0 and not (facts.ei_osabi == 3 and facts.ei_abiversion < 4):
        raise Fatal("ELF file ABI version invalid")
    if not facts.ei_pad_zero:
        raise Fatal("nonzero padding in e_ident")
    if facts.e_version != 1:
        raise Fatal("ELF file version does not match current one")
    if facts.e_machine != t.e_machine:
        return f"wrong machine (e_machine {facts.e_machine})"
    if facts.e_type not in (elf.ET_DYN, elf.ET_EXEC):
        raise Fatal("only ET_DYN and ET_EXEC can be loaded")
    if facts.e_phentsize != elf.PHDR_SIZE[t.ei_class]:
        raise Fatal("ELF file's phentsize not the expected size")
    return Found(path, real, source, view.identity(real), facts)


def open_file(path: str, view: FileSystemView, elf_cache: elf.ElfCache) -> Found | None:
    """*path* as the kernel or ``dlopen`` opens it, unchecked; ``None`` if not a regular file.

    Raise :class:`~pybin2img.resolve.elf.ElfFormatError` or :class:`OSError` when it cannot be
    read as ELF.
    """
    real = view.realpath(path)
    if real is None or view.lstat_kind(real) is not Kind.REGULAR:
        return None
    source = view.source(real)
    facts = elf_cache.get(source)
    return Found(path, real, source, view.identity(real), facts)


def open_root(
    path: str, what: str, view: FileSystemView, elf_cache: elf.ElfCache, *, executable: bool
) -> Found:
    """*path*, which the kernel execs or ``dlopen`` opens by path (*what*: ``the program``).

    Raise :class:`ResolveError` unless it is an ELF file at an absolute path in *view* and,
    if *executable*, of a type and class the kernel runs.
    """
    if not path.startswith("/"):
        raise ResolveError(f"{what} {path} is not an absolute path inside the target")
    try:
        found = open_file(path, view, elf_cache)
    except elf.ElfFormatError as exc:
        raise ResolveError(f"{what} {path} is not a loadable ELF file: {exc}") from exc
    except OSError as exc:
        raise ResolveError(f"{what} {path} cannot be read: {exc.strerror}") from exc
    if found is None:
        raise ResolveError(f"{what} {path} does not exist in the target")
    facts = found.facts
    if executable and (
        facts.e_type not in (elf.ET_EXEC, elf.ET_DYN) or facts.ei_class not in elf.EHDR_SIZE
    ):
        raise ResolveError(f"the program {path} is not an ELF executable")
    return found


def open_interpreter(
    interp: str, program: str, view: FileSystemView, elf_cache: elf.ElfCache
) -> Found:
    """The loader *program* names in ``PT_INTERP``; :class:`ResolveError` if it is unusable."""
    try:
        found = open_file(interp, view, elf_cache)
    except elf.ElfFormatError as exc:
        raise ResolveError(f"the program interpreter {interp} is not ELF: {exc}") from exc
    if found is None:
        raise ResolveError(
            f"the program interpreter {interp} of {program} does not exist in the "
            "target; install the C library's loader"
        )
    return found


def _wanted_by(requester: Loaded, reason: str) -> str:
    """Who wanted a library: ``needed by /app/x (via libA.so -> libB.so)``."""
    if reason == "dlopen":
        return "(which glibc loads at run time)"
    if reason == "extra":
        return "(an extra library)"
    chain = []
    obj: Loaded | None = requester
    while obj is not None and obj.loader is not None:
        chain.append(obj.found.facts.soname or posixpath.basename(obj.path))
        obj = obj.loader
    root = obj.path if obj is not None else requester.path
    via = f" (via {' -> '.join(reversed(chain))})" if chain else ""
    return f"needed by {root}{via}"


def _dst_value(values: dict[str, str], match: re.Match[str]) -> str:
    return values[match.group(1) or match.group(2)]


def _uses(text: str, token: str) -> bool:
    return any((m.group(1) or m.group(2)) == token for m in _DST.finditer(text))
