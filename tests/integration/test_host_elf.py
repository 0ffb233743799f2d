"""ELF facts and load-segment checks on this machine's own x86-64 glibc files."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from pybin2img.compile.strip import elf_problems
from pybin2img.resolve.elf import read_elf
from tests.conftest import require

pytestmark = pytest.mark.integration

HOST_LOADER = "/lib64/ld-linux-x86-64.so.2"
LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def test_real_files_with_section_headers_stripped(tmp_path: Path) -> None:
    require(os.path.exists(HOST_LOADER), "needs the x86-64 glibc loader")
    libc = os.path.realpath(LIBC)
    copy = tmp_path / "libc.so.6"
    shutil.copyfile(libc, copy)
    data = bytearray(copy.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HHH", data, 0x3A, 0, 0, 0)  # e_shentsize, e_shnum, e_shstrndx
    copy.write_bytes(bytes(data))
    stripped, original = read_elf(str(copy)), read_elf(libc)
    assert stripped == original
    assert stripped.soname == "libc.so.6"
    assert "GLIBC_2.34" in stripped.verdef
    assert stripped.verneed[0].file == "ld-linux-x86-64.so.2"
    assert read_elf(HOST_LOADER).soname == "ld-linux-x86-64.so.2"


def test_misaligned_load_segments_are_detected(tmp_path: Path) -> None:
    """What strip does to some patchelf'd libraries: a PT_LOAD whose offset and address no
    longer agree modulo the page size, which the loader refuses to map."""
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    good = tmp_path / "libc.so.6"
    good.write_bytes(Path(LIBC).read_bytes())
    assert elf_problems(good) == []
    data = bytearray(good.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = [
        phoff + i * phentsize
        for i in range(phnum)
        if struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 1  # PT_LOAD
    ]
    offset_field = loads[1] + 8
    (p_offset,) = struct.unpack_from("<Q", data, offset_field)
    struct.pack_into("<Q", data, offset_field, p_offset + 0x98)
    bad = tmp_path / "bad.so"
    bad.write_bytes(bytes(data))
    assert "is not aligned with its address" in " ".join(elf_problems(bad))
    assert elf_problems(tmp_path / "missing.so")[0].startswith("unreadable")


def _program_headers(data: bytearray) -> list[int]:
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [phoff + i * phentsize for i in range(phnum)]


def test_code_outside_executable_memory_is_detected(tmp_path: Path) -> None:
    """What patchelf before 0.19.1 does to black's mypyc module: its .init and .plt moved
    into a segment that is not executable (the program crashes at the first call)."""
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    data = bytearray(Path(LIBC).read_bytes())
    for header in _program_headers(data):
        kind, flags = struct.unpack_from("<II", data, header)
        if kind == 1 and flags & 1:  # the executable PT_LOAD
            struct.pack_into("<I", data, header + 4, flags & ~1)
    bad = tmp_path / "noexec.so"
    bad.write_bytes(bytes(data))
    problems = elf_problems(bad)
    assert "code (.text) lies in a segment not executable" in problems


def test_dynamic_section_outside_its_segment_is_detected(tmp_path: Path) -> None:
    """What strip does after patchelf 0.19 rewrote a file: .dynstr and .dynamic no longer
    inside the segment patchelf made for them (strip exits 0)."""
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    data = bytearray(Path(LIBC).read_bytes())
    for header in _program_headers(data):
        if struct.unpack_from("<I", data, header)[0] == 2:  # PT_DYNAMIC
            (offset,) = struct.unpack_from("<Q", data, header + 8)
            struct.pack_into("<Q", data, header + 8, offset + 0x10)
    bad = tmp_path / "dynamic.so"
    bad.write_bytes(bytes(data))
    assert "PT_DYNAMIC lies outside every PT_LOAD" in elf_problems(bad)
