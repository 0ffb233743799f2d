"""``--base IMAGE.tar``: an existing image (docker-archive or OCI archive) as the bottom layers.

Its layers are reused unchanged (same blobs, same digests, so registries and engines that have
them already skip them); its file tree is read so that pybin2img's own layers never put a
directory over one of its symlinks and the closure can be checked against the files it brings;
its config is merged as Docker merges a base's: environment and labels combine,
entrypoint/cmd/user/workdir come from pybin2img.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .documents import (
    MEDIA_LAYER,
    Descriptor,
    HashingReader,
    LayerBlob,
    blob_path,
    codec_of,
    decompressing,
)

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
    #: Member of the base tarball holding the blob.
    member: str
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
    """Read and unpack the base image at ``path``; raise :class:`UsageError` when it is not one."""
    try:
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            if "index.json" in names and "oci-layout" in names:
                return _read(path, tar, _oci(tar), workdir)
            if "manifest.json" in names:
                return _read(path, tar, _docker(tar), workdir)
    except (OSError, tarfile.TarError, ValueError, KeyError) as exc:
        raise UsageError(f"--base {path} is not a readable image tarball: {exc}") from exc
    raise UsageError(f"--base {path} holds neither an OCI layout nor Docker's manifest.json")


@dataclass(frozen=True)
class _Layout:
    name: str | None
    digest: str | None
    config_member: str
    layer_members: list[str]
    media_types: list[str | None]


def _json(tar: tarfile.TarFile, name: str) -> Any:
    f = tar.extractfile(name.removeprefix("./"))
    if f is None:
        raise UsageError(f"{name} is not a file in the base tarball")
    return json.loads(f.read())


def _oci(tar: tarfile.TarFile) -> _Layout:
    index = _json(tar, "index.json")
    manifests = index.get("manifests", [])
    if len(manifests) != 1:
        raise UsageError(f"the base's index.json lists {len(manifests)} images; give one image")
    descriptor = manifests[0]
    manifest = _json(tar, blob_path(descriptor["digest"]))
    if "manifests" in manifest:
        raise UsageError("the base is a multi-platform index; save one platform's image")
    annotations = descriptor.get("annotations", {})
    return _Layout(
        name=annotations.get("io.containerd.image.name")
        or annotations.get("org.opencontainers.image.ref.name"),
        digest=descriptor["digest"],
        config_member=blob_path(manifest["config"]["digest"]),
        layer_members=[blob_path(layer["digest"]) for layer in manifest["layers"]],
        media_types=[layer.get("mediaType") for layer in manifest["layers"]],
    )


def _docker(tar: tarfile.TarFile) -> _Layout:
    entries = _json(tar, "manifest.json")
    if len(entries) != 1:
        raise UsageError(f"the base's manifest.json lists {len(entries)} images; give one image")
    entry = entries[0]
    tags = entry.get("RepoTags") or []
    return _Layout(
        name=tags[0] if tags else None,
        digest=None,
        config_member=entry["Config"],
        layer_members=list(entry["Layers"]),
        media_types=[None] * len(entry["Layers"]),
    )


def _read(path: Path, tar: tarfile.TarFile, layout: _Layout, workdir: Path) -> BaseImage:
    config = _json(tar, layout.config_member)
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(layout.layer_members):
        raise UsageError(f"--base {path}: the config and the manifest disagree on the layers")
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if len(history) != len(diff_ids):
        history = [{"created_by": f"layer of {path.name}"} for _ in diff_ids]
        config["history"] = history
    rootfs = workdir / "base-rootfs"
    rootfs.mkdir(parents=True)
    tree: dict[str, TreeEntry] = {}
    layers = []
    for member, declared, diff_id, entry in zip(
        layout.layer_members, layout.media_types, diff_ids, history, strict=True
    ):
        digest, size, codec = _blob_facts(tar, member)
        known = declared is not None and declared in MEDIA_LAYER.values()
        media_type = declared if known and declared else MEDIA_LAYER[codec]
        actual_diff = _unpack(tar, member, codec, rootfs, tree)
        if actual_diff != diff_id:
            raise UsageError(f"--base {path}: layer {member} does not match its diff_id")
        layers.append(
            BaseLayer(
                descriptor=Descriptor(media_type=media_type, digest=digest, size=size),
                diff_id=diff_id,
                member=member.removeprefix("./"),
                history=entry,
            )
        )
    name = layout.name or path.name
    return BaseImage(
        path=path,
        name=name,
        digest=layout.digest,
        layers=tuple(layers),
        config=config,
        rootfs=rootfs,
        tree=tree,
    )


def _blob_facts(tar: tarfile.TarFile, member: str) -> tuple[str, int, str]:
    f = tar.extractfile(member.removeprefix("./"))
    if f is None:
        raise UsageError(f"the base tarball has no file {member}")
    hashing = HashingReader(f)
    head = hashing.read(4)
    hashing.drain()
    return hashing.digest, hashing.size, codec_of(head)


def _unpack(
    tar: tarfile.TarFile,
    member: str,
    codec: str,
    rootfs: Path,
    tree: dict[str, TreeEntry],
) -> str:
    """Apply one layer to ``rootfs`` and ``tree`` (whiteouts included); return its diff_id."""
    f = tar.extractfile(member.removeprefix("./"))
    assert f is not None
    hashing = HashingReader(decompressing(f, codec))
    with tarfile.open(fileobj=hashing, mode="r|") as layer:  # type: ignore[call-overload]
        for info in layer:
            _apply(layer, info, rootfs, tree)
    hashing.drain()
    return hashing.digest


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


def _parents(name: str) -> Iterator[str]:
    parts = name.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


def base_blobs(base: BaseImage, directory: Path) -> list[tuple[LayerBlob, Path]]:
    """Copy the base's layer blobs out of its tarball, as they are, for the image writer."""
    directory.mkdir(parents=True, exist_ok=True)
    blobs = []
    with tarfile.open(base.path) as tar:
        for index, layer in enumerate(base.layers):
            source = tar.extractfile(layer.member)
            if source is None:
                raise UsageError(f"the base tarball has no file {layer.member}")
            path = directory / f"base-{index}"
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
    return blobs
