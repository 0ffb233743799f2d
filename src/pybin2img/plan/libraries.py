"""Libraries the code loads by a literal name, as the build machine has them, with their data.

The probe finds ``ctypes.util.find_library("magic")``, ``CDLL("libmagic.so.1")`` and cffi's
``ffi.dlopen("foo")``; this module turns each name into what the program's ``dlopen`` will ask
for, looked up in the build machine's ``/etc/ld.so.cache`` the way ``find_library`` does
(``lib<name>.so…``), so that the resolver adds it and its own dependencies to the image. A name
the build machine has no library for is reported, not added. Nor is one the build machine has
only in a directory of its own ``ld.so.conf`` (``/usr/local/cuda-13.0/lib``): the image's loader
does not search there, and such a load is almost always an optional one (onnxruntime asks for
``libcudart.so`` in a ``try``); the build warns, naming it.

Such a library may read data files at run time (libmagic its ``magic.mgc``). On a Debian build
machine they are the files of the library's own package and of the data-only packages it
depends on (``libmagic1`` -> ``libmagic-mgc``), read from the dpkg database without running
dpkg: everything but documentation, manual pages, headers, programs and shared libraries, up to
:data:`MAX_DATA_BYTES`.

Every system library of the closure brings the data-only packages it depends on that are built
from its own source (:func:`companion_data`): libproj25 reads its database from proj-data
(``/usr/share/proj/proj.db``); without it Debian's python3-pyproj warned and failed every
transformation in the image, and the build exited 0. Data-only packages of another source
(debconf, tzdata) are no part of the library.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..compile import NamedLibrary, NamedModules
from ..dpkg import ADMINDIR, package_sources, system_packages
from ..log import Log
from ..resolve import HostView, LdCache, LoadedObject, read_ld_so_cache

#: What the data of one library may weigh; more is reported, not added (--add-file).
MAX_DATA_BYTES = 64 * 1024 * 1024
#: Package files that are never a library's run-time data.
_NOT_DATA = re.compile(
    r"/usr/share/(?:doc|doc-base|man|info|lintian|bug|locale|bash-completion|pkgconfig|menu)/"
    r"|/usr/include/|/pkgconfig/|^/(?:usr/)?s?bin/|/usr/libexec/|/usr/games/"
)

_SONAME = re.compile(r"lib[\w+.-]*\.so(?:\.\d+)*")
#: The directories a glibc loader searches without a cache (``/usr/lib/x86_64-linux-gnu``,
#: ``/lib64``...) and their ``glibc-hwcaps`` subdirectories.
_LOADER_DIR = re.compile(
    r"(?:/usr)?/lib(?:32|64|x32)?(?:/[\w]+-linux-gnu\w*)?(?:/glibc-hwcaps/[\w-]+)?"
)


@dataclass(frozen=True, kw_only=True)
class FoundLibrary:
    """A library loaded by name and what the image gets for it."""

    named: NamedLibrary
    #: The soname (or absolute path) given to the resolver; ``None``: not on this machine, or
    #: only outside the loader's own directories (then ``elsewhere`` says where).
    library: str | None
    #: The machine's file for the name when it is outside the loader's own directories.
    elsewhere: str | None = None


def find_libraries(
    libraries: Sequence[NamedLibrary], cache: LdCache | None
) -> tuple[FoundLibrary, ...]:
    """Each library name the code loads, looked up in the build machine's ``ld.so.cache``."""
    names = [entry.name for entry in cache.entries] if cache else []
    paths = {entry.name: entry.path for entry in reversed(cache.entries)} if cache else {}
    found: list[FoundLibrary] = []
    for library in libraries:
        soname = _lookup(library.name, names)
        path = paths.get(soname or "")
        if soname and path and not _LOADER_DIR.fullmatch(os.path.dirname(path)):
            found.append(FoundLibrary(named=library, library=None, elsewhere=path))
        else:
            found.append(FoundLibrary(named=library, library=soname))
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


@dataclass(frozen=True, kw_only=True)
class LibraryData:
    """The data files of the Debian packages of libraries loaded by name."""

    #: ``(host path, package)`` of each file to ship at the same path.
    files: tuple[tuple[str, str], ...] = ()
    #: ``(package, bytes)`` of packages whose data was too large to ship.
    too_large: tuple[tuple[str, int], ...] = ()


def library_data(
    libraries: Iterable[str], *, root: Path = Path("/"), companions_only: bool = False
) -> LibraryData:
    """Data files for the libraries at host paths ``libraries``: those of each one's Debian
    package and of the packages it depends on that hold no shared library. ``companions_only``:
    only those dependencies, and only the ones built from the library's own source
    (:func:`companion_data`)."""
    owners = system_packages(libraries, root=root)
    if owners.database != "dpkg":
        return LibraryData()
    admindir = root / ADMINDIR
    depends = {package.key: _depends(package.control) for package in owners.packages}
    sources = (
        package_sources({d for names in depends.values() for d in names}, root=root)
        if companions_only
        else {}
    )
    files: list[tuple[str, str]] = []
    too_large: list[tuple[str, int]] = []
    seen: set[str] = set()
    for package in owners.packages:
        candidates = [] if companions_only else [(package.key, True)]
        candidates += [
            (name, False)
            for name in depends[package.key]
            if not companions_only or sources.get(name) == package.source
        ]
        for key, own in candidates:
            listed = _package_files(admindir, key)
            if listed is None or key in seen:
                continue
            seen.add(key)
            if not own and any(_is_library(path) for path in listed):
                continue  # a library package: the resolver takes what is needed of it
            data = [path for path in listed if _is_data(path, root)]
            size = sum(os.stat(os.path.join(root, p.lstrip("/"))).st_size for p in data)
            name = key.partition(":")[0]
            if size > MAX_DATA_BYTES:
                too_large.append((name, size))
                continue
            files += [(path, name) for path in data]
    return LibraryData(files=tuple(sorted(set(files))), too_large=tuple(too_large))


def companion_data(objects: Iterable[LoadedObject], dist: str, log: Log) -> tuple[str, ...]:
    """The files of the data-only packages that the system libraries among ``objects`` (those
    not under ``dist``) depend on and that are built from their own source (proj-data for
    libproj25), reported; those too large to ship are named with what to do instead."""
    sources = [o.source for o in objects if not o.source.startswith(dist)]
    if not sources:
        return ()
    data = library_data(sources, companions_only=True)
    for path, package in data.files:
        log.detail(f"data of a library: {path} ({package})")
    for package, size in data.too_large:
        log.warning(
            f"the data files of {package} ({size / 1e6:.0f} MB), which a library of the image "
            "may read, are not in the image: --trace finds those the app reads, --add-file "
            "adds others"
        )
    return tuple(path for path, _ in data.files)


def _depends(control: str) -> list[str]:
    """Package names in a stanza's ``Depends`` (the first of each alternative)."""
    match = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", control, re.MULTILINE)
    if not match:
        return []
    names = []
    for item in match.group(1).replace("\n", " ").split(","):
        first = item.split("|")[0].strip()
        name = re.match(r"[a-z0-9][a-z0-9+.-]*", first)
        if name:
            names.append(name.group(0))
    return names


def _package_files(admindir: Path, key: str) -> list[str] | None:
    """The files a package's list names (``name`` or ``name:arch``), ``None`` when it is not
    installed."""
    name = key.partition(":")[0]
    info = admindir / "info"
    candidates = [info / f"{key}.list", info / f"{name}.list"]
    candidates += sorted(info.glob(f"{name}:*.list")) if info.is_dir() else []
    for path in candidates:
        try:
            return [line for line in path.read_text(errors="replace").splitlines() if line]
        except OSError:
            continue
    return None


def _is_library(path: str) -> bool:
    name = os.path.basename(path)
    return ".so." in name or name.endswith(".so")


def _is_data(path: str, root: Path) -> bool:
    """A regular file (or a link to one) that is no documentation, header, program or library."""
    if _NOT_DATA.search(path) or _is_library(path) or path.endswith((".a", ".h", ".la")):
        return False
    try:
        return stat.S_ISREG(os.stat(os.path.join(root, path.lstrip("/"))).st_mode)
    except OSError:
        return False


def libraries_by_name(
    named: NamedModules, log: Log, *, added: Collection[str] = ()
) -> tuple[FoundLibrary, ...]:
    """The libraries the code loads by a literal name that the build machine has: they join
    the closure (reported; those it lacks too). ``added``: the libraries ``--add-library``
    names (no warning for those)."""
    if not named.libraries:
        return ()
    found = find_libraries(named.libraries, read_ld_so_cache(HostView("/")))
    by_library: dict[str, list[str]] = {}
    for item in found:
        if item.library:
            by_library.setdefault(item.library, []).append(item.named.where)
        elif item.elsewhere and not {item.named.name, item.elsewhere} & set(added):
            log.warning(
                f"not added: {item.named.name}, loaded by name ({_short(item.named.where)}): this "
                f"machine has it as {item.elsewhere}, in a directory of its own ld.so.conf that "
                "the image's loader does not search; if the app needs it, pass --add-library "
                f"{os.path.basename(item.elsewhere)} --library-path "
                f"{os.path.dirname(item.elsewhere)}"
            )
        else:
            log.detail(
                f"not added: {item.named.name}, loaded by name ({item.named.where}), "
                "is not a library of this machine"
            )
    for library, where in by_library.items():
        log.detail(f"loaded by name: {library} ({'; '.join(where)})")
    return found


def _short(where: str) -> str:
    """``where`` from the package on (``onnxruntime/capi/x.py, line 26``)."""
    return re.sub(r"^.*/(?:site|dist)-packages/", "", where)


def library_names(found: Iterable[FoundLibrary]) -> tuple[str, ...]:
    """The libraries found for the names loaded by name, in the order they were named (what
    the resolver adds, and what a failed smoke test names)."""
    return tuple(item.library for item in found if item.library)


def data_of_libraries(
    found: tuple[FoundLibrary, ...], objects: tuple[LoadedObject, ...], log: Log
) -> tuple[str, ...]:
    """The data files of the Debian packages of the libraries loaded by name (libmagic's
    magic.mgc), reported; those too large to ship are named with what to do instead."""
    names = {item.library for item in found if item.library}
    if not names:
        return ()
    sources = [
        o.source
        for o in objects
        if o.reason == "extra" and (o.soname in names or o.path in names or o.realpath in names)
    ]
    data = library_data(sources)
    for path, package in data.files:
        log.detail(f"data of a library loaded by name: {path} ({package})")
    for package, size in data.too_large:
        log.warning(
            f"the data files of {package} ({size / 1e6:.0f} MB), which a library loaded by name "
            "may read, are not in the image: --trace finds those the app reads, --add-file "
            "adds others"
        )
    return tuple(path for path, _ in data.files)
