"""The facts the dynamic loader reads from one ELF file, parsed through program headers only.

Section headers are optional at run time (``strip --strip-section-headers``, some packers), so
everything here goes through ``PT_INTERP``, ``PT_DYNAMIC`` and ``PT_LOAD``: dynamic-table
addresses are mapped to file offsets with the load segments, as ld.so does after ``mmap``.

The ELF header's identification bytes are kept raw (not validated here) because glibc's
``open_verify`` decides between "skip this candidate" and "fatal error" from them in a fixed
order; the resolver applies that order against the main program's class and machine.
"""

from __future__ import annotations

import dataclasses
import os
import struct
from dataclasses import dataclass
from typing import IO, Any

from elftools.common.exceptions import ELFError
from elftools.common.utils import parse_cstring_from_stream, struct_parse
from elftools.construct import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.enums import ENUM_E_MACHINE

ELF_MAGIC = b"\x7fELF"
ELFCLASS32 = 1
ELFCLASS64 = 2
ELFDATA2LSB = 1
ELFDATA2MSB = 2
ET_EXEC = 2
ET_DYN = 3
DF_1_NODEFLIB = 0x800
VER_FLG_WEAK = 0x2
#: Sizes of the ELF header and of one program header, per class (what ld.so compares with).
EHDR_SIZE = {ELFCLASS32: 52, ELFCLASS64: 64}
PHDR_SIZE = {ELFCLASS32: 32, ELFCLASS64: 56}

_MACHINE_NAMES: dict[int, str] = {
    value: name for name, value in ENUM_E_MACHINE.items() if isinstance(value, int)
}
# Defensive bounds: a corrupt count must not make us read a whole disk.
_MAX_ENTRIES = 1 << 16


class ElfFormatError(Exception):
    """The file is not an ELF object at all, or its dynamic data cannot be read.

    The message is glibc's wording where one exists (``invalid ELF header``, ``file too short``),
    so the resolver can report it the way ld.so would.
    """

    def __init__(self, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        #: The file's size: glibc says "file too short" before it looks at the magic.
        self.size = size


@dataclass(frozen=True, kw_only=True)
class VersionNeed:
    """One ``DT_VERNEED`` entry: the versions a file needs from one library."""

    #: The library name (``vn_file``), normally one of the object's ``DT_NEEDED`` strings.
    file: str
    #: ``(version name, weak)`` pairs, for example ``("GLIBC_2.34", False)``.
    versions: tuple[tuple[str, bool], ...]


@dataclass(frozen=True, kw_only=True)
class ElfFacts:
    """Everything the loader looks at in one ELF file."""

    #: File size in bytes (glibc refuses files shorter than its own ELF header).
    size: int
    #: Raw ``e_ident`` fields: ``EI_CLASS``, ``EI_DATA``, ``EI_VERSION``, ``EI_OSABI``,
    #: ``EI_ABIVERSION``, and whether the padding bytes are all zero.
    ei_class: int
    ei_data: int
    ei_version: int
    ei_osabi: int
    ei_abiversion: int
    ei_pad_zero: bool
    #: Raw header fields (``e_type``, ``e_machine``, ``e_version``, ``e_phentsize``).
    e_type: int
    e_machine: int
    e_version: int
    e_phentsize: int
    #: ``PT_INTERP``, exactly as written (without the trailing NUL).
    interpreter: str | None = None
    #: Whether the file has a ``PT_DYNAMIC`` segment.
    dynamic: bool = False
    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: str | None = None
    runpath: str | None = None
    flags_1: int = 0
    verneed: tuple[VersionNeed, ...] = ()
    #: Version names defined (``DT_VERDEF``), including the base entry (the file's own name).
    verdef: tuple[str, ...] = ()

    @property
    def machine(self) -> str:
        """``e_machine`` by its ELF name (``EM_X86_64``), or ``EM_<number>`` if unknown."""
        return _MACHINE_NAMES.get(self.e_machine, f"EM_{self.e_machine}")

    @property
    def nodeflib(self) -> bool:
        """``DF_1_NODEFLIB``: the cache's system entries and the default directories are off."""
        return bool(self.flags_1 & DF_1_NODEFLIB)

    @property
    def effective_rpath(self) -> str | None:
        """``DT_RPATH`` as glibc uses it: ignored entirely when ``DT_RUNPATH`` is present."""
        return None if self.runpath is not None else self.rpath


def read_elf(path: str) -> ElfFacts:
    """Parse the host file *path*; raise :class:`ElfFormatError` if it is not ELF."""
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        ident = stream.read(64)
        if len(ident) < 16 or ident[:4] != ELF_MAGIC:
            message = "file too short" if len(ident) < 16 else "invalid ELF header"
            raise ElfFormatError(message, size=size)
        facts = _header_facts(ident, size)
        if facts.ei_class not in EHDR_SIZE or facts.ei_data not in (ELFDATA2LSB, ELFDATA2MSB):
            # Nothing further can be decoded; glibc rejects such a file on the header alone.
            return facts
        if len(ident) < EHDR_SIZE[facts.ei_class]:
            raise ElfFormatError("file too short")
        try:
            return _dynamic_facts(stream, facts)
        except (ELFError, ConstructError, struct.error, ValueError, OSError) as exc:
            raise ElfFormatError(f"cannot read its dynamic section: {exc}") from exc


class ElfCache:
    """Parse each file once per run, keyed by ``(st_dev, st_ino, st_size, st_mtime_ns)``.

    A failure (not ELF) is memoized too. :attr:`parses` counts real parses, for tests and
    for the resolver's statistics.
    """

    def __init__(self) -> None:
        self._facts: dict[tuple[int, int, int, int], ElfFacts | ElfFormatError] = {}
        self.parses = 0

    def get(self, path: str) -> ElfFacts:
        """Facts of host file *path*; raise :class:`ElfFormatError` if it is not ELF."""
        st = os.stat(path)
        key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        known = self._facts.get(key)
        if known is None:
            self.parses += 1
            try:
                known = read_elf(path)
            except ElfFormatError as exc:
                known = exc
            self._facts[key] = known
        if isinstance(known, ElfFormatError):
            raise known
        return known


def _header_facts(ident: bytes, size: int) -> ElfFacts:
    order = ">" if ident[5] == ELFDATA2MSB else "<"
    e_type, e_machine, e_version = struct.unpack_from(order + "HHI", ident.ljust(24, b"\0"), 16)
    phentsize_at = 54 if ident[4] == ELFCLASS64 else 42
    (e_phentsize,) = struct.unpack_from(order + "H", ident.ljust(64, b"\0"), phentsize_at)
    return ElfFacts(
        size=size,
        ei_class=ident[4],
        ei_data=ident[5],
        ei_version=ident[6],
        ei_osabi=ident[7],
        ei_abiversion=ident[8],
        ei_pad_zero=not any(ident[9:16]),
        e_type=e_type,
        e_machine=e_machine,
        e_version=e_version,
        e_phentsize=e_phentsize,
    )


def _dynamic_facts(stream: IO[bytes], facts: ElfFacts) -> ElfFacts:
    elf = ELFFile(stream)
    structs = elf.structs
    header = elf.header
    phdrs: list[Any] = []
    if header["e_phnum"] > _MAX_ENTRIES:
        raise ElfFormatError("too many program headers")
    for i in range(header["e_phnum"]):
        offset = header["e_phoff"] + i * header["e_phentsize"]
        phdrs.append(struct_parse(structs.Elf_Phdr, stream, stream_pos=offset))

    interpreter: str | None = None
    dynamic_offset: int | None = None
    for ph in phdrs:
        if ph["p_type"] == "PT_INTERP" and interpreter is None:
            stream.seek(ph["p_offset"])
            raw = stream.read(ph["p_filesz"])
            interpreter = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif ph["p_type"] == "PT_DYNAMIC" and dynamic_offset is None:
            dynamic_offset = ph["p_offset"]
    if dynamic_offset is None:
        return _replace(facts, interpreter=interpreter)

    loads = [ph for ph in phdrs if ph["p_type"] == "PT_LOAD"]

    def file_offset(vaddr: int) -> int:
        for ph in loads:
            if ph["p_vaddr"] <= vaddr < ph["p_vaddr"] + ph["p_filesz"]:
                return int(vaddr - ph["p_vaddr"] + ph["p_offset"])
        raise ElfFormatError(f"address {vaddr:#x} is outside every PT_LOAD segment")

    tags: list[tuple[str | int, int]] = []
    entry_size = structs.Elf_Dyn.sizeof()
    for i in range(_MAX_ENTRIES):
        dyn = struct_parse(structs.Elf_Dyn, stream, stream_pos=dynamic_offset + i * entry_size)
        if dyn["d_tag"] == "DT_NULL":
            break
        tags.append((dyn["d_tag"], dyn["d_val"]))

    values: dict[str | int, list[int]] = {}
    for tag, value in tags:
        values.setdefault(tag, []).append(value)
    if "DT_STRTAB" not in values:
        raise ElfFormatError("PT_DYNAMIC has no DT_STRTAB")
    strtab = file_offset(values["DT_STRTAB"][0])

    def string(offset: int) -> str:
        raw = parse_cstring_from_stream(stream, strtab + offset)
        return (raw or b"").decode("utf-8", "surrogateescape")

    def first(tag: str) -> str | None:
        return string(values[tag][0]) if tag in values else None

    verneed: tuple[VersionNeed, ...] = ()
    if "DT_VERNEED" in values:
        count = values.get("DT_VERNEEDNUM", [0])[0]
        verneed = _read_verneed(
            stream, structs, file_offset(values["DT_VERNEED"][0]), count, string
        )
    verdef: tuple[str, ...] = ()
    if "DT_VERDEF" in values:
        count = values.get("DT_VERDEFNUM", [0])[0]
        verdef = _read_verdef(stream, structs, file_offset(values["DT_VERDEF"][0]), count, string)

    return _replace(
        facts,
        interpreter=interpreter,
        dynamic=True,
        needed=tuple(string(v) for v in values.get("DT_NEEDED", [])),
        soname=first("DT_SONAME"),
        rpath=first("DT_RPATH"),
        runpath=first("DT_RUNPATH"),
        flags_1=values.get("DT_FLAGS_1", [0])[0],
        verneed=verneed,
        verdef=verdef,
    )


def _read_verneed(
    stream: IO[bytes], structs: Any, offset: int, count: int, string: Any
) -> tuple[VersionNeed, ...]:
    result = []
    for _ in range(min(count, _MAX_ENTRIES)):
        need = struct_parse(structs.Elf_Verneed, stream, stream_pos=offset)
        versions = []
        aux_offset = offset + need["vn_aux"]
        for _ in range(min(need["vn_cnt"], _MAX_ENTRIES)):
            aux = struct_parse(structs.Elf_Vernaux, stream, stream_pos=aux_offset)
            versions.append((string(aux["vna_name"]), bool(aux["vna_flags"] & VER_FLG_WEAK)))
            if not aux["vna_next"]:
                break
            aux_offset += aux["vna_next"]
        result.append(VersionNeed(file=string(need["vn_file"]), versions=tuple(versions)))
        if not need["vn_next"]:
            break
        offset += need["vn_next"]
    return tuple(result)


def _read_verdef(
    stream: IO[bytes], structs: Any, offset: int, count: int, string: Any
) -> tuple[str, ...]:
    names = []
    for _ in range(min(count, _MAX_ENTRIES)):
        vd = struct_parse(structs.Elf_Verdef, stream, stream_pos=offset)
        if vd["vd_cnt"]:
            # The first auxiliary entry names the version; later ones name its parents.
            aux = struct_parse(structs.Elf_Verdaux, stream, stream_pos=offset + vd["vd_aux"])
            names.append(string(aux["vda_name"]))
        if not vd["vd_next"]:
            break
        offset += vd["vd_next"]
    return tuple(names)


def _replace(facts: ElfFacts, **changes: Any) -> ElfFacts:
    return dataclasses.replace(facts, **changes)
