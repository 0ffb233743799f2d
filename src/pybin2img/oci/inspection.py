"""``pybin2img inspect IMAGE.tar``: check an image tarball and say what is in it.

Checks every blob's digest and size, the diff_ids against the decompressed layers, that
``index.json`` and ``manifest.json`` describe the same image, and the config's history; then
reports the config, the layers with their sizes, a size breakdown by part, and the largest files.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import InvalidImageError
from .documents import (
    MEDIA_CONFIG,
    MEDIA_LAYER,
    MEDIA_MANIFEST,
    HashingReader,
    blob_path,
    decompressing,
)

_CHUNK = 1 << 20
_MANIFEST_TYPES = (MEDIA_MANIFEST, "application/vnd.docker.distribution.manifest.v2+json")
_LAYER_TYPES = {
    **{media: codec for codec, media in MEDIA_LAYER.items()},
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
}


@dataclass(frozen=True, kw_only=True)
class LayerReport:
    digest: str
    diff_id: str
    media_type: str
    size: int
    uncompressed_size: int
    files: int
    comment: str
    #: Part name -> bytes of regular files (see :func:`part_of`).
    parts: dict[str, int]


@dataclass(frozen=True, kw_only=True)
class ImageReport:
    """What ``inspect`` found in a consistent tarball."""

    reference: str | None
    manifest_digest: str
    config_digest: str
    config: dict[str, Any]
    annotations: dict[str, str]
    layers: tuple[LayerReport, ...]
    #: (size, path) of the largest regular files, largest first.
    largest: tuple[tuple[int, str], ...]
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": self.manifest_digest,
            "image_id": self.config_digest,
            "architecture": self.config.get("architecture"),
            "os": self.config.get("os"),
            "config": self.config.get("config", {}),
            "annotations": self.annotations,
            "layers": [
                {
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "media_type": layer.media_type,
                    "size": layer.size,
                    "uncompressed_size": layer.uncompressed_size,
                    "files": layer.files,
                    "holds": layer.comment,
                    "parts": layer.parts,
                }
                for layer in self.layers
            ],
            "largest_files": [{"path": p, "size": s} for s, p in self.largest],
            "warnings": list(self.warnings),
        }


def part_of(path: str) -> str:
    """Which part of an image a file belongs to, for size reports."""
    name = posixpath.basename(path)
    if path.startswith("app/"):
        if "/" not in path[4:] and "." not in name:
            return "binary"
        if ".so" in name:
            return "bundled libraries" if name.startswith("lib") else "extension modules"
        return "data"
    if ".so" in name or name.startswith("ld-linux") or path.startswith("usr/lib/locale/"):
        return "system libraries"
    return "base files"


class _Tarball:
    """Random access to the members of the outer tarball."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.members = {m.name.removeprefix("./"): m for m in tar.getmembers()}

    def open(self, name: str) -> IO[bytes]:
        member = self.members.get(name)
        if member is None or not member.isfile():
            raise InvalidImageError(f"the tarball has no {name}")
        f = self.tar.extractfile(member)
        assert f is not None
        return f

    def json(self, name: str) -> Any:
        try:
            return json.loads(self.open(name).read())
        except ValueError as exc:
            raise InvalidImageError(f"{name} is not valid JSON: {exc}") from exc

    def blob(self, descriptor: dict[str, Any], what: str) -> bytes:
        data = self.open(_blob_name(descriptor, what)).read()
        _check(data, descriptor, what)
        return data


def _blob_name(descriptor: dict[str, Any], what: str) -> str:
    digest = descriptor.get("digest", "")
    if not isinstance(digest, str) or not digest.startswith("sha256:"):
        raise InvalidImageError(f"{what} has no sha256 digest")
    return blob_path(digest)


def _check(data: bytes, descriptor: dict[str, Any], what: str) -> None:
    if len(data) != descriptor.get("size"):
        raise InvalidImageError(
            f"{what} {descriptor['digest']}: size is {len(data)}, "
            f"the descriptor says {descriptor.get('size')}"
        )
    actual = "sha256:" + hashlib.sha256(data).hexdigest()
    if actual != descriptor["digest"]:
        raise InvalidImageError(f"{what} {descriptor['digest']}: content hashes to {actual}")


def inspect_tarball(path: str, *, largest: int = 10) -> ImageReport:
    """Check the tarball at ``path``; raise :class:`InvalidImageError` naming the first problem."""
    try:
        with tarfile.open(path) as tar:
            return _inspect(_Tarball(tar), largest)
    except (OSError, tarfile.TarError) as exc:
        raise InvalidImageError(f"{path} is not a readable image tarball: {exc}") from exc


def _inspect(t: _Tarball, largest: int) -> ImageReport:
    warnings: list[str] = []
    for name in t.members:
        if name.startswith("/") or ".." in name.split("/"):
            raise InvalidImageError(f"member {name!r} is not a relative path inside the image")
    layout = t.json("oci-layout")
    if layout != {"imageLayoutVersion": "1.0.0"}:
        raise InvalidImageError(f"oci-layout is {layout}, expected imageLayoutVersion 1.0.0")
    index = t.json("index.json")
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise InvalidImageError(f"index.json lists {len(manifests)} manifests; expected exactly 1")
    descriptor = manifests[0]
    if descriptor.get("mediaType") not in _MANIFEST_TYPES:
        raise InvalidImageError(f"index.json: unexpected media type {descriptor.get('mediaType')}")
    manifest = json.loads(t.blob(descriptor, "manifest"))
    config_desc = manifest.get("config", {})
    if config_desc.get("mediaType") not in (
        MEDIA_CONFIG,
        "application/vnd.docker.container.image.v1+json",
    ):
        raise InvalidImageError(f"manifest: unexpected config type {config_desc.get('mediaType')}")
    config = json.loads(t.blob(config_desc, "config"))
    layers = manifest.get("layers") or []
    if not layers:
        raise InvalidImageError("the manifest lists no layers")
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if len(diff_ids) != len(layers):
        raise InvalidImageError(f"the config has {len(diff_ids)} diff_ids for {len(layers)} layers")
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if len(history) != len(layers):
        raise InvalidImageError(
            f"the config's history has {len(history)} entries for {len(layers)} layers"
        )
    for key in ("architecture", "os"):
        if not config.get(key):
            raise InvalidImageError(f"the config has no {key}")

    docker = t.json("manifest.json")
    if not isinstance(docker, list) or len(docker) != 1:
        raise InvalidImageError("manifest.json must list exactly one image")
    if docker[0].get("Config") != _blob_name(config_desc, "config"):
        raise InvalidImageError("manifest.json and index.json name different configs")
    if docker[0].get("Layers") != [_blob_name(layer, "layer") for layer in layers]:
        raise InvalidImageError("manifest.json and index.json list different layers")
    annotations = descriptor.get("annotations", {})
    reference = annotations.get("io.containerd.image.name")
    repo_tags = docker[0].get("RepoTags") or []
    if reference and repo_tags and reference not in repo_tags:
        warnings.append(f"manifest.json tags {repo_tags} but index.json names {reference}")

    files: list[tuple[int, str]] = []
    reports = []
    for i, (layer, diff_id) in enumerate(zip(layers, diff_ids, strict=True)):
        reports.append(_check_layer(t, layer, diff_id, history[i].get("comment", ""), files))
    referenced = {
        blob_path(descriptor["digest"]),
        blob_path(config_desc["digest"]),
        *(blob_path(layer["digest"]) for layer in layers),
    }
    for name, member in t.members.items():
        if name.startswith("blobs/") and member.isfile() and name not in referenced:
            warnings.append(f"{name} is not referenced by the image")
    files.sort(key=lambda item: (-item[0], item[1]))
    return ImageReport(
        reference=reference,
        manifest_digest=descriptor["digest"],
        config_digest=config_desc["digest"],
        config=config,
        annotations=manifest.get("annotations", {}),
        layers=tuple(reports),
        largest=tuple(files[:largest]),
        warnings=tuple(warnings),
    )


def _check_layer(
    t: _Tarball, layer: dict[str, Any], diff_id: str, comment: str, files: list[tuple[int, str]]
) -> LayerReport:
    codec = _LAYER_TYPES.get(layer.get("mediaType", ""))
    if codec is None:
        raise InvalidImageError(f"layer {layer.get('digest')}: unknown media type")
    raw = HashingReader(t.open(_blob_name(layer, "layer")))
    try:
        uncompressed = HashingReader(decompressing(raw, codec))
        parts: dict[str, int] = {}
        count = 0
        with tarfile.open(fileobj=uncompressed, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if member.isfile():
                    count += 1
                    files.append((member.size, "/" + member.name))
                    part = part_of(member.name)
                    parts[part] = parts.get(part, 0) + member.size
        uncompressed.drain()
        raw.drain()
    except (OSError, EOFError, tarfile.TarError, ValueError) as exc:
        raise InvalidImageError(
            f"layer {layer['digest']} cannot be read ({exc.__class__.__name__}: {exc}); "
            "it is truncated or corrupt"
        ) from exc
    if raw.size != layer.get("size"):
        raise InvalidImageError(
            f"layer {layer['digest']}: size is {raw.size}, the manifest says {layer.get('size')}"
        )
    if raw.digest != layer["digest"]:
        raise InvalidImageError(f"layer {layer['digest']}: content does not match its digest")
    actual_diff = uncompressed.digest
    if actual_diff != diff_id:
        raise InvalidImageError(
            f"layer {layer['digest']}: uncompressed content hashes to {actual_diff}, "
            f"the config's diff_id is {diff_id}"
        )
    return LayerReport(
        digest=layer["digest"],
        diff_id=diff_id,
        media_type=layer["mediaType"],
        size=raw.size,
        uncompressed_size=uncompressed.size,
        files=count,
        comment=comment,
        parts=parts,
    )


def format_report(report: ImageReport) -> str:
    """The human-readable report printed by ``pybin2img inspect``."""
    cfg = report.config.get("config", {})
    lines = [
        f"reference     {report.reference or '-'}",
        f"digest        {report.manifest_digest}",
        f"image id      {report.config_digest}",
        f"platform      {report.config.get('os')}/{report.config.get('architecture')}",
        f"created       {report.config.get('created', '-')}",
        f"entrypoint    {json.dumps(cfg.get('Entrypoint'))}",
        f"cmd           {json.dumps(cfg.get('Cmd'))}",
        f"user          {cfg.get('User') or '-'}",
        f"workdir       {cfg.get('WorkingDir') or '-'}",
        f"env           {json.dumps(cfg.get('Env', []))}",
    ]
    for key in ("ExposedPorts", "Labels", "StopSignal"):
        if cfg.get(key):
            lines.append(f"{key.lower():<13} {json.dumps(cfg[key])}")
    for key, value in sorted(report.annotations.items()):
        lines.append(f"annotation    {key}={value}")
    total = sum(layer.size for layer in report.layers)
    total_raw = sum(layer.uncompressed_size for layer in report.layers)
    lines.append("")
    lines.append(f"{'layer':<20} {'compressed':>11} {'uncompressed':>13} {'files':>6}  holds")
    for layer in report.layers:
        lines.append(
            f"{layer.digest[7:19]:<20} {_mb(layer.size):>11} {_mb(layer.uncompressed_size):>13} "
            f"{layer.files:>6}  {layer.comment}"
        )
    lines.append(f"{'total':<20} {_mb(total):>11} {_mb(total_raw):>13}")
    parts: dict[str, int] = {}
    for layer in report.layers:
        for part, size in layer.parts.items():
            parts[part] = parts.get(part, 0) + size
    lines.append("")
    lines.append("size by part (uncompressed)")
    for part, size in sorted(parts.items(), key=lambda item: -item[1]):
        lines.append(f"  {part:<20} {_mb(size):>10}")
    lines.append("")
    lines.append("largest files")
    for size, path in report.largest:
        lines.append(f"  {_mb(size):>10}  {path}")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"
