"""Libraries the code loads by a literal name, as the build machine has them.

The probe finds ``ctypes.util.find_library("magic")``, ``CDLL("libmagic.so.1")`` and cffi's
``ffi.dlopen("foo")``; this module turns each name into what the program's ``dlopen`` will ask
for, looked up in the build machine's ``/etc/ld.so.cache`` the way ``find_library`` does
(``lib<name>.so…``), so that the resolver adds it and its own dependencies to the image. A name
the build machine has no library for is reported, not added.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ..resolve.ldcache import LdCache
from .named import NamedLibrary

_SONAME = re.compile(r"lib[\w+.-]*\.so(?:\.\d+)*")


@dataclass(frozen=True, kw_only=True)
class FoundLibrary:
    """A library loaded by name and what the image gets for it."""

    named: NamedLibrary
    #: The soname (or absolute path) given to the resolver; ``None``: not on this machine.
    library: str | None


def find_libraries(
    libraries: Sequence[NamedLibrary], cache: LdCache | None
) -> tuple[FoundLibrary, ...]:
    """Each library name the code loads, looked up in the build machine's ``ld.so.cache``."""
    names = [entry.name for entry in cache.entries] if cache else []
    found: list[FoundLibrary] = []
    for library in libraries:
        found.append(FoundLibrary(named=library, library=_lookup(library.name, names)))
    return tuple(found)


def _lookup(name: str, names: Sequence[str]) -> str | None:
    if "/" in name:
        return name if os.path.isabs(name) and os.path.isfile(name) else None
    if _SONAME.fullmatch(name):
        return name if name in names else None
    # find_library("magic"): the first cache entry named lib<name>.<something>, as ctypes
    # reads them from `ldconfig -p` (a bare "libmagic" is taken as the name "magic").
    stem = name[3:] if name.startswith("lib") and "." not in name else name
    pattern = re.compile(rf"lib{re.escape(stem)}\.so(?:\.\d+)*")
    versioned = [n for n in names if pattern.fullmatch(n)]
    # A versioned soname first: the bare .so link comes from a -dev package, and ctypes'
    # own lookup in an image (its ld.so.cache) finds the versioned one.
    versioned.sort(key=lambda n: (n.endswith(".so"), names.index(n)))
    return versioned[0] if versioned else None
