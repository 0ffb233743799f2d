"""The dist's ELF files: what the resolver starts from.

The binary is the program the kernel starts; every other ELF file of the dist (extension
modules, bundled libraries) is a root too, as the process may ``dlopen`` it.
"""

from __future__ import annotations

import os
from pathlib import Path

_ELF_MAGIC = b"\x7fELF"


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == _ELF_MAGIC
    except OSError:
        return False


def dist_files(dist_dir: Path) -> list[Path]:
    """Every file and symlink in the dist, sorted, relative to it."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(dist_dir):
        dirnames.sort()
        for name in filenames:
            found.append(Path(dirpath, name).relative_to(dist_dir))
        for name in dirnames:
            if Path(dirpath, name).is_symlink():
                found.append(Path(dirpath, name).relative_to(dist_dir))
    return sorted(found, key=lambda p: str(p).encode())


def elf_roots(dist_dir: Path, binary: Path) -> list[Path]:
    """The binary, then every other ELF file of the dist (what the process may dlopen)."""
    others = [
        dist_dir / rel
        for rel in dist_files(dist_dir)
        if (dist_dir / rel) != binary
        and not (dist_dir / rel).is_symlink()
        and is_elf(dist_dir / rel)
    ]
    return [binary, *others]
