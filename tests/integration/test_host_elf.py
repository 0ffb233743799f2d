"""ELF facts and load-segment checks on this machine's own x86-64 glibc files."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from pybin2img.compile.strip import segments_aligned
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
    assert segments_aligned(good)
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
    assert not segments_aligned(bad)
    assert not segments_aligned(tmp_path / "missing.so")
