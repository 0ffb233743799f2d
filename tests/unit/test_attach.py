"""What is attached (ship/attach.py): the SBOM's artifact manifest, its subject and empty
config, and the referrers tag.

What registries make of it is in tests/integration/test_release.py.
"""

from __future__ import annotations

import hashlib
import json

from pybin2img.oci.documents import MEDIA_MANIFEST, Descriptor
from pybin2img.ship.attach import referrers_tag, sbom_manifest

DIGEST = "sha256:" + "ab" * 32


def test_sbom_artifact_manifest() -> None:
    subject = Descriptor(media_type=MEDIA_MANIFEST, digest=DIGEST, size=512)
    manifest = json.loads(sbom_manifest(subject, b"{}\n", "application/spdx+json", "a.spdx.json"))
    assert manifest["artifactType"] == "application/spdx+json"
    assert manifest["subject"] == subject.to_json()
    assert manifest["config"] == {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2,
        "data": "e30=",
    }
    (layer,) = manifest["layers"]
    assert layer["digest"] == "sha256:" + hashlib.sha256(b"{}\n").hexdigest()
    assert layer["annotations"] == {"org.opencontainers.image.title": "a.spdx.json"}
    assert referrers_tag(DIGEST) == "sha256-" + "ab" * 32
