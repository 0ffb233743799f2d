"""Who each file of the image belongs to, and how that is known: :func:`claim_files`.

Every regular file of the planned image gets one owner:

- a **Debian package**: a file copied from the build machine at its own path (the loader, glibc,
  tini, ...) or a copy Nuitka put in the dist (``/app/libssl.so.3`` of ``libssl3``), found by
  the path Nuitka's report says it copied it from;
- a **Python distribution**: an extension module, data file or bundled library (auditwheel's
  ``<name>.libs/libpq-….so.5``) that its ``RECORD`` lists;
- **CPython**: the standard library's extension modules, libpython;
- the **app**: the compiled binary (the app's code, with CPython and the distributions
  compiled in) and the app's own data files;
- **pybin2img**: what it writes itself (passwd, group, ld.so.cache, the dpkg records, the SBOM);
- the **base image** (``--base IMAGE.tar``): its own files.

A file no package owns, or whose bytes are not the package's, is *unclaimed*, with the reason.

The claim is checked, not assumed. A file at its package's own path must have the md5 dpkg
recorded for it (or ``RECORD``'s sha256). A copy must be the same file as the original, which
must be the package's: identical bytes (a data file), or, for a shared object, the same code —
Nuitka sets the RUNPATH of every library it copies (patchelf rewrites ``.dynamic``,
``.dynstr``, ``.dynsym`` and may move sections) and pybin2img strips symbol tables, so the
proof is that every loaded section of program bits (``.text``, ``.rodata``, ``.data``, …) and
the GNU build-id are byte for byte those of the original.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..dpkg import DebianPackage, SystemPackages
from ..oci import Entry, Kind
from .installation import PythonInstallation

#: A copy with the original's bytes.
IDENTICAL = "identical"
#: A shared object with the original's code and data; only what patchelf and strip change
#: differs (the dynamic section and its strings and symbols, symbol tables, debug info).
SAME_CODE = "same code"
#: Section types whose bytes the program runs with (``.text``, ``.rodata``, ``.data``,
#: ``.init_array``, …): PROGBITS, INIT_ARRAY, FINI_ARRAY, PREINIT_ARRAY.
_PROGRAM_SECTIONS = frozenset({1, 14, 15, 16})
_SHF_ALLOC = 0x2
_SHF_EXECINSTR = 0x4
_BUILD_ID = ".note.gnu.build-id"
_CHUNK = 1 << 20


@dataclass(frozen=True, kw_only=True)
class ImageFile:
    """One regular file of the image, with its hashes and how its owner was established."""

    #: The path in the image, with a leading ``/``.
    path: str
    size: int
    sha256: str
    sha1: str
    #: For a copy: the original, as its package names it — a dpkg path
    #: (``/usr/lib/x86_64-linux-gnu/libssl.so.3``), a ``RECORD`` path
    #: (``psycopg2_binary.libs/libpq-a17e3caa.so.5.17``) or a path in the Python installation
    #: (``lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so``).
    copy_of: str | None = None
    #: How the copy was matched to the original: :data:`IDENTICAL` or :data:`SAME_CODE`.
    match: str | None = None
    #: A shared library a wheel bundles (listed under its distribution as a library).
    bundled: bool = False
    #: Why no component claims it (unclaimed files only).
    reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class FileOwners:
    """Every regular file of the image, by owner."""

    #: Debian package key (``libssl3:amd64``) -> its files in the image.
    debian: Mapping[str, tuple[ImageFile, ...]] = field(default_factory=dict)
    #: Distribution (normalized name) -> its files in the image.
    pypi: Mapping[str, tuple[ImageFile, ...]] = field(default_factory=dict)
    #: CPython's files: its standard library's extension modules, libpython.
    python: tuple[ImageFile, ...] = ()
    #: The compiled binary and the app's own data.
    app: tuple[ImageFile, ...] = ()
    #: Written by pybin2img.
    generated: tuple[ImageFile, ...] = ()
    #: The base image's (``--base IMAGE.tar``).
    base: tuple[ImageFile, ...] = ()
    #: Claimed by nothing, each with its reason.
    unclaimed: tuple[ImageFile, ...] = ()
    #: For the image's ``status.d/<package>.md5sums``: package key -> ``(path without the
    #: leading /, md5)``, as dpkg records the package's files at their own paths, and at their
    #: image path (with the copy's md5) the copies elsewhere.
    md5sums: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)

    @property
    def paths(self) -> frozenset[str]:
        """Every file listed, claimed or not."""
        groups = [*self.debian.values(), *self.pypi.values()]
        groups += [self.python, self.app, self.generated, self.base, self.unclaimed]
        return frozenset(f.path for group in groups for f in group)

    def with_generated(self, nodes: Mapping[str, Entry]) -> FileOwners:
        """These owners plus every file of ``nodes`` not yet listed, as pybin2img's (the dpkg
        records and os-release, added after the claims were made)."""
        known = self.paths
        added = [
            _image_file("/" + path, entry)
            for path, entry in sorted(nodes.items())
            if entry.kind is Kind.FILE and "/" + path not in known
        ]
        return replace(self, generated=tuple(sorted([*self.generated, *added], key=_by_path)))


def claim_files(
    nodes: Mapping[str, Entry],
    *,
    dist_dir: Path | None,
    app_files: Collection[str] = (),
    origins: Mapping[str, str | None] | None = None,
    packages: SystemPackages | None = None,
    installation: PythonInstallation | None = None,
    base_root: str | None = None,
) -> FileOwners:
    """Find the owner of every regular file in ``nodes`` (the planned image).

    ``dist_dir``: the dist whose files are under ``/app``; ``app_files``: the image paths of
    the app's own files (the binary, its data); ``origins``: dist-relative path -> the host
    file Nuitka copied it from (``None``: from the app's own directory); ``packages``: what
    dpkg says about the host files and those origins; ``installation``: the build
    interpreter's (CPython's files and the distributions' ``RECORD``); ``base_root``: where the
    base image's files were unpacked.
    """
    claims = _Claims(packages, installation)
    dist = str(dist_dir) if dist_dir is not None else None
    origins = origins or {}
    for path, entry in sorted(nodes.items()):
        if entry.kind is not Kind.FILE:
            continue
        image = _image_file("/" + path, entry)
        source = entry.source
        if source is None:
            claims.generated.append(image)
        elif base_root is not None and _inside(source, base_root):
            claims.base.append(image)
        elif dist is not None and _inside(source, dist):
            rel = os.path.relpath(source, dist)
            if image.path in app_files or (rel in origins and origins[rel] is None):
                claims.app.append(image)
            else:
                claims.copy(image, source, origins.get(rel), rel)
        else:
            claims.host(image, source)
    return claims.finish()


class _Claims:
    def __init__(
        self, packages: SystemPackages | None, installation: PythonInstallation | None
    ) -> None:
        self._installation = installation
        #: Host path (as asked, or recorded) -> (package, the path as dpkg records it).
        self._dpkg: dict[str, tuple[DebianPackage, str]] = {}
        for package in packages.packages if packages else ():
            for asked, recorded in package.paths:
                self._dpkg.setdefault(asked, (package, recorded))
        self.debian: dict[str, list[ImageFile]] = {}
        self.pypi: dict[str, list[ImageFile]] = {}
        self.python: list[ImageFile] = []
        self.app: list[ImageFile] = []
        self.generated: list[ImageFile] = []
        self.base: list[ImageFile] = []
        self.unclaimed: list[ImageFile] = []
        self.md5sums: dict[str, list[tuple[str, str]]] = {}

    def host(self, image: ImageFile, source: str) -> None:
        """A file copied from the build machine to the same path."""
        if self._debian(image, source):
            return
        if self._python(image, source, self._shown(source)):
            return
        self._unclaimed(image, "no installed package owns it")

    def copy(self, image: ImageFile, copy: str, origin: str | None, rel: str) -> None:
        """A file of the dist, a copy of ``origin`` (or, unknown, of the distribution file at
        the same path below site-packages)."""
        if origin is None and self._installation is not None:
            origin = next(
                (
                    candidate
                    for directory in self._installation.site_packages
                    if (candidate := os.path.join(directory, rel)) in self._installation.files
                ),
                None,
            )
        if origin is None:
            self._unclaimed(image, "Nuitka made it: no file it copied is known")
            return
        real = os.path.realpath(origin)
        shown = self._shown(origin)
        if not os.path.isfile(real):
            self._unclaimed(image, f"copied from {shown}, which is gone")
            return
        match = _match(copy, real, image.sha256)
        if match is None:
            self._unclaimed(image, f"not the same file as {shown}, which it was copied from")
            return
        copied = replace(image, match=match)
        if self._debian(copied, real, asked=origin, copy=copy):
            return
        if self._python(copied, real, shown):
            return
        self._unclaimed(image, f"copied from {shown}, which no package owns")

    def _shown(self, path: str) -> str:
        """``path`` as Nuitka's report writes it, for messages the SBOM keeps: without the
        build machine's own directories, which differ from machine to machine."""
        installation = self._installation
        if installation is not None:
            for prefix, directory in installation.prefixes.items():
                if directory and _inside(path, directory) and directory != "/":
                    return prefix + path[len(directory.rstrip("/")) :]
        home = str(Path.home())
        return "~" + path[len(home) :] if home != "/" and _inside(path, home) else path

    def _debian(
        self, image: ImageFile, real: str, *, asked: str | None = None, copy: str | None = None
    ) -> bool:
        """Claim ``image`` for the package owning ``real`` (``asked``: the path the copy was
        made from, as Nuitka named it; ``copy``: the dist file, when ``image`` is a copy)."""
        # The file itself first: Nuitka may name a link (libbz2.so.1.0 -> libbz2.so.1.0.4).
        found = self._dpkg.get(real) or (self._dpkg.get(asked) if asked else None)
        if found is None:
            return False
        package, recorded = found
        expected = package.md5_of(recorded)
        if expected is not None and _md5(real) != expected:
            self._unclaimed(
                image,
                f"{self._shown(real)} is not the file {package.name} installed (its md5 differs)",
            )
            return True
        lines = self.md5sums.setdefault(package.key, [])
        if copy is not None:
            self.debian.setdefault(package.key, []).append(replace(image, copy_of=recorded))
            lines.append((image.path.lstrip("/"), _md5(copy)))
        else:
            self.debian.setdefault(package.key, []).append(image)
            # As dpkg writes md5sums: the files it lists there (a conffile is not one).
            lines += [(path, md5) for path, md5 in package.md5sums if path == recorded[1:]]
        return True

    def _python(self, image: ImageFile, real: str, origin: str) -> bool:
        installation = self._installation
        if installation is None:
            return False
        recorded = installation.files.get(real)
        if recorded is not None:
            if recorded.sha256 is not None and _sha256(real) != recorded.sha256:
                self._unclaimed(
                    image,
                    f"{origin} is not the file {recorded.distribution} installed "
                    "(its sha256 differs from RECORD's)",
                )
                return True
            top = recorded.record_path.split("/", 1)[0]
            name = os.path.basename(recorded.record_path)
            bundled = top.endswith(".libs") or (
                name.startswith("lib") and ".so" in name and ".cpython-" not in name
            )
            self.pypi.setdefault(recorded.distribution, []).append(
                replace(image, copy_of=recorded.record_path, bundled=bundled)
            )
            return True
        relative = installation.cpython_path(real)
        if relative is not None:
            self.python.append(replace(image, copy_of=relative))
            return True
        return False

    def _unclaimed(self, image: ImageFile, reason: str) -> None:
        self.unclaimed.append(replace(image, match=None, copy_of=None, reason=reason))

    def finish(self) -> FileOwners:
        return FileOwners(
            debian={k: tuple(sorted(v, key=_by_path)) for k, v in sorted(self.debian.items())},
            pypi={k: tuple(sorted(v, key=_by_path)) for k, v in sorted(self.pypi.items())},
            python=tuple(sorted(self.python, key=_by_path)),
            app=tuple(sorted(self.app, key=_by_path)),
            generated=tuple(sorted(self.generated, key=_by_path)),
            base=tuple(sorted(self.base, key=_by_path)),
            unclaimed=tuple(sorted(self.unclaimed, key=_by_path)),
            md5sums={k: tuple(sorted(set(v))) for k, v in sorted(self.md5sums.items())},
        )


def _by_path(item: ImageFile) -> str:
    return item.path


def _image_file(path: str, entry: Entry) -> ImageFile:
    if entry.data is not None:
        data = entry.data
        return ImageFile(
            path=path,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        )
    assert entry.source is not None
    sha256, sha1 = hashlib.sha256(), hashlib.sha1(usedforsecurity=False)
    size = 0
    with open(entry.source, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha256.update(chunk)
            sha1.update(chunk)
            size += len(chunk)
    return ImageFile(path=path, size=size, sha256=sha256.hexdigest(), sha1=sha1.hexdigest())


def _digest(path: str, algorithm: str) -> str:
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _md5(path: str) -> str:
    return _digest(path, "md5")


def _sha256(path: str) -> str:
    return _digest(path, "sha256")


def _match(copy: str, original: str, copy_sha256: str) -> str | None:
    """How the dist file ``copy`` is the file ``original``, or ``None`` when it is not."""
    if _sha256(original) == copy_sha256:
        return IDENTICAL
    ours, theirs = code_digest(copy), code_digest(original)
    return SAME_CODE if ours is not None and ours == theirs else None


def code_digest(path: str) -> str | None:
    """A digest of what a shared object runs with: the name and bytes of each loaded section
    of program bits, and the GNU build-id; ``None`` when ``path`` is no ELF file with code.

    patchelf (``--set-rpath``) and ``strip --strip-unneeded`` leave all of it as it was.
    """
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            sections = _elf_sections(data)
            if sections is None:
                return None
            found: list[str] = []
            code = False
            for name, kind, flags, offset, size in sections:
                loaded = flags & _SHF_ALLOC and kind in _PROGRAM_SECTIONS
                if not (loaded or name == _BUILD_ID):
                    continue
                if offset + size > len(data):
                    return None
                digest = hashlib.sha256(data[offset : offset + size]).hexdigest()
                found.append(f"{name} {digest}")
                code = code or bool(flags & _SHF_EXECINSTR)
    except (OSError, ValueError, struct.error):
        return None
    # By name: patchelf moves sections (the build-id note), which reorders the header table.
    return hashlib.sha256("\n".join(sorted(found)).encode()).hexdigest() if code else None


def _elf_sections(data: mmap.mmap) -> list[tuple[str, int, int, int, int]] | None:
    """``(name, type, flags, offset, size)`` of each section of the ELF file ``data``;
    ``None`` when it is no ELF file."""
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    wide = data[4] == 2
    order = "<" if data[5] == 1 else ">"
    if wide:
        shoff, shentsize, shnum, shstrndx = struct.unpack_from(order + "Q10xHHH", data, 0x28)
        layout = order + "IIQQQQII"  # name, type, flags, addr, offset, size, link, info
    else:
        shoff, shentsize, shnum, shstrndx = struct.unpack_from(order + "I10xHHH", data, 0x20)
        layout = order + "IIIIIIII"
    if shoff == 0:
        return None
    first = struct.unpack_from(layout, data, shoff)
    # Extended numbering: the count and the string table's index are in section 0's header.
    shnum = shnum or first[5]
    shstrndx = first[6] if shstrndx == 0xFFFF else shstrndx
    headers = [struct.unpack_from(layout, data, shoff + i * shentsize) for i in range(shnum)]
    names = headers[shstrndx]
    table = data[names[4] : names[4] + names[5]]

    def name_of(index: int) -> str:
        end = table.find(b"\0", index)
        return table[index : end if end >= 0 else len(table)].decode(errors="replace")

    return [(name_of(h[0]), h[1], h[2], h[4], h[5]) for h in headers]


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")
