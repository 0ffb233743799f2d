"""The machine a program's loader runs on, read from the program and the target's files.

Which libc (glibc or musl, from the program interpreter's name), the ELF class, byte order and
machine every library must match, the loader's default directories, what ``$LIB`` and
``$PLATFORM`` expand to, whether the loader knows ``glibc-hwcaps``, the target's
``ld.so.cache``, and the libraries glibc loads by itself. Everything is read, nothing written;
the result is frozen.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from . import elf
from .fsview import FileSystemView, Kind
from .ldcache import CacheFormatError, LdCache, loader_system_dirs, read_ld_so_cache

__all__ = [
    "Target",
    "detect_target",
    "glibc_dlopens",
    "glibc_version",
    "is_musl",
    "program_interpreter",
]

#: ``AT_PLATFORM`` values ``$PLATFORM`` can take, per ``e_machine``; the last is the baseline.
_PLATFORMS: dict[int, tuple[str, ...]] = {
    62: ("haswell", "xeon_phi", "x86_64"),
    3: ("i386", "i486", "i586", "i686"),
    183: ("aarch64",),
    40: ("v6l", "v8l", "v7l"),
    21: ("power9", "power10", "power8"),
}
#: glibc's loader for (e_machine, ELF class): what ``ld.so --list`` of a shared library uses
#: when the library names no interpreter of its own.
_DEFAULT_INTERPRETERS: dict[tuple[int, int], str] = {
    (62, 2): "/lib64/ld-linux-x86-64.so.2",
    (3, 1): "/lib/ld-linux.so.2",
    (183, 2): "/lib/ld-linux-aarch64.so.1",
    (40, 1): "/lib/ld-linux-armhf.so.3",
    (21, 2): "/lib64/ld64.so.2",
    (22, 2): "/lib/ld64.so.1",
    (243, 2): "/lib/ld-linux-riscv64-lp64d.so.1",
}
#: Debian multiarch triplets per (e_machine, ELF class), for a loader whose compiled-in
#: directories cannot be read.
_TRIPLETS: dict[tuple[int, int], str] = {
    (62, 2): "x86_64-linux-gnu",
    (3, 1): "i386-linux-gnu",
    (183, 2): "aarch64-linux-gnu",
    (40, 1): "arm-linux-gnueabihf",
    (21, 2): "powerpc64le-linux-gnu",
    (22, 2): "s390x-linux-gnu",
    (243, 2): "riscv64-linux-gnu",
}
#: musl's default path when the target has no ``ld-musl-ARCH.path``.
_MUSL_DEFAULT_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
_GLIBC_VERSION = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")


@dataclass(frozen=True, kw_only=True)
class Target:
    """What the loader of one program checks and searches."""

    musl: bool
    #: Every library must have the program's ELF class, byte order and machine.
    ei_class: int
    ei_data: int
    e_machine: int
    #: The loader's default directories, in search order.
    default_dirs: tuple[str, ...]
    #: What ``$LIB`` expands to.
    lib: str
    #: What ``$PLATFORM`` may expand to, the baseline last; empty if unknown.
    platforms: tuple[str, ...]
    #: Whether the loader searches ``glibc-hwcaps`` subdirectories.
    hwcaps: bool
    #: The target's ``/etc/ld.so.cache``; ``None`` when unused, absent or unreadable.
    cache: LdCache | None


def program_interpreter(facts: elf.ElfFacts) -> str | None:
    """``PT_INTERP``; for a shared library, the machine's glibc loader; ``None`` if static."""
    if facts.interpreter is None and facts.needed:
        # A shared library as the root: resolved as `ld.so --list lib.so` would, with the
        # machine's glibc loader as the program interpreter.
        return _DEFAULT_INTERPRETERS.get((facts.e_machine, facts.ei_class))
    return facts.interpreter


def is_musl(interpreter: str) -> bool:
    """Whether *interpreter* is musl's loader (``ld-musl-ARCH.so.1``)."""
    return posixpath.basename(interpreter).startswith("ld-musl-")


def detect_target(
    view: FileSystemView, facts: elf.ElfFacts, interpreter: str, *, use_cache: bool
) -> tuple[Target, tuple[str, ...]]:
    """The target of a program with ELF *facts* run by *interpreter*, and warnings about it.

    The loader's bytes give glibc's compiled-in directories and whether it knows hwcaps;
    musl's come from its ``.path`` file. *use_cache* reads ``/etc/ld.so.cache`` (never musl's).
    The warnings say what had to be guessed or ignored, ``/etc/ld.so.preload`` included.
    """
    warnings: list[str] = []
    musl = is_musl(interpreter)
    loader_bytes = b""
    real = view.realpath(interpreter)
    if real is not None and view.lstat_kind(real) is Kind.REGULAR:
        with open(view.source(real), "rb") as stream:
            loader_bytes = stream.read()
    if musl:
        default_dirs = _musl_default_dirs(view, interpreter)
    else:
        default_dirs = loader_system_dirs(loader_bytes)
        if not default_dirs:
            warnings.append(
                "the loader's default directories could not be read; guessed from the layout"
            )
            default_dirs = _guess_default_dirs(view, facts)
    cache = None
    if use_cache and not musl:
        try:
            cache = read_ld_so_cache(view)
        except (CacheFormatError, OSError) as exc:  # ld.so ignores a cache it cannot use
            warnings.append(f"the target's /etc/ld.so.cache is unreadable ({exc}); ignored")
    if not musl and view.lstat_kind("/etc/ld.so.preload") is not Kind.MISSING:
        warnings.append(
            "the target has /etc/ld.so.preload; the libraries it names are not resolved"
        )
    target = Target(
        musl=musl,
        ei_class=facts.ei_class,
        ei_data=facts.ei_data,
        e_machine=facts.e_machine,
        default_dirs=default_dirs,
        lib=default_dirs[0].strip("/") if default_dirs else "lib",
        platforms=_PLATFORMS.get(facts.e_machine, ()),
        hwcaps=b"glibc-hwcaps" in loader_bytes,
        cache=cache,
    )
    return target, tuple(warnings)


def glibc_version(libc: elf.ElfFacts) -> tuple[int, int] | None:
    """``(major, minor)`` from the newest ``GLIBC_x.y`` version *libc* (libc.so.6) defines."""
    found = [_GLIBC_VERSION.match(v) for v in libc.verdef]
    versions = [(int(m.group(1)), int(m.group(2))) for m in found if m]
    return max(versions) if versions else None


def glibc_dlopens(version: tuple[int, int] | None) -> tuple[str, ...]:
    """The libraries a glibc of *version* ``dlopen``s itself, whatever the program."""
    # Before 2.34 the files and dns NSS services were separate modules, loaded on the
    # first getpwnam/getaddrinfo; libnss_dns needs libresolv.
    if version is not None and version < (2, 34):
        return ("libgcc_s.so.1", "libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2")
    return ("libgcc_s.so.1",)


def _guess_default_dirs(view: FileSystemView, facts: elf.ElfFacts) -> tuple[str, ...]:
    triplet = _TRIPLETS.get((facts.e_machine, facts.ei_class))
    if triplet and view.realpath(f"/usr/lib/{triplet}") is not None:
        return (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib", "/usr/lib")
    if facts.ei_class == elf.ELFCLASS64 and view.realpath("/usr/lib64") is not None:
        return ("/lib64", "/usr/lib64")
    return ("/lib", "/usr/lib")


def _musl_default_dirs(view: FileSystemView, interpreter: str) -> tuple[str, ...]:
    # musl: <prefix>/etc/ld-musl-ARCH.path, where <prefix> is the loader's directory
    # minus its last component (/lib/ld-musl-x86_64.so.1 -> /etc/ld-musl-x86_64.path).
    arch = posixpath.basename(interpreter)[len("ld-musl-") :].split(".so", 1)[0]
    prefix = posixpath.dirname(posixpath.dirname(interpreter)).rstrip("/")
    conf = f"{prefix}/etc/ld-musl-{arch}.path"
    real = view.realpath(conf)
    if real is None or view.lstat_kind(real) is not Kind.REGULAR:
        return _MUSL_DEFAULT_PATH
    with open(view.source(real), "rb") as stream:
        text = stream.read().decode("utf-8", "surrogateescape")
    return tuple(d for d in re.split(r"[:\n]", text) if d)
