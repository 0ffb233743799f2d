"""Stripping the dist's shared objects, where the result still loads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..log import Log


def strip_libraries(dist: Path, binary: str, log: Log) -> None:
    """Strip symbol tables and debug info from the dist's shared objects.

    Nuitka strips the binary it links but copies extension modules as the interpreter has
    them; a self-built Python (pyenv) ships them unstripped, about a third of their size.
    ``--strip-unneeded`` keeps everything the dynamic loader uses. binutils' strip can break a
    file patchelf rewrote (a wheel's bundled library: its segments no longer line up with their
    pages), so each stripped copy is checked and kept only when every loadable segment is still
    mappable.
    """
    strip = shutil.which("strip")
    if strip is None:
        log.detail("strip (binutils) not found: shared objects are shipped unstripped")
        return
    kept = 0
    for library in sorted(dist.rglob("*.so*")):
        if not library.is_file() or library.is_symlink() or library.name == binary:
            continue
        copy = library.with_name(library.name + ".pybin2img-strip")
        shutil.copy2(library, copy)
        proc = subprocess.run(
            [strip, "--strip-unneeded", str(copy)], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and segments_aligned(copy):
            os.replace(copy, library)
        else:
            copy.unlink(missing_ok=True)
            kept += 1
    if kept:
        log.detail(f"strip: {kept} shared objects kept as they were (strip would break them)")


def segments_aligned(path: Path) -> bool:
    """Whether the loader can map every PT_LOAD segment (offset and address agree modulo the
    alignment): what ``ELF load command address/offset not page-aligned`` complains about."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with path.open("rb") as f:
            for segment in ELFFile(f).iter_segments():
                if segment["p_type"] != "PT_LOAD":
                    continue
                align = max(1, segment["p_align"])
                if segment["p_offset"] % align != segment["p_vaddr"] % align:
                    return False
    except (ELFError, OSError):
        return False
    return True
