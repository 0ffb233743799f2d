"""ELF facts through program headers only, on synthetic files (real ones: test_host_elf.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybin2img.resolve import elf
from pybin2img.resolve.elf import ElfCache, ElfFormatError, read_elf
from tests.unit.elfgen import EM_AARCH64, make_elf


def test_synthetic_facts_round_trip(tmp_path: Path) -> None:
    path = make_elf(
        tmp_path / "libx.so",
        needed=["libb.so", "liba.so"],
        soname="libx.so.1",
        rpath="$ORIGIN/r",
        runpath="/rp",
        interp="/lib/ld.so",
        flags_1=elf.DF_1_NODEFLIB,
        verneed={"libc.so.6": ["GLIBC_2.34", ("GLIBC_2.2.5", True)]},
        verdef=["libx.so.1", "X_1"],
    )
    facts = read_elf(str(path))
    assert facts.needed == ("libb.so", "liba.so")  # order is load order
    assert (facts.soname, facts.rpath, facts.runpath) == ("libx.so.1", "$ORIGIN/r", "/rp")
    assert facts.interpreter == "/lib/ld.so"
    assert facts.nodeflib
    assert facts.effective_rpath is None  # RUNPATH present: glibc ignores RPATH
    assert facts.verneed == (
        elf.VersionNeed(file="libc.so.6", versions=(("GLIBC_2.34", False), ("GLIBC_2.2.5", True))),
    )
    assert facts.verdef == ("libx.so.1", "X_1")
    assert (facts.ei_class, facts.e_machine, facts.machine) == (2, 62, "EM_X86_64")


def test_32_bit_big_endian_and_other_machine(tmp_path: Path) -> None:
    small = read_elf(str(make_elf(tmp_path / "a", needed=["x"], elf_class=32, verdef=["a"])))
    assert (small.ei_class, small.e_phentsize, small.needed) == (1, 32, ("x",))
    big = read_elf(str(make_elf(tmp_path / "b", soname="b", big_endian=True, verneed={"q": ["Q"]})))
    assert (big.ei_data, big.soname, big.verneed[0].file) == (2, "b", "q")
    arm = read_elf(str(make_elf(tmp_path / "c", machine=EM_AARCH64)))
    assert arm.machine == "EM_AARCH64"


def test_non_elf_files(tmp_path: Path) -> None:
    script = tmp_path / "libc.so"
    script.write_text("/* GNU ld script */\nGROUP ( /lib/libc.so.6 )\n")
    with pytest.raises(ElfFormatError, match="invalid ELF header"):
        read_elf(str(script))
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    with pytest.raises(ElfFormatError, match="file too short"):
        read_elf(str(empty))
    truncated = tmp_path / "truncated.so"
    truncated.write_bytes(make_elf(tmp_path / "full.so", needed=["x"]).read_bytes()[:70])
    with pytest.raises(ElfFormatError):
        read_elf(str(truncated))


def test_cache_parses_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_read = elf.read_elf

    def counting(path: str) -> elf.ElfFacts:
        calls.append(path)
        return real_read(path)

    monkeypatch.setattr(elf, "read_elf", counting)
    path = make_elf(tmp_path / "liba.so", soname="liba.so")
    link = tmp_path / "link.so"
    link.symlink_to(path.name)
    cache = ElfCache()
    assert cache.get(str(path)) is cache.get(str(link))  # same inode, one parse
    assert calls == [str(path)]
    make_elf(path, soname="liba.so.2")  # rewritten: new size/mtime, parsed again
    os.utime(path, ns=(1, 1))
    assert cache.get(str(path)).soname == "liba.so.2"
    assert cache.parses == len(calls) == 2


def test_cache_remembers_failures(tmp_path: Path) -> None:
    script = tmp_path / "x.so"
    script.write_text("INPUT(-lfoo)")
    cache = ElfCache()
    for _ in range(2):
        with pytest.raises(ElfFormatError):
            cache.get(str(script))
    assert cache.parses == 1
