"""The SBOM pushed next to the image it describes, where scanners and admission controllers look.

One OCI artifact manifest holds the SBOM as its one layer, with ``artifactType`` the SBOM's
media type, the empty config (``application/vnd.oci.empty.v1+json``) and ``subject`` the image
manifest. It is found three ways:

- as an OCI 1.1 referrer of the image: a registry with the referrers API indexes ``subject``
  itself (it answers the ``PUT`` with ``OCI-Subject``); for one without (Debian's
  docker-registry, distribution 2.x) the referrers tag ``sha256-<hex>`` holds an image index
  listing the image's referrers, which this module updates (OCI distribution 1.1's fallback);
- under cosign's attachment tag ``sha256-<hex>.sbom`` (``cosign download sbom``).

The same manifest serves both, so signing its digest signs the SBOM however it is found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import RegistryError
from ..log import Log
from ..oci import (
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    Descriptor,
    canonical_json,
    sha256_digest,
)
from ..reference import ImageReference
from ..registry import RegistryClient, RegistryOptions, open_client

#: The OCI empty descriptor: a config for artifacts that have none.
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
#: SBOM media types: CycloneDX's and SPDX's registered JSON types.
SBOM_MEDIA_TYPES = {
    "cyclonedx": "application/vnd.cyclonedx+json",
    "spdx": "application/spdx+json",
}


@dataclass(frozen=True, kw_only=True)
class Attachment:
    """An SBOM attached to an image in the registry."""

    #: The artifact manifest's digest (what signing it signs).
    digest: str
    #: The image it is attached to.
    subject: str
    media_type: str
    #: ``sha256-<hex>.sbom``: cosign's attachment tag.
    tag: str
    #: ``api`` (the registry indexed it) or ``tag`` (the ``sha256-<hex>`` referrers index).
    referrers: str

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "subject": self.subject,
            "media_type": self.media_type,
            "tag": self.tag,
            "referrers": self.referrers,
        }


def referrers_tag(digest: str) -> str:
    """The referrers fallback tag: ``<alg>-<hex>`` (truncated to 32 and 64 characters)."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm[:32]}-{hexdigest[:64]}"


def sbom_manifest(subject: Descriptor, sbom: bytes, media_type: str, title: str) -> bytes:
    """The artifact manifest holding ``sbom`` for ``subject``."""
    empty = Descriptor(
        media_type=EMPTY_MEDIA_TYPE, digest=sha256_digest(EMPTY_CONFIG), size=len(EMPTY_CONFIG)
    )
    layer = Descriptor(media_type=media_type, digest=sha256_digest(sbom), size=len(sbom)).to_json()
    layer["annotations"] = {"org.opencontainers.image.title": title}
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "artifactType": media_type,
            "config": {**empty.to_json(), "data": "e30="},
            "layers": [layer],
            "subject": subject.to_json(),
        }
    )


def attach_sbom(
    reference: ImageReference,
    subject: Descriptor,
    sbom: bytes,
    *,
    media_type: str,
    title: str,
    registry: RegistryOptions,
    log: Log,
) -> Attachment:
    """Push ``sbom`` as an attachment of the image manifest ``subject`` in ``reference``'s
    repository (see the module docstring)."""
    with log.stage("attach") as stage, open_client(reference, registry, log) as client:
        client.ping()
        client.put_blob(EMPTY_CONFIG)
        client.put_blob(sbom)
        manifest = sbom_manifest(subject, sbom, media_type, title)
        digest, indexed = client.put_referrer(manifest, MEDIA_MANIFEST)
        if not indexed:
            _add_referrer(client, subject.digest, manifest, media_type)
        tag = subject.digest.replace(":", "-") + ".sbom"
        client.put_manifest(tag, manifest, MEDIA_MANIFEST)
        attachment = Attachment(
            digest=digest,
            subject=subject.digest,
            media_type=media_type,
            tag=tag,
            referrers="api" if indexed else "tag",
        )
        how = "referrers API" if indexed else f"referrers tag {referrers_tag(subject.digest)}"
        stage.summary = f"SBOM ({len(sbom)} bytes, {media_type}) as {tag} and by {how}"
    return attachment


def _add_referrer(client: RegistryClient, subject: str, manifest: bytes, media_type: str) -> None:
    """Add the artifact to the subject's referrers index under the fallback tag."""
    tag = referrers_tag(subject)
    entry = {
        "mediaType": MEDIA_MANIFEST,
        "digest": sha256_digest(manifest),
        "size": len(manifest),
        "artifactType": media_type,
    }
    existing = client.get_manifest(tag, (MEDIA_INDEX,))
    entries: list[Any] = []
    if existing is not None:
        try:
            document = json.loads(existing.data)
            entries = list(document.get("manifests") or [])
        except (ValueError, AttributeError, TypeError) as exc:
            raise RegistryError(
                f"the referrers tag {tag} holds no image index; remove it and push again"
            ) from exc
    if any(isinstance(e, dict) and e.get("digest") == entry["digest"] for e in entries):
        return
    index = canonical_json(
        {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": [*entries, entry]}
    )
    client.put_manifest(tag, index, MEDIA_INDEX)
