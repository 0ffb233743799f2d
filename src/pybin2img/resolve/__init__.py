"""Resolve stage: the shared-library closure of the dist's ELF files, by glibc's search rules.

The face: :func:`elf_roots` (the dist's ELF files), :func:`resolve_closure` (the
:class:`Closure`), :func:`verify_closure` (the same closure found again inside a planned image)
and the file-system views they read; the rest of the package is private to it.

``elf`` reads ELF files (pyelftools), ``fsview`` is the file system the loader sees (the host or
a planned image), ``ldcache`` reads ``ld.so.cache``, ``target`` detects the loader and its
search rules, ``search`` finds a library as glibc's or musl's loader would, ``process`` builds
the load graph (the frozen types of ``closure``) and verifies it inside the image, ``dist``
finds the dist's ELF roots; ``deps`` is the ``pybin2img deps`` command over it.
"""

from .closure import Closure, Conflict, Edge, LoadedObject
from .deps import closure_json, format_tree, resolve_files
from .dist import dist_files, elf_roots
from .elf import ElfFormatError, read_elf
from .fsview import Directory, HostView, Node, RegularFile, Symlink, TreeView
from .ldcache import LdCache, read_ld_so_cache
from .process import resolve_closure, verify_closure

__all__ = [
    "Closure",
    "Conflict",
    "Directory",
    "Edge",
    "ElfFormatError",
    "HostView",
    "LdCache",
    "LoadedObject",
    "Node",
    "RegularFile",
    "Symlink",
    "TreeView",
    "closure_json",
    "dist_files",
    "elf_roots",
    "format_tree",
    "read_elf",
    "read_ld_so_cache",
    "resolve_closure",
    "resolve_files",
    "verify_closure",
]
