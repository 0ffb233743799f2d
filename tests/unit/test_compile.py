from __future__ import annotations

import os
import struct
from pathlib import Path

from pybin2img.compile.nuitka import _segments_aligned
from tests.conftest import require

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def test_misaligned_load_segments_are_detected(tmp_path: Path) -> None:
    """What strip does to some patchelf'd libraries: a PT_LOAD whose offset and address no
    longer agree modulo the page size, which the loader refuses to map."""
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    good = tmp_path / "libc.so.6"
    good.write_bytes(Path(LIBC).read_bytes())
    assert _segments_aligned(good)
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
    assert not _segments_aligned(bad)
    assert not _segments_aligned(tmp_path / "missing.so")
