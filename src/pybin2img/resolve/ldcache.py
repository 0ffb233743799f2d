"""The target's loader configuration: ``/etc/ld.so.cache``, ``/etc/ld.so.conf`` and the
directories compiled into its ``ld.so``.

ld.so never reads ``ld.so.conf``; only ``ldconfig`` does, to write the cache. The resolver reads
the cache (the ``glibc-ld.so.cache1.1`` format, behind an optional ``ld.so-1.7.0`` table, with
the ``glibc-hwcaps`` extension of glibc 2.33+) and uses the configuration only to explain a
library that is missing from a stale cache.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

from .fsview import FileSystemView, Kind

CACHE_PATH = "/etc/ld.so.cache"
CONF_PATH = "/etc/ld.so.conf"

_OLD_MAGIC = b"ld.so-1.7.0"
_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_NEW_HEADER = struct.Struct("20sIIB3xI12x")  # magic+version, nlibs, len_strings, flags, ext
_NEW_ENTRY = struct.Struct("iIIIQ")  # flags, key, value, osversion, hwcap
_OLD_ENTRY_SIZE = 12
_EXTENSION_MAGIC = 0xEAA42174
_EXTENSION_TAG_HWCAPS = 1
_HWCAP_EXTENSION = 1 << 62
_FLAG_TYPE_MASK = 0x00FF
_FLAG_ELF = 0x0001
_FLAG_ELF_LIBC6 = 0x0003

#: ``_DL_CACHE_DEFAULT_ID`` per ``(e_machine, ELF class)``: the only entry flags ld.so accepts.
CACHE_FLAGS: dict[tuple[int, int], frozenset[int]] = {
    (62, 2): frozenset({0x0303}),  # x86-64: FLAG_X8664_LIB64 | FLAG_ELF_LIBC6
    (62, 1): frozenset({0x0803}),  # x32
    (3, 1): frozenset({_FLAG_ELF, _FLAG_ELF_LIBC6}),  # i386
    (183, 2): frozenset({0x0A03}),  # aarch64
    (21, 2): frozenset({0x0503}),  # ppc64 / ppc64le
    (22, 2): frozenset({0x0403}),  # s390x
    (40, 1): frozenset({0x0903, 0x0B03, _FLAG_ELF_LIBC6}),  # arm hard float, soft float
    (243, 2): frozenset({0x0F03, 0x1003}),  # riscv64 soft float, double float
}


class CacheFormatError(Exception):
    """The cache file is not in a format glibc's ld.so accepts."""


@dataclass(frozen=True, kw_only=True)
class CacheEntry:
    """One library in ``ld.so.cache``."""

    #: The name the loader looks up (the library's SONAME, as ldconfig saw it).
    name: str
    #: Absolute target path of the file.
    path: str
    #: Entry flags: ELF type in the low byte, architecture above it.
    flags: int
    #: ``glibc-hwcaps`` subdirectory (``x86-64-v3``) for a CPU-specific entry, else ``None``.
    hwcaps: str | None = None
    #: Legacy hwcap bits (glibc < 2.37 ``tls``/``haswell``... subdirectories); 0 for most.
    legacy_hwcap: int = 0


@dataclass(frozen=True, kw_only=True)
class LdCache:
    """A parsed ``ld.so.cache``."""

    entries: tuple[CacheEntry, ...]

    def lookup(
        self, name: str, accepted_flags: frozenset[int] | None
    ) -> tuple[str | None, tuple[str, ...]]:
        """``(baseline path or None, CPU-specific paths)`` for *name*, as ld.so picks them.

        The baseline is the first entry with acceptable flags and no hwcaps: the one a CPU
        without any ``glibc-hwcaps`` level would get. *accepted_flags* ``None`` accepts any
        ELF entry (an architecture without a known table).
        """
        baseline: str | None = None
        variants: list[str] = []
        for entry in self.entries:
            if entry.name != name or not _flags_ok(entry.flags, accepted_flags):
                continue
            if entry.hwcaps is not None or entry.legacy_hwcap:
                variants.append(entry.path)
            elif baseline is None:
                baseline = entry.path
        return baseline, tuple(variants)


def _flags_ok(flags: int, accepted: frozenset[int] | None) -> bool:
    if accepted is None:
        return flags & _FLAG_TYPE_MASK in (_FLAG_ELF, _FLAG_ELF_LIBC6)
    return flags in accepted


def parse_ld_so_cache(data: bytes) -> LdCache:
    """Parse the bytes of an ``ld.so.cache`` file; raise :class:`CacheFormatError` if bad."""
    try:
        return _parse(data)
    except struct.error as exc:
        raise CacheFormatError(f"truncated ld.so.cache: {exc}") from exc


def _parse(data: bytes) -> LdCache:
    base = 0
    if data.startswith(_OLD_MAGIC):
        if len(data) < 16:
            raise CacheFormatError("truncated old-format header")
        (nlibs,) = struct.unpack_from("<I", data, 12)
        base = 16 + nlibs * _OLD_ENTRY_SIZE
        base = (base + 7) & ~7  # the new table is aligned like struct file_entry_new
    if data[base : base + len(_NEW_MAGIC)] != _NEW_MAGIC:
        raise CacheFormatError("no glibc-ld.so.cache1.1 table (only the pre-2.32 libc5 format?)")
    if len(data) < base + _NEW_HEADER.size:
        raise CacheFormatError("truncated header")
    # The byte-order flag (glibc 2.32+): 2 little-endian, 3 big-endian, 0 unknown (host order).
    order = ">" if data[base + 28] == 3 else "<"
    header = struct.Struct(order + _NEW_HEADER.format)
    _, nlibs, _, _, ext_offset = header.unpack_from(data, base)
    entry_struct = struct.Struct(order + _NEW_ENTRY.format)
    if len(data) < base + header.size + nlibs * entry_struct.size:
        raise CacheFormatError("truncated entry table")

    def string(offset: int) -> str:
        start = base + offset
        end = data.find(b"\0", start)
        if start >= len(data) or end < 0:
            raise CacheFormatError(f"string offset {offset} out of range")
        return data[start:end].decode("utf-8", "surrogateescape")

    hwcaps_names = _hwcaps_section(data, base, ext_offset, order, string)
    entries = []
    for i in range(nlibs):
        flags, key, value, _, hwcap = entry_struct.unpack_from(
            data, base + header.size + i * entry_struct.size
        )
        subdir: str | None = None
        legacy = hwcap
        if hwcap >> 32 == _HWCAP_EXTENSION >> 32:
            index = hwcap & 0xFFFFFFFF
            subdir = hwcaps_names[index] if index < len(hwcaps_names) else f"#{index}"
            legacy = 0
        entries.append(
            CacheEntry(
                name=string(key),
                path=string(value),
                flags=flags,
                hwcaps=subdir,
                legacy_hwcap=legacy,
            )
        )
    return LdCache(entries=tuple(entries))


def _hwcaps_section(
    data: bytes, base: int, ext_offset: int, order: str, string: Callable[[int], str]
) -> tuple[str, ...]:
    if not ext_offset or len(data) < base + ext_offset + 8:
        return ()
    magic, count = struct.unpack_from(order + "II", data, base + ext_offset)
    if magic != _EXTENSION_MAGIC:
        return ()
    for i in range(count):
        at = base + ext_offset + 8 + 16 * i
        if len(data) < at + 16:
            break
        tag, _, offset, size = struct.unpack_from(order + "IIII", data, at)
        if tag == _EXTENSION_TAG_HWCAPS:
            names = struct.unpack_from(f"{order}{size // 4}I", data, base + offset)
            return tuple(string(n) for n in names)
    return ()


def read_ld_so_cache(view: FileSystemView) -> LdCache | None:
    """The target's ``/etc/ld.so.cache``, or ``None`` if it has none."""
    real = view.realpath(CACHE_PATH)
    if real is None or view.lstat_kind(real) is not Kind.REGULAR:
        return None
    with open(view.source(real), "rb") as stream:
        return parse_ld_so_cache(stream.read())


def ld_so_conf_dirs(view: FileSystemView, path: str = CONF_PATH) -> tuple[str, ...]:
    """Directories ``ldconfig`` would scan from the target's *path*, in order, without dupes.

    ``include`` globs are relative to the including file's directory and expanded in sorted
    order, as glibc's ``glob()`` returns them; ``hwcap`` lines are ignored as ldconfig does.
    """
    dirs: list[str] = []
    _parse_conf(view, path, dirs, seen_files=set())
    return tuple(dict.fromkeys(dirs))


def _parse_conf(view: FileSystemView, path: str, dirs: list[str], seen_files: set[str]) -> None:
    real = view.realpath(path)
    if real is None or real in seen_files or view.lstat_kind(real) is not Kind.REGULAR:
        return
    seen_files.add(real)
    with open(view.source(real), "rb") as stream:
        text = stream.read().decode("utf-8", "surrogateescape")
    for raw_line in text.splitlines():
        line = raw_line.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "include" and len(words) > 1:
            for pattern in words[1:]:
                absolute = posixpath.join(posixpath.dirname(path), pattern)
                for match in glob(view, absolute):
                    _parse_conf(view, match, dirs, seen_files)
        elif words[0].lower() == "hwcap" and len(words) > 1:
            continue
        else:
            directory = line.rstrip("/") or "/"
            dirs.append(directory)


def glob(view: FileSystemView, pattern: str) -> list[str]:
    """Absolute paths in *view* matching the shell *pattern*, sorted like glibc's ``glob``."""
    matches = ["/"]
    for part in [p for p in pattern.split("/") if p]:
        step: list[str] = []
        for base in matches:
            if any(c in part for c in "*?["):
                names = view.listdir(base)
                step.extend(
                    posixpath.join(base, n)
                    for n in names
                    if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or n[0] != ".")
                )
            else:
                candidate = posixpath.join(base, part)
                if view.lstat_kind(candidate) is not Kind.MISSING:
                    step.append(candidate)
        matches = step
    return sorted(matches)


def loader_system_dirs(data: bytes) -> tuple[str, ...]:
    """The default search directories compiled into a glibc ``ld.so``, from its bytes.

    glibc stores them as one constant, ``"/lib/x86_64-linux-gnu/\\0/usr/lib/..."``: absolute
    directories with a trailing slash, NUL-separated, each naming a ``lib`` directory. The
    longest such run wins; ``()`` if there is none (not a glibc loader).
    """
    best: tuple[str, ...] = ()
    for match in _SYSTEM_DIRS_RE.finditer(data):
        dirs = tuple(d.decode("ascii").rstrip("/") or "/" for d in match.group().split(b"\0") if d)
        if all("lib" in d for d in dirs) and len(dirs) > len(best):
            best = dirs
    return best


_SYSTEM_DIRS_RE = re.compile(rb"(?:/[\x21-\x7e]*/\x00){2,}")
