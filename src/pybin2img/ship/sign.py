"""Signing pushed images the way cosign does without a transparency log.

For each manifest digest: the simple-signing payload (``critical.identity.docker-reference``
the repository, ``critical.image.docker-manifest-digest`` the digest, ``optional`` null) is
signed with ECDSA P-256 over SHA-256, and pushed as a layer of media type
``application/vnd.dev.cosign.simplesigning.v1+json`` whose annotation
``dev.cosignproject.cosign/signature`` holds the base64 DER signature, in an OCI image manifest
tagged ``sha256-<hex>.sig`` in the image's repository. Signatures made by other keys under that
tag are kept; an earlier one by the same key over the same payload is replaced.

``cosign verify --key KEY.pub --insecure-ignore-tlog`` checks them, and so do skopeo and podman
(containers/image) with a ``sigstoreSigned`` policy and ``use-sigstore-attachments``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RegistryError, UsageError
from ..log import Log
from ..oci import MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST, canonical_json, sha256_digest
from ..reference import ImageReference, is_digest, parse_reference
from ..registry import RegistryClient, RegistryOptions, open_client
from .keys import SigningKey

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
SIGNATURE_TYPE = "cosign container image signature"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
#: What cosign's (go-containerregistry's) empty image config records as its time.
_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True, kw_only=True)
class Signature:
    """A signature pushed for one manifest."""

    #: The signed manifest's digest.
    digest: str
    #: The tag the signature manifest is under: ``sha256-<hex>.sig``.
    tag: str
    #: That signature manifest's own digest.
    manifest_digest: str
    #: How many signatures the tag holds now (others' included).
    count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "tag": self.tag,
            "manifest_digest": self.manifest_digest,
            "signatures": self.count,
        }


def signature_tag(digest: str) -> str:
    """``sha256:abc…`` -> ``sha256-abc….sig``: where cosign looks for its signatures."""
    return digest.replace(":", "-") + ".sig"


def identity(reference: ImageReference) -> str:
    """The ``docker-reference`` cosign signs: the repository, fully qualified, no tag."""
    return f"{reference.registry}/{reference.normalized_path}"


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The payload cosign signs, byte for byte (Go writes the keys in this, sorted, order)."""
    return canonical_json(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": digest},
                "type": SIGNATURE_TYPE,
            },
            "optional": None,
        }
    )


def parse_target(text: str) -> tuple[ImageReference, str | None]:
    """``NAME[:TAG][@sha256:…]`` -> the reference and the digest, if one was given."""
    name, at, digest = text.partition("@")
    if at and not is_digest(digest):
        raise UsageError(f"invalid image reference {text!r}: {digest!r} is not sha256:<64 hex>")
    return parse_reference(name), digest or None


def sign_image(
    reference: ImageReference,
    digest: str | None,
    key: SigningKey,
    *,
    registry: RegistryOptions,
    log: Log,
) -> tuple[Signature, ...]:
    """Sign what ``reference`` (or ``digest`` in its repository) names in the registry. An
    index is signed with each manifest it lists, since verifiers (skopeo, podman) check the
    platform's manifest as well as the index."""
    with log.stage("sign") as stage, open_client(reference, registry, log) as client:
        client.ping()
        where = f"{reference.repository}@{digest}" if digest else reference.familiar
        manifest = client.get_manifest(digest or reference.tag)
        if manifest is None:
            raise RegistryError(f"{where} is not in the registry; push it first")
        digests = [manifest.digest, *_children(manifest.data, manifest.media_type)]
        signatures = tuple(sign_digest(client, reference, d, key, log) for d in digests)
        stage.summary = _summary(reference, signatures)
    return signatures


def sign_pushed(
    reference: ImageReference,
    digests: Sequence[str],
    key: SigningKey,
    *,
    registry: RegistryOptions,
    log: Log,
) -> tuple[Signature, ...]:
    """Sign manifests this run has just pushed to ``reference``'s repository."""
    with log.stage("sign") as stage, open_client(reference, registry, log) as client:
        client.ping()
        signatures = tuple(sign_digest(client, reference, d, key, log) for d in digests)
        stage.summary = _summary(reference, signatures)
    return signatures


def sign_digest(
    client: RegistryClient, reference: ImageReference, digest: str, key: SigningKey, log: Log
) -> Signature:
    """Sign one manifest digest and push the signature under ``sha256-<hex>.sig``."""
    payload = simple_signing_payload(identity(reference), digest)
    signature = base64.b64encode(key.sign(payload)).decode()
    payload_digest = client.put_blob(payload)
    ours = {
        "mediaType": SIMPLE_SIGNING,
        "digest": payload_digest,
        "size": len(payload),
        "annotations": {SIGNATURE_ANNOTATION: signature},
    }
    tag = signature_tag(digest)
    kept = [
        layer
        for layer in _existing_layers(client, tag, log)
        if not (layer.get("digest") == payload_digest and _by_key(layer, payload, key))
    ]
    layers = [*kept, ours]
    config = canonical_json(
        {
            "architecture": "",
            "config": {},
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }
    )
    config_digest = client.put_blob(config)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": layers,
        }
    )
    manifest_digest = client.put_manifest(tag, manifest, MEDIA_MANIFEST)
    log.detail(f"signed {digest} -> {tag} ({len(layers)} signature(s))")
    return Signature(digest=digest, tag=tag, manifest_digest=manifest_digest, count=len(layers))


def _existing_layers(client: RegistryClient, tag: str, log: Log) -> list[dict[str, Any]]:
    """The signature layers already under ``tag`` (none when there is no such tag)."""
    existing = client.get_manifest(tag, (MEDIA_MANIFEST,))
    if existing is None:
        return []
    try:
        layers = json.loads(existing.data).get("layers") or []
    except (ValueError, AttributeError):
        layers = None
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        log.warning(f"{tag} holds no readable signature manifest; replacing it")
        return []
    return [layer for layer in layers if layer.get("mediaType") == SIMPLE_SIGNING]


def _by_key(layer: dict[str, Any], payload: bytes, key: SigningKey) -> bool:
    """Whether ``layer`` is this key's signature over ``payload`` (a re-run signing again)."""
    text = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
    if not isinstance(text, str) or sha256_digest(payload) != layer.get("digest"):
        return False
    try:
        return key.verifies(payload, base64.b64decode(text, validate=True))
    except binascii.Error:
        return False


def _children(data: bytes, media_type: str) -> list[str]:
    """The manifests an index lists (none for an image manifest)."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise RegistryError(f"the registry sent a manifest that is not JSON ({exc})") from exc
    if media_type not in (MEDIA_INDEX, DOCKER_LIST) and "manifests" not in document:
        return []
    return [
        entry["digest"]
        for entry in document.get("manifests") or []
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str)
    ]


def _summary(reference: ImageReference, signatures: Sequence[Signature]) -> str:
    what = "manifest" if len(signatures) == 1 else "manifests"
    return f"{reference.repository}: {len(signatures)} {what} signed ({signatures[0].tag}…)"
