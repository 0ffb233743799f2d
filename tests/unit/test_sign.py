"""What is signed (ship/sign.py): cosign's simple-signing payload byte for byte, the signature's
tag, and the targets ``pybin2img sign`` accepts.

What registries, skopeo and podman make of the signatures is in tests/integration/test_release.py.
"""

from __future__ import annotations

import pytest

from pybin2img.errors import UsageError
from pybin2img.reference import parse_reference
from pybin2img.ship.sign import identity, parse_target, signature_tag, simple_signing_payload

DIGEST = "sha256:" + "ab" * 32


def test_simple_signing_payload_is_cosigns_bytes() -> None:
    reference = parse_reference("127.0.0.1:5000/team/app:1")
    payload = simple_signing_payload(identity(reference), DIGEST)
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app"},'
        b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert identity(parse_reference("app")) == "docker.io/library/app"
    assert signature_tag(DIGEST) == "sha256-" + "ab" * 32 + ".sig"


def test_sign_targets() -> None:
    reference, digest = parse_target(f"reg.example/app@{DIGEST}")
    assert (reference.repository, digest) == ("reg.example/app", DIGEST)
    reference, digest = parse_target("reg.example/app:2")
    assert (reference.tag, digest) == ("2", None)
    with pytest.raises(UsageError, match=r"is not sha256:<64 hex>"):
        parse_target("reg.example/app@sha256:abc")
