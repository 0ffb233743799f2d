"""File trees as tar.gz blobs for the cache repository: packed so that the bytes depend on the
content only, unpacked refusing anything :func:`pack_tree` does not make."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

#: The media type of a packed tree.
TREE_TYPE = "application/vnd.pybin2img.tree.v1.tar+gzip"


class UnsafeTree(Exception):
    """A tar.gz holds what :func:`pack_tree` never makes."""


class _Hashing(io.RawIOBase):
    """Counts and hashes what is written through it to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.hash.update(view)
        self._out.write(view)
        self.size += len(view)
        return len(view)


def pack_tree(
    root: Path, out: Path, *, skip: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """Write the tree under ``root`` to ``out`` as a tar.gz that depends on its content only
    (sorted, owner 0, mtime 0, modes 0755/0644); its descriptor. ``skip`` takes relative
    paths."""
    entries = sorted(_walk(root, skip or (lambda _: False)))
    with out.open("wb") as raw:
        hashing = _Hashing(raw)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=hashing, compresslevel=6, mtime=0) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for rel, path in entries:
                st = os.lstat(path)
                info = tarfile.TarInfo(rel)
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if stat.S_ISLNK(st.st_mode):
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(path), 0o777
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size, info.mode = st.st_size, 0o755 if st.st_mode & 0o111 else 0o644
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
    return {
        "mediaType": TREE_TYPE,
        "digest": "sha256:" + hashing.hash.hexdigest(),
        "size": hashing.size,
    }


def _walk(root: Path, skip: Callable[[str], bool]) -> Iterator[tuple[str, str]]:
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        kept = []
        for name in sorted(dirnames):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if skip(rel):
                continue
            path = os.path.join(dirpath, name)
            yield rel, path
            if not os.path.islink(path):
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if not skip(rel):
                yield rel, os.path.join(dirpath, name)


def unpack_tree(archive: Path, dest: Path, *, absolute_links: bool) -> None:
    """Unpack a tar.gz made by :func:`pack_tree` into ``dest`` (which must not exist), refusing
    anything else: paths out of ``dest`` or through a link, links out of it (absolute ones
    only when ``absolute_links``), devices, hard links, a path given twice."""
    dest.mkdir()
    links: set[str] = set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            name = os.path.normpath(member.name)
            if name.startswith(("/", "..")) or name == ".":
                raise UnsafeTree(f"a path out of the tree: {member.name!r}")
            if any(parent in links for parent in _parents(name)):
                raise UnsafeTree(f"a path through a link: {member.name!r}")
            path = dest / name
            if member.isdir():
                path.mkdir(mode=0o755, parents=True, exist_ok=True)
            elif member.isreg():
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(path, "xb") as f:
                    while block := source.read(1 << 20):
                        f.write(block)
                os.chmod(path, 0o755 if member.mode & 0o111 else 0o644)
            elif member.issym():
                target = member.linkname
                if os.path.isabs(target):
                    if not absolute_links:
                        raise UnsafeTree(f"an absolute link: {member.name!r}")
                elif os.path.normpath(os.path.join(os.path.dirname(name), target)).startswith(".."):
                    raise UnsafeTree(f"a link out of the tree: {member.name!r}")
                path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                os.symlink(target, path)
                links.add(name)
            else:
                raise UnsafeTree(f"{member.name!r} is neither a file, a directory nor a link")


def _parents(name: str) -> Iterator[str]:
    parent = os.path.dirname(name)
    while parent:
        yield parent
        parent = os.path.dirname(parent)
