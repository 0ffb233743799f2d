"""Signing keys (ship/keys.py): cosign's encrypted key files as cosign writes them, plain PEM
EC keys, and the errors of a wrong password, a wrong curve or a file that is no key.

What cosign and openssl make of them is in tests/integration/test_release.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pybin2img.errors import UsageError
from pybin2img.ship.keys import (
    COSIGN_PRIVATE_KEY,
    generate_key_pair,
    is_encrypted,
    load_signing_key,
)


def test_generated_key_is_cosigns_format_and_opens_with_its_password(tmp_path: Path) -> None:
    private, public = generate_key_pair(tmp_path / "release", "s3cret")
    assert (private.name, public.name) == ("release.key", "release.pub")
    assert private.stat().st_mode & 0o777 == 0o600
    text = private.read_text()
    assert text.startswith(f"-----BEGIN {COSIGN_PRIVATE_KEY}-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    # secure-systems-lab's JSON, as cosign writes it: scrypt N=32768 r=8 p=1, secretbox.
    body = json.loads(base64.b64decode("".join(text.splitlines()[1:-1])))
    assert list(body) == ["kdf", "cipher", "ciphertext"]
    assert body["kdf"]["name"] == "scrypt"
    assert body["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert len(base64.b64decode(body["kdf"]["salt"])) == 32
    assert body["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(body["cipher"]["nonce"])) == 24
    assert is_encrypted(private)

    key = load_signing_key(private, "s3cret")
    assert key.public_pem == public.read_bytes()
    signature = key.sign(b"payload")
    assert key.verifies(b"payload", signature)
    assert not key.verifies(b"other", signature)


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "k.pub").write_text("mine")
    with pytest.raises(UsageError, match=r"k.pub already exists"):
        generate_key_pair(tmp_path / "k", "")
    assert not (tmp_path / "k.key").exists()
    assert (tmp_path / "k.pub").read_text() == "mine"


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    private, _ = generate_key_pair(tmp_path / "k", "right")
    with pytest.raises(UsageError, match=r"wrong password \(COSIGN_PASSWORD\)"):
        load_signing_key(private, "wrong")
    with pytest.raises(UsageError, match=r"set COSIGN_PASSWORD"):
        load_signing_key(private, None)


def test_empty_password_is_a_password(tmp_path: Path) -> None:
    private, _ = generate_key_pair(tmp_path / "k", "")
    assert load_signing_key(private, "").sign(b"x")


def test_plain_pem_ec_keys_and_other_curves(tmp_path: Path) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    sec1 = tmp_path / "sec1.pem"
    sec1.write_bytes(
        p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert not is_encrypted(sec1)
    assert load_signing_key(sec1, None).public_pem == load_signing_key(sec1, "ignored").public_pem
    pkcs8 = tmp_path / "pkcs8.pem"
    pkcs8.write_bytes(
        p256.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    assert is_encrypted(pkcs8)
    assert load_signing_key(pkcs8, "pw").sign(b"x")
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(UsageError, match=r"not an ECDSA P-256 key"):
        load_signing_key(p384, None)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(UsageError, match=r"is not a PEM private key"):
        load_signing_key(tmp_path / "junk", None)
    with pytest.raises(UsageError, match=r"does not exist"):
        load_signing_key(tmp_path / "absent", None)
