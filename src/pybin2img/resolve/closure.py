"""The shared-library closure of a program, as frozen data: every file it maps
(:class:`LoadedObject`), how each lookup was answered (:class:`Edge`), the copies that depend on
load order (:class:`Conflict`), and the :class:`Closure` that holds them.

:func:`~.process.resolve_closure` makes it by simulating the loader; nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class LoadedObject:
    """One file the process maps."""

    #: Target path the loader opened (symlinks not resolved: what ``$ORIGIN`` is taken from).
    path: str
    #: Target path with every symlink resolved inside the view.
    realpath: str
    #: Host path of the bytes.
    source: str
    soname: str | None
    needed: tuple[str, ...]
    #: ``root``, ``interpreter``, ``needed``, ``dlopen`` (loaded by glibc itself),
    #: ``hwcaps`` (a CPU-specific variant) or ``extra``.
    reason: str
    #: Target path of the object whose lookup first loaded it (``None`` for roots).
    needed_by: str | None


@dataclass(frozen=True, kw_only=True)
class Edge:
    """One lookup: *requester* asked for *needed* and got the object at *resolved*."""

    requester: str
    needed: str
    resolved: str


@dataclass(frozen=True, kw_only=True)
class Conflict:
    """A lookup satisfied by an already-loaded object although its own search finds another.

    Which copy a process uses then depends on what it loaded first (for extension modules:
    the import order), so both files are part of the closure.
    """

    #: The name looked up (a ``DT_NEEDED`` string).
    name: str
    #: Target path of the object that asked.
    requester: str
    #: Target path of the object that was already loaded and is used.
    loaded: str
    #: Target path that the requester's own search finds.
    alternative: str

    def __str__(self) -> str:
        return (
            f"{self.name} needed by {self.requester} is {self.loaded} when that is loaded "
            f"first, else {self.alternative}; both are included"
        )


@dataclass(frozen=True, kw_only=True)
class Closure:
    """Every file a program maps, and how each lookup was answered."""

    #: The roots as given: the main program first, then the objects it ``dlopen``s by path.
    roots: tuple[str, ...]
    #: ``PT_INTERP`` of the main program, exactly as written; ``None`` if it is static.
    interpreter: str | None
    #: ``e_machine`` of the main program by its ELF name (``EM_X86_64``): the image's
    #: architecture.
    machine: str
    #: Roots first, then the other objects in load order; each file once.
    objects: tuple[LoadedObject, ...]
    #: Every lookup, in the order the loader makes them (the interpreter's included).
    edges: tuple[Edge, ...]
    conflicts: tuple[Conflict, ...]
    #: ``glibc``, ``musl``, or ``None`` for a static program.
    libc: str | None
    #: ``(major, minor)`` from the newest ``GLIBC_x.y`` version libc.so.6 defines.
    glibc_version: tuple[int, int] | None
    #: The loader's default directories for this target, in search order.
    default_dirs: tuple[str, ...]
    #: The ``library_path`` and ``extra_libs`` the closure was resolved with.
    library_path: tuple[str, ...] = ()
    extra_libs: tuple[str, ...] = ()
    #: Things that resolved but may not behave the same at run time (CWD-relative paths...).
    warnings: tuple[str, ...] = ()
