"""``--base IMAGE.tar``: an existing image (docker-archive or OCI archive) as the bottom layers.

Its layers are reused unchanged (same blobs, same digests, so registries and engines that have
them already skip them); its file tree is read so that pybin2img's own layers never put a
directory over one of its symlinks and the closure can be checked against the files it brings;
its config is merged as Docker merges a base's: environment and labels combine,
entrypoint/cmd/user/workdir come from pybin2img.
"""

from __future__ import annotations

import posixpath
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HostError, InvalidImageError, UsageError
from .archive import Archive, open_archive
from .documents import MEDIA_LAYER, Descriptor, LayerBlob

_CHUNK = 1 << 20


@dataclass(frozen=True)
class TreeEntry:
    """A path of the base's file tree, as its top-most layer has it."""

    kind: str  # "dir" | "file" | "symlink"
    target: str
    mode: int
    uid: int
    gid: int


@dataclass(frozen=True, kw_only=True)
class BaseLayer:
    """A base layer, reused as it is stored in the base tarball."""

    descriptor: Descriptor
    diff_id: str
    #: The history entry that goes with the layer.
    history: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class BaseImage:
    """What pybin2img needs from a base image tarball."""

    path: Path
    #: The base's name (its tag in the tarball, else the file name).
    name: str
    #: The base's manifest digest, when the tarball holds one (OCI layout).
    digest: str | None
    layers: tuple[BaseLayer, ...]
    config: dict[str, Any]
    #: Where its file tree was unpacked (to check the closure against it).
    rootfs: Path
    #: The base's file tree: image path -> its entry.
    tree: dict[str, TreeEntry]


def read_base(path: Path, workdir: Path) -> BaseImage:
    """Read and unpack the base image at ``path``; raise :class:`UsageError` when it is not one
    (or is not consistent: ``--base`` is an option value, so exit 2 as for any other)."""
    try:
        with open_archive(path) as archive:
            return _read(archive, workdir)
    except InvalidImageError as exc:
        raise UsageError(f"--base {exc.message}") from exc
    except UsageError as exc:  # open_archive: the file does not exist
        raise UsageError(f"--base {path} does not exist") from exc
    except OSError as exc:  # writing the base's files into the work directory
        raise HostError(f"cannot unpack the base image into {workdir}: {exc}") from exc


def _read(archive: Archive, workdir: Path) -> BaseImage:
    config = dict(archive.config_document)
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if len(history) != len(archive.layers):
        history = [{"created_by": f"layer of {archive.path.name}"} for _ in archive.layers]
        config["history"] = history
    rootfs = workdir / "base-rootfs"
    rootfs.mkdir(parents=True)
    tree: dict[str, TreeEntry] = {}
    layers = []
    for layer, entry in zip(archive.layers, history, strict=True):
        with archive.open_layer(layer) as stream:
            tar = stream.tar()
            for info in tar:
                _apply(tar, info, rootfs, tree)
        # The image pybin2img writes has an OCI manifest: a Docker media type is replaced by
        # the OCI one for the same compression (open_layer checked there is one).
        media_type = layer.descriptor.media_type
        if media_type not in MEDIA_LAYER.values() and layer.codec is not None:
            media_type = MEDIA_LAYER[layer.codec]
        layers.append(
            BaseLayer(
                descriptor=Descriptor(
                    media_type=media_type,
                    digest=layer.descriptor.digest,
                    size=layer.descriptor.size,
                ),
                diff_id=layer.diff_id,
                history=entry,
            )
        )
    annotations = archive.annotations
    name = (
        annotations.get("io.containerd.image.name")
        or annotations.get("org.opencontainers.image.ref.name")
        or (archive.repo_tags[0] if archive.repo_tags else None)
        or archive.path.name
    )
    return BaseImage(
        path=archive.path,
        name=str(name),
        digest=archive.manifest_descriptor.digest if archive.manifest_descriptor else None,
        layers=tuple(layers),
        config=config,
        rootfs=rootfs,
        tree=tree,
    )


def _apply(
    layer: tarfile.TarFile, info: tarfile.TarInfo, rootfs: Path, tree: dict[str, TreeEntry]
) -> None:
    name = posixpath.normpath(info.name.lstrip("/")).removeprefix("./")
    if name in (".", "") or name.startswith("../"):
        return
    directory, base = posixpath.split(name)
    if base == ".wh..wh..opq":
        for path in [p for p in tree if p.startswith(directory + "/")]:
            del tree[path]
        shutil.rmtree(rootfs / directory, ignore_errors=True)
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
        return
    if base.startswith(".wh."):
        gone = posixpath.join(directory, base[len(".wh.") :])
        for path in [p for p in tree if p == gone or p.startswith(gone + "/")]:
            del tree[path]
        target = rootfs / gone
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
        return
    mode, uid, gid = info.mode & 0o7777, info.uid, info.gid
    if info.isdir():
        tree[name] = TreeEntry("dir", "", mode, uid, gid)
    elif info.issym():
        tree[name] = TreeEntry("symlink", info.linkname, 0o777, uid, gid)
    elif info.isfile() or info.islnk():
        tree[name] = TreeEntry("file", "", mode, uid, gid)
    else:
        return  # devices and fifos: nothing the loader or pybin2img looks at
    # Regular files are unpacked so the closure can be checked against their bytes; links and
    # directories live in ``tree`` only, so nothing in rootfs can point outside it.
    dest = rootfs / name
    if info.isfile():
        source = layer.extractfile(info)
        assert source is not None
        _clear(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    elif info.islnk():
        linked = rootfs / posixpath.normpath(info.linkname.lstrip("/"))
        if linked.is_file():
            _clear(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(linked, dest)


def _clear(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def base_blobs(base: BaseImage, directory: Path) -> list[tuple[LayerBlob, Path]]:
    """Copy the base's layer blobs out of its tarball, as they are, for the image writer."""
    directory.mkdir(parents=True, exist_ok=True)
    blobs = []
    try:
        with open_archive(base.path) as archive:
            for index, layer in enumerate(base.layers):
                path = directory / f"base-{index}"
                # Its digest and size are checked again: the tarball is read a second time.
                source = archive.open_blob(layer.descriptor, f"layer {index}")
                with path.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                comment = layer.history.get("comment") or layer.history.get("created_by") or ""
                blobs.append(
                    (
                        LayerBlob(
                            name=f"base-{index}",
                            description=f"{base.name}: {comment}".strip(": "),
                            descriptor=layer.descriptor,
                            diff_id=layer.diff_id,
                            uncompressed_size=0,
                            files=0,
                        ),
                        path,
                    )
                )
    except InvalidImageError as exc:
        raise UsageError(f"--base {exc.message}") from exc
    return blobs
