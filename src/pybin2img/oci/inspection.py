"""``pybin2img inspect IMAGE.tar``: check an image tarball and say what is in it.

Checks every blob's digest and size, the diff_ids against the decompressed layers, that
``index.json`` and ``manifest.json`` describe the same image, and the config's history; then
reports the config, the layers with their sizes, a size breakdown by part, and the largest files.
``size_report`` is the same breakdown for a build (``build -v``).

When the image holds pybin2img's SBOM, each of its files is looked up in it
(:class:`SbomCoverage`): the files no component claims (the goal: none), and those whose bytes
are not what the SBOM's SHA-256 says.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidImageError
from .archive import Archive, Layer, open_archive
from .documents import blob_path
from .layer import Entry, Kind

if TYPE_CHECKING:
    from .write import WrittenImage

#: Where pybin2img puts the image's own SBOM (``plan.packages.SBOM_PATH``, without the ``/``).
SBOM_MEMBER = "usr/share/pybin2img/sbom.cdx.json"
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
#: Rows of ``data by directory`` that ``inspect`` prints (the JSON has them all).
_DATA_ROWS = 15


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
class SbomCoverage:
    """The image's files against its own SBOM's components."""

    #: Regular files in the image (the top layer's view).
    files: int
    #: ``(path, why)`` of the files no component claims: listed as a file of its own, with the
    #: reason the SBOM gives, or not at all.
    unclaimed: tuple[tuple[str, str], ...]
    #: Files whose bytes do not have the SHA-256 the SBOM gives them.
    mismatched: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": "/" + SBOM_MEMBER,
            "files": self.files,
            "unclaimed": [{"path": p, "why": why} for p, why in self.unclaimed],
            "hash_mismatches": list(self.mismatched),
        }


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
    #: What the image's SBOM claims of its files; ``None`` when it holds no pybin2img SBOM.
    sbom: SbomCoverage | None = None
    #: Bytes of the ``data`` part by the directory of /app it is in (see :func:`data_owner`).
    data: dict[str, int] = field(default_factory=dict)

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
            "sbom": self.sbom.to_json() if self.sbom else None,
            "data_by_directory": self.data,
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


def data_owner(path: str) -> str | None:
    """For a file of the ``data`` part, the directory of /app it is in (a package's name for
    its data: ``app/matplotlib/mpl-data/…`` is ``matplotlib``'s), or the file's own name at
    the top of /app; ``None`` for any other file."""
    if part_of(path) != "data":
        return None
    return path[4:].split("/", 1)[0]


def data_by_directory(files: Iterable[tuple[int, str]]) -> dict[str, int]:
    """``(size, path)`` of files -> bytes of data per :func:`data_owner`, largest first."""
    sizes: dict[str, int] = {}
    for size, path in files:
        owner = data_owner(path.lstrip("/"))
        if owner is not None:
            sizes[owner] = sizes.get(owner, 0) + size
    return dict(sorted(sizes.items(), key=lambda item: (-item[1], item[0])))


def inspect_tarball(path: str, *, largest: int = 10) -> ImageReport:
    """Check the tarball at ``path``; raise :class:`InvalidImageError` naming the first problem."""
    with open_archive(Path(path), oci=True) as archive:
        return _inspect(archive, largest)


def _inspect(archive: Archive, largest: int) -> ImageReport:
    """What :func:`open_archive` and reading the layers do not check: what pybin2img writes
    besides the OCI layout (``oci-layout``, Docker's ``manifest.json``) and the config's
    history and platform."""

    def bad(why: str) -> InvalidImageError:
        return InvalidImageError(f"{archive.path}: {why}")

    warnings: list[str] = []
    if not archive.has("oci-layout"):
        raise bad("it has no oci-layout")
    manifest = archive.manifest_document
    descriptor = archive.manifest_descriptor
    assert manifest is not None  # oci=True: an OCI layout has one
    assert descriptor is not None
    config = archive.config_document
    layers = archive.layers
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if len(history) != len(layers):
        raise bad(f"the config's history has {len(history)} entries for {len(layers)} layers")
    for key in ("architecture", "os"):
        if not config.get(key):
            raise bad(f"the config has no {key}")

    docker = archive.docker_manifest
    if docker is None:
        raise bad("it has no manifest.json")
    if docker.get("Config") != blob_path(archive.config_descriptor.digest):
        raise bad("manifest.json and index.json name different configs")
    if docker.get("Layers") != [blob_path(layer.descriptor.digest) for layer in layers]:
        raise bad("manifest.json and index.json list different layers")
    reference = archive.annotations.get("io.containerd.image.name")
    repo_tags = list(archive.repo_tags)
    if reference and repo_tags and reference not in repo_tags:
        warnings.append(f"manifest.json tags {repo_tags} but index.json names {reference}")

    files: list[tuple[int, str]] = []
    view: dict[str, str | bytes] = {}
    reports = [
        _check_layer(archive, layer, entry.get("comment", ""), files, view)
        for layer, entry in zip(layers, history, strict=True)
    ]
    coverage = _sbom_coverage(view)
    if coverage is not None:
        warnings.extend(
            f"{path} is not the file the SBOM lists (its SHA-256 differs)"
            for path in coverage.mismatched
        )
    referenced = {
        blob_path(descriptor.digest),
        blob_path(archive.config_descriptor.digest),
        *(blob_path(layer.descriptor.digest) for layer in layers),
    }
    for name in archive.names:
        if name.startswith("blobs/") and archive.is_file(name) and name not in referenced:
            warnings.append(f"{name} is not referenced by the image")
    files.sort(key=lambda item: (-item[0], item[1]))
    data = data_by_directory(files)
    return ImageReport(
        reference=reference,
        manifest_digest=descriptor.digest,
        config_digest=archive.config_descriptor.digest,
        config=config,
        annotations=manifest.get("annotations", {}),
        layers=tuple(reports),
        largest=tuple(files[:largest]),
        warnings=tuple(warnings),
        sbom=coverage,
        data=data,
    )


def _check_layer(
    archive: Archive,
    layer: Layer,
    comment: str,
    files: list[tuple[int, str]],
    view: dict[str, str | bytes],
) -> LayerReport:
    """Read one layer: its files' sizes by part; ``view`` (path -> SHA-256 hex, or the bytes
    of the SBOM) becomes what the image shows after this layer."""
    parts: dict[str, int] = {}
    count = 0
    with archive.open_layer(layer) as stream:
        tar = stream.tar()
        for member in tar:
            name = member.name[2:] if member.name.startswith("./") else member.name
            name = posixpath.normpath(name.lstrip("/") or ".")
            _apply_whiteout(view, name)
            if member.islnk():  # a hard link: the same file under another name
                target = posixpath.normpath(member.linkname.removeprefix("./").lstrip("/"))
                if target in view:
                    view[name] = view[target]
                continue
            if not member.isfile():
                view.pop(name, None)
                continue
            count += 1
            files.append((member.size, "/" + member.name))
            part = part_of(member.name)
            parts[part] = parts.get(part, 0) + member.size
            if posixpath.basename(name).startswith(_WHITEOUT):
                continue
            reader = tar.extractfile(member)
            if reader is None:
                continue
            if name == SBOM_MEMBER:
                view[name] = reader.read()
                continue
            digest = hashlib.sha256()
            while chunk := reader.read(1 << 20):
                digest.update(chunk)
            view[name] = digest.hexdigest()
    return LayerReport(
        digest=layer.descriptor.digest,
        diff_id=layer.diff_id,
        media_type=layer.descriptor.media_type,
        size=layer.descriptor.size,
        uncompressed_size=stream.size,
        files=count,
        comment=comment,
        parts=parts,
    )


def _apply_whiteout(view: dict[str, str | bytes], name: str) -> None:
    """An OCI whiteout (``dir/.wh.name``, ``dir/.wh..wh..opq``) hides what lower layers had."""
    base = posixpath.basename(name)
    if not base.startswith(_WHITEOUT):
        return
    parent = posixpath.dirname(name)
    if base == _OPAQUE:
        prefix = f"{parent}/" if parent else ""
        gone = [path for path in view if path.startswith(prefix)]
    else:
        hidden = posixpath.join(parent, base[len(_WHITEOUT) :])
        gone = [path for path in view if path == hidden or path.startswith(hidden + "/")]
    for path in gone:
        del view[path]


def _sbom_coverage(view: Mapping[str, str | bytes]) -> SbomCoverage | None:
    """The image's files (``view``) against the SBOM it holds, if it holds one."""
    document = view.get(SBOM_MEMBER)
    if not isinstance(document, bytes):
        return None
    try:
        parsed = json.loads(document)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or parsed.get("bomFormat") != "CycloneDX":
        return None
    claimed, listed, hashes = sbom_claims(parsed)
    unclaimed = tuple(
        ("/" + path, listed.get("/" + path, "not in the SBOM"))
        for path in sorted(view)
        if "/" + path not in claimed
    )
    mismatched = tuple(
        "/" + path
        for path, digest in sorted(view.items())
        if isinstance(digest, str) and hashes.get("/" + path, digest) != digest
    )
    return SbomCoverage(files=len(view), unclaimed=unclaimed, mismatched=mismatched)


def sbom_claims(document: Mapping[str, Any]) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """From a CycloneDX document pybin2img wrote: the paths its components claim (their
    evidence, their nested files), the paths listed only as files of their own (with the
    reason given), and each listed file's SHA-256."""
    claimed: set[str] = set()
    listed: dict[str, str] = {}
    hashes: dict[str, str] = {}

    def walk(component: Mapping[str, Any], top: bool) -> None:
        locations = [
            o["location"]
            for o in component.get("evidence", {}).get("occurrences", [])
            if isinstance(o, dict) and isinstance(o.get("location"), str)
        ]
        is_file = component.get("type") == "file"
        if is_file and isinstance(component.get("name"), str):
            locations.append(component["name"])
        sha256 = next(
            (
                h.get("content")
                for h in component.get("hashes", [])
                if isinstance(h, dict) and h.get("alg") == "SHA-256"
            ),
            None,
        )
        if sha256 and locations and (is_file or len(locations) == 1):
            hashes[locations[-1] if is_file else locations[0]] = sha256
        if top and is_file:
            why = str(component.get("description") or "listed as a file no package owns")
            for location in locations:
                listed[location] = why.removeprefix("claimed by no component: ")
            return
        claimed.update(locations)
        for child in component.get("components", []):
            if isinstance(child, dict):
                walk(child, False)

    for component in document.get("components", []):
        if isinstance(component, dict):
            walk(component, True)
    return claimed, listed, hashes


def size_report(nodes: Mapping[str, Entry], written: WrittenImage) -> list[str]:
    """Per-layer and per-part sizes of a build, for ``build -v``."""
    lines = [f"{'layer':<40} {'compressed':>11} {'uncompressed':>13} {'files':>6}"]
    for layer in written.layers:
        lines.append(
            f"{layer.description[:40]:<40} {layer.descriptor.size / 1e6:>8.2f} MB "
            f"{layer.uncompressed_size / 1e6:>10.2f} MB {layer.files:>6}"
        )
    parts: dict[str, int] = {}
    sized: list[tuple[int, str]] = []
    for path, entry in nodes.items():
        if entry.kind is Kind.FILE:
            size = len(entry.data) if entry.data is not None else _size(entry.source)
            parts[part_of(path)] = parts.get(part_of(path), 0) + size
            sized.append((size, path))
    lines.append(
        "size by part (uncompressed): "
        + ", ".join(
            f"{part} {size / 1e6:.2f} MB"
            for part, size in sorted(parts.items(), key=lambda i: -i[1])
        )
    )
    data = data_by_directory(sized)
    if data:
        lines.append(
            "data by directory of /app (uncompressed): "
            + ", ".join(f"{owner} {size / 1e6:.2f} MB" for owner, size in data.items())
        )
    return lines


def _size(path: str | None) -> int:
    try:
        return os.stat(path).st_size if path else 0
    except OSError:
        return 0


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
    if report.data:
        lines.append("")
        lines.append("data by directory of /app (uncompressed)")
        for owner, size in list(report.data.items())[:_DATA_ROWS]:
            lines.append(f"  {owner:<20} {_mb(size):>10}")
        if len(report.data) > _DATA_ROWS:
            rest = sum(list(report.data.values())[_DATA_ROWS:])
            lines.append(f"  {f'{len(report.data) - _DATA_ROWS} more':<20} {_mb(rest):>10}")
    lines.append("")
    lines.append("largest files")
    for size, path in report.largest:
        lines.append(f"  {_mb(size):>10}  {path}")
    coverage = report.sbom
    lines.append("")
    if coverage is None:
        lines.append("sbom          none in the image: which component owns each file is unknown")
    else:
        lines.append(
            f"sbom          /{SBOM_MEMBER}: {coverage.files} files, "
            f"{len(coverage.unclaimed)} claimed by no component"
        )
        for path, why in coverage.unclaimed:
            lines.append(f"  unclaimed   {path}  ({why})")
    lines.extend(f"warning: {w}" for w in report.warnings)
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1e6:.2f} MB"
