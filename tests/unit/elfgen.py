"""Write tiny synthetic ELF objects and ld.so.cache files for pure resolver tests (no compiler).

Each file has one ``PT_LOAD`` covering the whole file at address 0, an optional ``PT_INTERP``
and a ``PT_DYNAMIC`` with the requested tags, and no section headers at all, which is also
how the resolver is required to read files.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

DT_NEEDED = 1
DT_STRTAB = 5
DT_STRSZ = 10
DT_SONAME = 14
DT_RPATH = 15
DT_RUNPATH = 29
DT_FLAGS_1 = 0x6FFFFFFB
DT_VERDEF = 0x6FFFFFFC
DT_VERDEFNUM = 0x6FFFFFFD
DT_VERNEED = 0x6FFFFFFE
DT_VERNEEDNUM = 0x6FFFFFFF
EM_X86_64 = 62
EM_AARCH64 = 183


def make_elf(  # noqa: PLR0915 (one ELF file, section by section)
    path: Path,
    *,
    needed: Sequence[str] = (),
    soname: str | None = None,
    rpath: str | None = None,
    runpath: str | None = None,
    interp: str | None = None,
    flags_1: int = 0,
    verneed: Mapping[str, Sequence[str | tuple[str, bool]]] | None = None,
    verdef: Sequence[str] = (),
    elf_class: int = 64,
    machine: int = EM_X86_64,
    big_endian: bool = False,
    osabi: int = 0,
    e_type: int = 3,
    payload: bytes = b"",
) -> Path:
    """Write a synthetic ELF file to *path* and return *path*."""
    order = ">" if big_endian else "<"
    is64 = elf_class == 64
    ehdr_size, phdr_size = (64, 56) if is64 else (52, 32)
    word = "Q" if is64 else "I"

    strtab = bytearray(b"\0")

    def add(text: str) -> int:
        offset = len(strtab)
        strtab.extend(text.encode() + b"\0")
        return offset

    tags: list[tuple[int, int]] = [(DT_NEEDED, add(n)) for n in needed]
    for tag, value in ((DT_SONAME, soname), (DT_RPATH, rpath), (DT_RUNPATH, runpath)):
        if value is not None:
            tags.append((tag, add(value)))
    if flags_1:
        tags.append((DT_FLAGS_1, flags_1))

    versions_blob = bytearray()
    need_items = list((verneed or {}).items())
    need_offsets: list[tuple[int, int, list[tuple[int, bool]]]] = []
    for file, versions in need_items:
        names = [(v, False) if isinstance(v, str) else v for v in versions]
        need_offsets.append((add(file), len(names), [(add(n), w) for n, w in names]))
    def_names = [add(n) for n in verdef]

    n_phdrs = 2 + (interp is not None)
    data_start = ehdr_size + n_phdrs * phdr_size
    interp_bytes = (interp.encode() + b"\0") if interp is not None else b""
    interp_off = data_start
    strtab_off = interp_off + len(interp_bytes)
    vern_off = strtab_off + len(strtab)
    vern_off += -vern_off % 8
    for i, (file_off, count, auxes) in enumerate(need_offsets):
        is_last = i == len(need_offsets) - 1
        next_off = 0 if is_last else 16 + 16 * count
        versions_blob += struct.pack(order + "HHIII", 1, count, file_off, 16, next_off)
        for j, (name_off, weak) in enumerate(auxes):
            aux_next = 0 if j == count - 1 else 16
            versions_blob += struct.pack(
                order + "IHHII", 0, 2 if weak else 0, 0, name_off, aux_next
            )
    verd_off = vern_off + len(versions_blob)
    for i, name_off in enumerate(def_names):
        is_last = i == len(def_names) - 1
        flags = 1 if i == 0 else 0  # VER_FLG_BASE on the first, like ld does
        versions_blob += struct.pack(
            order + "HHHHIII", 1, flags, i + 1, 1, 0, 20, 0 if is_last else 28
        )
        versions_blob += struct.pack(order + "II", name_off, 0)
    if need_offsets:
        tags += [(DT_VERNEED, vern_off), (DT_VERNEEDNUM, len(need_offsets))]
    if def_names:
        tags += [(DT_VERDEF, verd_off), (DT_VERDEFNUM, len(def_names))]
    tags += [(DT_STRTAB, strtab_off), (DT_STRSZ, len(strtab)), (0, 0)]

    dyn_off = verd_off + (len(versions_blob) - (verd_off - vern_off))
    dyn_off += -dyn_off % 8
    dyn_entry = order + ("qQ" if is64 else "iI")
    dynamic = b"".join(struct.pack(dyn_entry, t, v) for t, v in tags)
    payload_off = dyn_off + len(dynamic)
    total = payload_off + len(payload)

    body = bytearray(total)
    body[interp_off : interp_off + len(interp_bytes)] = interp_bytes
    body[strtab_off : strtab_off + len(strtab)] = strtab
    body[vern_off : vern_off + len(versions_blob)] = versions_blob
    body[dyn_off : dyn_off + len(dynamic)] = dynamic
    body[payload_off:] = payload

    ident = b"\x7fELF" + bytes([1 if not is64 else 2, 2 if big_endian else 1, 1, osabi, 0])
    ident += b"\0" * 7
    ehdr = ident + struct.pack(
        order + "HHI" + word + word + word + "IHHHHHH",
        e_type,
        machine,
        1,
        0,
        ehdr_size,
        0,
        0,
        ehdr_size,
        phdr_size,
        n_phdrs,
        0,
        0,
        0,
    )
    phdrs = b""

    def phdr(p_type: int, offset: int, size: int, flags: int = 4) -> bytes:
        if is64:
            return struct.pack(
                order + "IIQQQQQQ", p_type, flags, offset, offset, offset, size, size, 8
            )
        return struct.pack(order + "IIIIIIII", p_type, offset, offset, offset, size, size, flags, 4)

    if interp is not None:
        phdrs += phdr(3, interp_off, len(interp_bytes))
    phdrs += phdr(1, 0, total, 5)
    phdrs += phdr(2, dyn_off, len(dynamic), 6)
    body[0 : len(ehdr)] = ehdr
    body[len(ehdr) : len(ehdr) + len(phdrs)] = phdrs
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(body))
    return path


def build_cache(
    entries: list[tuple[str, str, int, str | None]],
    *,
    big_endian: bool = False,
    old_prefix: int | None = None,
) -> bytes:
    """An ld.so.cache as ldconfig writes it: (name, path, flags, hwcaps subdir or None)."""
    order = ">" if big_endian else "<"
    subdirs = sorted({h for *_, h in entries if h})
    header_size, entry_size = 48, 24
    strings = bytearray()
    offsets: dict[str, int] = {}
    strings_at = header_size + entry_size * len(entries)

    def string(text: str) -> int:
        if text not in offsets:
            offsets[text] = strings_at + len(strings)
            strings.extend(text.encode() + b"\0")
        return offsets[text]

    table = b""
    for name, path, flags, hwcaps in entries:
        hwcap = (1 << 62) | subdirs.index(hwcaps) if hwcaps else 0
        table += struct.pack(order + "iIIIQ", flags, string(name), string(path), 0, hwcap)
    hwcaps_names = [string(s) for s in subdirs]
    ext_at = strings_at + len(strings)
    ext_at += -ext_at % 4
    section_at = ext_at + 8 + 16
    extension = struct.pack(order + "II", 0xEAA42174, 1)
    extension += struct.pack(order + "IIII", 1, 0, section_at, 4 * len(hwcaps_names))
    extension += struct.pack(f"{order}{len(hwcaps_names)}I", *hwcaps_names)
    header = b"glibc-ld.so.cache1.1" + struct.pack(
        order + "IIB3xI12x", len(entries), len(strings), 3 if big_endian else 2, ext_at
    )
    body = header + table + bytes(strings)
    body += b"\0" * (ext_at - len(body)) + extension
    if old_prefix is None:
        return body
    old = b"ld.so-1.7.0\0" + struct.pack("<I", old_prefix) + b"\0" * (12 * old_prefix)
    return old + b"\0" * (-len(old) % 8) + body
