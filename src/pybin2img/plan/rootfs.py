"""The image's file tree laid out: :class:`~pybin2img.oci.layer.Entry` items grouped into
:class:`~pybin2img.oci.layer.Layer` objects.

:class:`RootfsBuilder` is the one place that decides what lands where. It keeps every path
canonical across layers: a path is never placed *through* a symlink that an earlier entry
created (``lib/x`` becomes ``usr/lib/x`` when ``lib -> usr/lib``), a directory entry never
replaces a symlink, and implied parent directories keep the metadata they were given first
(``home/nonroot`` stays 0700 and owned by 65532 in every layer that touches it).
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import HostError, ImageWriteError
from ..oci import Entry, Kind, Layer

WHITEOUT_PREFIX = ".wh."
_MAX_SYMLINK_HOPS = 40


@dataclass
class _LayerDraft:
    name: str
    description: str
    entries: dict[str, Entry] = field(default_factory=dict)


class RootfsBuilder:
    """Collects entries layer by layer and hands out the finished, canonical layers."""

    def __init__(self) -> None:
        self._layers: list[_LayerDraft] = []
        #: Every path of every layer, the latest entry winning (what the container sees).
        self.nodes: dict[str, Entry] = {}
        self._missing_only = False
        self._current = -1

    @classmethod
    def resume(cls, layers: Iterable[Layer], nodes: Mapping[str, Entry]) -> RootfsBuilder:
        """A builder that goes on from finished ``layers``, planned with ``nodes`` (the
        :attr:`nodes` of the builder that made them, a base image's included).

        Adding to an earlier layer (:meth:`into`) or on top (:meth:`layer`), then finishing,
        gives the layers that adding before the first :meth:`finish` would have, provided no
        directory entry is added where a finished layer has an implied parent directory (that
        one keeps the metadata it was finished with). With nothing added, the same layers.
        """
        builder = cls()
        for layer in layers:
            entries = {entry.path: entry for entry in layer.entries}
            builder._layers.append(_LayerDraft(layer.name, layer.description, entries))
        builder._current = len(builder._layers) - 1
        builder.nodes = dict(nodes)
        return builder

    def seed(self, entries: Iterable[Entry]) -> None:
        """Paths a base image already has, below every layer this builder writes."""
        for entry in entries:
            self.nodes[entry.path] = entry

    @contextmanager
    def missing_only(self, enabled: bool = True) -> Iterator[None]:
        """While active, ``add*`` leaves paths that already exist alone."""
        previous, self._missing_only = self._missing_only, enabled
        try:
            yield
        finally:
            self._missing_only = previous

    # --- layers -------------------------------------------------------------------------------
    def layer(self, name: str, description: str) -> None:
        """Start a new layer; following ``add*`` calls go into it."""
        self._layers.append(_LayerDraft(name, description))
        self._current = len(self._layers) - 1

    @contextmanager
    def into(
        self, name: str, description: str | None = None, *, after: Collection[str] = ()
    ) -> Iterator[None]:
        """Add to the earlier layer ``name`` for the duration of the block.

        With a ``description``, a layer ``name`` that is not there (a finished layer that stayed
        empty was dropped) is made, right above the last layer named in ``after``, else first.
        """
        index = next((i for i, d in enumerate(self._layers) if d.name == name), None)
        if index is None and description is not None:
            below = [i for i, d in enumerate(self._layers) if d.name in after]
            index = below[-1] + 1 if below else 0
            self._layers.insert(index, _LayerDraft(name, description))
            if self._current >= index:
                self._current += 1
        if index is None:
            raise RuntimeError(f"no layer named {name!r}")
        previous, self._current = self._current, index
        try:
            yield
        finally:
            self._current = previous

    def finish(self) -> tuple[Layer, ...]:
        """The non-empty layers, each with explicit parent directories, sorted by path."""
        result: list[Layer] = []
        for draft in self._layers:
            if not draft.entries:
                continue
            entries = dict(draft.entries)
            for path in list(entries):
                parent = posixpath.dirname(path)
                while parent and parent not in entries:
                    entries[parent] = self._directory_entry(parent)
                    parent = posixpath.dirname(parent)
            ordered = tuple(entries[p] for p in sorted(entries, key=lambda p: p.encode()))
            result.append(Layer(name=draft.name, description=draft.description, entries=ordered))
        return tuple(result)

    def _directory_entry(self, path: str) -> Entry:
        existing = self.nodes.get(path)
        if existing is not None and existing.kind is Kind.DIR:
            return existing
        return Entry(path=path, kind=Kind.DIR, mode=0o755)

    # --- paths --------------------------------------------------------------------------------
    def canonical(self, path: str) -> str:
        """``path`` with every parent component that is a planned symlink resolved."""
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            node = self.nodes.get(candidate)
            if parts and node is not None and node.kind is Kind.SYMLINK:
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise ImageWriteError(f"too many levels of symbolic links in /{path}")
                assert node.target is not None
                if node.target.startswith("/"):
                    resolved = []
                parts = [p for p in node.target.split("/") if p not in ("", ".")] + parts
                continue
            resolved.append(part)
        return "/".join(resolved)

    def add(self, entry: Entry) -> Entry:
        """Add ``entry`` to the current layer at its canonical path; return what was added."""
        if not self._layers:
            raise RuntimeError("RootfsBuilder.layer() must be called before add()")
        path = self.canonical(entry.path)
        if not path:
            raise ImageWriteError("an image entry cannot replace the root directory")
        name = posixpath.basename(path)
        if name.startswith(WHITEOUT_PREFIX):
            raise ImageWriteError(
                f"/{path}: names starting with '{WHITEOUT_PREFIX}' mean deletions in image "
                "layers and cannot be shipped; rename the file"
            )
        if path != entry.path:
            entry = Entry(
                path=path,
                kind=entry.kind,
                mode=entry.mode,
                uid=entry.uid,
                gid=entry.gid,
                source=entry.source,
                data=entry.data,
                target=entry.target,
            )
        existing = self.nodes.get(path)
        if existing is not None:
            if self._missing_only or existing.same_as(entry):
                # Already there with the same content; an earlier layer keeps it.
                return existing
            if existing.kind is Kind.SYMLINK and entry.kind is Kind.DIR:
                raise ImageWriteError(
                    f"/{path} is a symlink in the image; a directory cannot be placed over it"
                )
        self._layers[self._current].entries[path] = entry
        self.nodes[path] = entry
        return entry

    def add_dir(self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self.add(Entry(path=path, kind=Kind.DIR, mode=mode, uid=uid, gid=gid))

    def add_data(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        self.add(Entry(path=path, kind=Kind.FILE, mode=mode, data=data))

    def add_symlink(self, path: str, target: str) -> None:
        self.add(Entry(path=path, kind=Kind.SYMLINK, mode=0o777, target=target))

    def add_file(self, path: str, source: str, *, mode: int | None = None) -> None:
        """Copy host file ``source`` (symlinks followed) to ``path``."""
        self.add(Entry(path=path, kind=Kind.FILE, mode=mode or host_mode(source), source=source))

    def add_host_path(self, path: str, *, host_root: str = "/") -> str:
        """Place host ``path`` at the same path in the image, keeping the symlinks on the way.

        Every symlink met while resolving ``path`` on the host (``/lib -> usr/lib``,
        ``libz.so.1 -> libz.so.1.2.13``, ``/lib64/ld-linux…`` -> ``/lib/x86_64-linux-gnu/…``)
        is recreated, so the loader in the image opens the same names as on the host — except
        where a lower layer (a base image) has a real directory: the path then goes through that
        directory and the host's link is only followed to find the bytes. Returns the image
        path of the regular file placed.
        """
        parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
        host: list[str] = []  # the host path resolved so far
        image: list[str] = []  # where it goes in the image
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                host = host[:-1]
                image = image[:-1]
                continue
            host_path = os.path.join(host_root, *host, part)
            image_path = "/".join([*image, part])
            try:
                st = os.lstat(host_path)
            except OSError as exc:
                raise HostError(f"cannot read {host_path}: {exc.strerror}") from exc
            if stat.S_ISLNK(st.st_mode):
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise ImageWriteError(f"too many levels of symbolic links in {path}")
                target = os.readlink(host_path)
                if parts and self._is_dir(image_path):
                    # A directory in the image already: go through it, follow the host's link.
                    resolved = os.path.realpath(host_path)
                    host = os.path.relpath(resolved, host_root).split("/")
                    image.append(part)
                    continue
                self.add_symlink(image_path, target)
                if target.startswith("/"):
                    host, image = [], []
                parts = [p for p in target.split("/") if p not in ("", ".")] + parts
                continue
            if stat.S_ISDIR(st.st_mode):
                if not parts:
                    raise ImageWriteError(f"{host_path} is a directory, expected a file")
                host.append(part)
                image.append(part)
                continue
            if not stat.S_ISREG(st.st_mode):
                raise ImageWriteError(f"{host_path} is not a regular file")
            if parts:
                raise ImageWriteError(f"{host_path} is not a directory")
            self.add_file(image_path, host_path)
            return self.canonical(image_path)
        raise ImageWriteError(f"{path} resolves to the root directory")

    def _is_dir(self, path: str) -> bool:
        node = self.nodes.get(self.canonical(path))
        return node is not None and node.kind is Kind.DIR

    def add_tree(self, host_dir: str, image_dir: str, *, skip: Iterable[str] = ()) -> None:
        """Copy a host directory tree (symlinks kept) under ``image_dir``."""
        skipped = set(skip)
        for dirpath, dirnames, filenames in os.walk(host_dir):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, host_dir)
            for name in sorted(dirnames + filenames):
                rel = os.path.normpath(os.path.join(rel_dir, name))
                if rel in skipped or rel.split("/", 1)[0] in skipped:
                    continue
                host = os.path.join(dirpath, name)
                image = posixpath.join(image_dir, rel)
                st = os.lstat(host)
                if stat.S_ISLNK(st.st_mode):
                    self.add_symlink(image, os.readlink(host))
                elif stat.S_ISDIR(st.st_mode):
                    self.add_dir(image)
                elif stat.S_ISREG(st.st_mode):
                    self.add_file(image, host, mode=_normal_mode(st.st_mode))
            # Do not descend into symlinked directories (os.walk does not by default).


def host_mode(path: str) -> int:
    """The normalized mode for a host file: 0755 when anyone may execute it, else 0644."""
    try:
        return _normal_mode(os.stat(path).st_mode)
    except OSError as exc:
        raise HostError(f"cannot read {path}: {exc.strerror}") from exc


def _normal_mode(mode: int) -> int:
    return 0o755 if mode & 0o111 else 0o644
