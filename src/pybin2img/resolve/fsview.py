"""The target's root filesystem as the loader inside the image would see it.

Every path handed to a view is an absolute *target* path. Paths are resolved one component at
a time like the kernel's ``namei`` inside a chroot: an absolute symlink target restarts at the
view's root, ``..`` is applied to the directory reached so far (after symlinks, as the kernel
does) and never climbs above the root. Two implementations share that walk:

* :class:`HostView` maps the target onto a host directory (``/`` for the build host itself);
* :class:`TreeView` is a virtual tree of :class:`Directory`, :class:`Symlink` and
  :class:`RegularFile` nodes: the planned image, checked before it is written.

Directory listings and resolved paths are cached per view, so each directory is listed once.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Protocol

#: Linux's limit on symlinks followed in one lookup (``ELOOP`` beyond it).
_MAX_SYMLINKS = 40


class Kind(enum.Enum):
    """What ``lstat`` says a path is."""

    MISSING = "missing"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    REGULAR = "regular"
    OTHER = "other"


class FileSystemView(Protocol):
    """The operations the resolver needs on a target filesystem."""

    def lstat_kind(self, path: str) -> Kind:
        """The kind of *path* itself (its parents resolved, a final symlink not followed)."""
        ...

    def readlink(self, path: str) -> str:
        """The target of the symlink at *path*, as stored."""
        ...

    def listdir(self, path: str) -> frozenset[str]:
        """Names in the directory *path* resolves to; empty if it is not a directory."""
        ...

    def realpath(self, path: str) -> str | None:
        """*path* with every symlink resolved inside the view; ``None`` if it does not exist."""
        ...

    def source(self, path: str) -> str:
        """Host path holding the bytes of the regular file *path* resolves to."""
        ...

    def identity(self, path: str) -> Hashable:
        """What makes two paths the same file (glibc compares ``st_dev``/``st_ino``)."""
        ...


@dataclass(frozen=True, kw_only=True)
class Directory:
    """A directory in a :class:`TreeView`."""


@dataclass(frozen=True, kw_only=True)
class Symlink:
    """A symbolic link in a :class:`TreeView`."""

    #: The link's contents, absolute (inside the view) or relative to the link's directory.
    target: str


@dataclass(frozen=True, kw_only=True)
class RegularFile:
    """A regular file in a :class:`TreeView`."""

    #: Host path holding the file's bytes.
    source: str


Node = Directory | Symlink | RegularFile


def _parts(path: str) -> list[str]:
    if not path.startswith("/"):
        raise ValueError(f"not an absolute target path: {path!r}")
    return [p for p in path.split("/") if p and p != "."]


def _join(parts: tuple[str, ...]) -> str:
    return "/" + "/".join(parts)


class _ResolvingView:
    """The kernel-like path walk, over three primitives a subclass provides."""

    def __init__(self) -> None:
        self._resolved: dict[tuple[str, bool], tuple[str, ...] | None] = {}
        self._listings: dict[tuple[str, ...], frozenset[str]] = {}

    # Primitives on fully resolved component tuples (every parent is a real directory).
    def _kind(self, parts: tuple[str, ...]) -> Kind:
        raise NotImplementedError

    def _link(self, parts: tuple[str, ...]) -> str:
        raise NotImplementedError

    def _names(self, parts: tuple[str, ...]) -> frozenset[str]:
        raise NotImplementedError

    def _resolve(self, path: str, *, follow: bool) -> tuple[str, ...] | None:
        key = (path, follow)
        if key not in self._resolved:
            self._resolved[key] = self._walk(path, follow=follow)
        return self._resolved[key]

    def _walk(self, path: str, *, follow: bool) -> tuple[str, ...] | None:
        done: list[str] = []
        todo = _parts(path)
        todo.reverse()
        links = 0
        while todo:
            name = todo.pop()
            if name == "..":
                if done:
                    done.pop()
                continue
            here = (*done, name)
            kind = self._kind(here)
            last = not todo
            if kind is Kind.SYMLINK and (follow or not last):
                links += 1
                if links > _MAX_SYMLINKS:
                    return None
                target = self._link(here)
                if target.startswith("/"):
                    done = []
                todo.extend(reversed([p for p in target.split("/") if p and p != "."]))
                continue
            if kind is Kind.MISSING:
                return None
            if not last and kind is not Kind.DIRECTORY:
                return None
            done.append(name)
        return tuple(done)

    def lstat_kind(self, path: str) -> Kind:
        parts = _parts(path)
        if not parts:
            return Kind.DIRECTORY
        parent = self._resolve(_join(tuple(parts[:-1])), follow=True)
        if parent is None or self._kind(parent) is not Kind.DIRECTORY:
            return Kind.MISSING
        if parts[-1] == "..":
            return Kind.DIRECTORY
        return self._kind((*parent, parts[-1]))

    def readlink(self, path: str) -> str:
        parts = self._resolve(path, follow=False)
        if parts is None or self._kind(parts) is not Kind.SYMLINK:
            raise OSError(f"not a symlink: {path}")
        return self._link(parts)

    def listdir(self, path: str) -> frozenset[str]:
        parts = self._resolve(path, follow=True)
        if parts is None:
            return frozenset()
        if parts not in self._listings:
            is_dir = self._kind(parts) is Kind.DIRECTORY
            self._listings[parts] = self._names(parts) if is_dir else frozenset()
        return self._listings[parts]

    def realpath(self, path: str) -> str | None:
        parts = self._resolve(path, follow=True)
        return None if parts is None else _join(parts)


class HostView(_ResolvingView):
    """The target is the host directory *root* (``/`` is the build host itself)."""

    def __init__(self, root: str = "/") -> None:
        super().__init__()
        self.root = os.path.abspath(root)
        self._lstat: dict[tuple[str, ...], os.stat_result | None] = {}

    def _host(self, parts: tuple[str, ...]) -> str:
        return os.path.join(self.root, *parts) if parts else self.root

    def _stat(self, parts: tuple[str, ...]) -> os.stat_result | None:
        if parts not in self._lstat:
            try:
                self._lstat[parts] = os.lstat(self._host(parts))
            except OSError:
                self._lstat[parts] = None
        return self._lstat[parts]

    def _kind(self, parts: tuple[str, ...]) -> Kind:
        st = self._stat(parts)
        if st is None:
            return Kind.MISSING
        if stat.S_ISDIR(st.st_mode):
            return Kind.DIRECTORY
        if stat.S_ISLNK(st.st_mode):
            return Kind.SYMLINK
        return Kind.REGULAR if stat.S_ISREG(st.st_mode) else Kind.OTHER

    def _link(self, parts: tuple[str, ...]) -> str:
        return os.readlink(self._host(parts))

    def _names(self, parts: tuple[str, ...]) -> frozenset[str]:
        try:
            return frozenset(os.listdir(self._host(parts)))
        except OSError:
            return frozenset()

    def source(self, path: str) -> str:
        parts = self._resolve(path, follow=True)
        if parts is None or self._kind(parts) is not Kind.REGULAR:
            raise FileNotFoundError(f"not a regular file in {self.root}: {path}")
        return self._host(parts)

    def identity(self, path: str) -> Hashable:
        parts = self._resolve(path, follow=True)
        st = None if parts is None else self._stat(parts)
        if st is None:
            raise FileNotFoundError(f"no such file in {self.root}: {path}")
        return (st.st_dev, st.st_ino)


class TreeView(_ResolvingView):
    """A virtual tree: target path -> :data:`Node`; missing parent directories are implied.

    Keys are absolute target paths; a key without the leading ``/`` (as in a tar archive) is
    taken relative to the root.
    """

    def __init__(self, nodes: Mapping[str, Node]) -> None:
        super().__init__()
        self._nodes: dict[tuple[str, ...], Node] = {}
        self._children: dict[tuple[str, ...], set[str]] = {(): set()}
        for path, node in sorted(nodes.items()):
            parts = tuple(_parts(path if path.startswith("/") else "/" + path))
            if ".." in parts:
                raise ValueError(f"'..' in a tree path: {path!r}")
            if parts in self._nodes and self._nodes[parts] != node:
                raise ValueError(f"two different nodes for {path!r}")
            self._nodes[parts] = node
            for i in range(len(parts)):
                parent = parts[:i]
                if not isinstance(self._nodes.get(parent, Directory()), Directory):
                    raise ValueError(f"{path!r} lies under a non-directory {_join(parent)!r}")
                self._children.setdefault(parent, set()).add(parts[i])
            if isinstance(node, Directory):
                self._children.setdefault(parts, set())
        for parts in self._children:
            if not isinstance(self._nodes.get(parts, Directory()), Directory):
                raise ValueError(f"{_join(parts)!r} has entries but is not a directory")

    def _kind(self, parts: tuple[str, ...]) -> Kind:
        node = self._nodes.get(parts)
        if isinstance(node, Symlink):
            return Kind.SYMLINK
        if isinstance(node, RegularFile):
            return Kind.REGULAR
        return Kind.DIRECTORY if parts in self._children else Kind.MISSING

    def _link(self, parts: tuple[str, ...]) -> str:
        node = self._nodes[parts]
        assert isinstance(node, Symlink)
        return node.target

    def _names(self, parts: tuple[str, ...]) -> frozenset[str]:
        return frozenset(self._children.get(parts, ()))

    def source(self, path: str) -> str:
        parts = self._resolve(path, follow=True)
        node = None if parts is None else self._nodes.get(parts)
        if not isinstance(node, RegularFile):
            raise FileNotFoundError(f"not a regular file in the tree: {path}")
        return node.source

    def identity(self, path: str) -> Hashable:
        # Every RegularFile node becomes its own inode in the image, even when two nodes
        # share a host source, so the resolved target path is the identity.
        real = self.realpath(path)
        if real is None:
            raise FileNotFoundError(f"no such file in the tree: {path}")
        return real
