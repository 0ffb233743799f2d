"""Image metadata as canonical JSON bytes: the config, the OCI manifest, the index and Docker's
``manifest.json``.

Each document is serialized once (sorted keys, no whitespace) and those exact bytes are what get
hashed, written into the tarball and later pushed, so every digest is stable.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..reference import ImageReference

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'

#: ELF e_machine -> (GOARCH, variant): the platform names registries and engines use.
ARCHITECTURES: dict[str, tuple[str, str | None]] = {
    "EM_X86_64": ("amd64", None),
    "EM_AARCH64": ("arm64", "v8"),
    "EM_386": ("386", None),
    "EM_ARM": ("arm", "v7"),
    "EM_PPC64": ("ppc64le", None),
    "EM_S390": ("s390x", None),
    "EM_RISCV": ("riscv64", None),
}


def canonical_json(document: Any) -> bytes:
    """The one serialization of every document pybin2img hashes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rfc3339(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True, kw_only=True)
class LayerBlob:
    """A written layer: its compressed blob and what it holds."""

    name: str
    description: str
    descriptor: Descriptor
    #: sha256 of the uncompressed tar.
    diff_id: str
    uncompressed_size: int
    files: int


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """The run-time settings recorded in the image config."""

    architecture: str
    variant: str | None = None
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = "/"
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[str, ...] = ()
    #: Paths declared as volumes: an engine mounts a fresh, writable volume there per container
    #: (``/tmp``, so that it is writable under ``--read-only``).
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None
    #: Seconds since the epoch (SOURCE_DATE_EPOCH).
    created: int = 0
    #: Recorded as the image history's ``created_by``.
    created_by: str = "pybin2img"
    #: The base image's config (``--base IMAGE.tar``): its Env, Labels and ExposedPorts are
    #: merged under pybin2img's, its history comes first.
    base: dict[str, Any] | None = None


def config_document(
    config: ImageConfig, layers: Sequence[LayerBlob], base_layers: int = 0
) -> dict[str, Any]:
    """The image config; the first ``base_layers`` of ``layers`` come from ``config.base``."""
    created = rfc3339(config.created)
    base_run: dict[str, Any] = (config.base or {}).get("config") or {}
    env = {e.partition("=")[0]: e for e in base_run.get("Env") or []}
    env.update({e.partition("=")[0]: e for e in config.env})
    labels = {**(base_run.get("Labels") or {}), **dict(config.labels)}
    ports = {**(base_run.get("ExposedPorts") or {}), **{port: {} for port in config.ports}}
    volumes = {**(base_run.get("Volumes") or {}), **{path: {} for path in config.volumes}}
    run: dict[str, Any] = {
        "Entrypoint": list(config.entrypoint),
        "Env": list(env.values()),
        "User": config.user,
        "WorkingDir": config.workdir,
    }
    if config.cmd:
        run["Cmd"] = list(config.cmd)
    if labels:
        run["Labels"] = labels
    if ports:
        run["ExposedPorts"] = ports
    if volumes:
        run["Volumes"] = volumes
    if config.stop_signal:
        run["StopSignal"] = config.stop_signal
    document: dict[str, Any] = {
        "architecture": config.architecture,
        "os": "linux",
        "created": created,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            *(config.base or {}).get("history", []),
            *(
                {"created": created, "created_by": config.created_by, "comment": layer.description}
                for layer in layers[base_layers:]
            ),
        ],
    }
    if config.variant:
        document["variant"] = config.variant
    return document


def manifest_document(
    config: Descriptor, layers: Sequence[LayerBlob], annotations: dict[str, str]
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.descriptor.to_json() for layer in layers],
    }
    if annotations:
        document["annotations"] = annotations
    return document


def index_document(manifest: Descriptor, reference: ImageReference) -> dict[str, Any]:
    """One descriptor only: several make ``oci-archive:`` readers refuse the file."""
    entry = manifest.to_json()
    entry["annotations"] = {
        "io.containerd.image.name": reference.fully_qualified,
        "org.opencontainers.image.ref.name": reference.tag,
    }
    return {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [entry]}


def docker_manifest_document(
    config: Descriptor, layers: Sequence[LayerBlob], reference: ImageReference
) -> list[dict[str, Any]]:
    """What ``docker load`` reads (all versions): the same blobs, in the same order."""
    return [
        {
            "Config": blob_path(config.digest),
            "RepoTags": [reference.fully_qualified],
            "Layers": [blob_path(layer.descriptor.digest) for layer in layers],
        }
    ]


def blob_path(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"
