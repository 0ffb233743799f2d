"""Signing keys in cosign's formats: ``generate_key_pair`` and ``load_signing_key``.

cosign (and containers/image, which skopeo and podman verify with) keep an ECDSA P-256 private
key as PEM ``ENCRYPTED COSIGN PRIVATE KEY``: a JSON document from secure-systems-lab's
``encrypted`` package (scrypt N=32768, r=8, p=1 derives a key from the password; NaCl's
secretbox seals the key's PKCS#8 DER), and the public key as PEM ``PUBLIC KEY``
(SubjectPublicKeyInfo). The password comes from ``COSIGN_PASSWORD``, as with cosign; an empty
one is allowed. Plain PEM EC P-256 private keys (``EC PRIVATE KEY``, ``PRIVATE KEY``,
``ENCRYPTED PRIVATE KEY``) are accepted for signing too.

The cryptography is the ``cryptography`` package's (scrypt, ECDSA, PEM/DER) and PyNaCl's
(secretbox, which ``cryptography`` lacks); this module only arranges their inputs and outputs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ..errors import ImageWriteError, UsageError

#: The PEM type cosign writes (and the one containers/image 5.23, Debian 12's, accepts).
COSIGN_PRIVATE_KEY = "ENCRYPTED COSIGN PRIVATE KEY"
#: What newer cosign releases write; the same content.
SIGSTORE_PRIVATE_KEY = "ENCRYPTED SIGSTORE PRIVATE KEY"
#: secure-systems-lab's defaults, which cosign uses: about 100 ms of work.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
#: Beyond this a key file asks for more memory than any cosign key does.
_MAX_SCRYPT_N = 1 << 20
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)


@dataclass(frozen=True)
class SigningKey:
    """An ECDSA P-256 private key, ready to sign."""

    #: The private key; not in ``repr()``.
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    #: Where it was read from, for messages.
    source: str

    def sign(self, payload: bytes) -> bytes:
        """ECDSA P-256 over SHA-256 of ``payload``, DER-encoded (what cosign writes)."""
        return self.key.sign(payload, ec.ECDSA(hashes.SHA256()))

    def verifies(self, payload: bytes, signature: bytes) -> bool:
        """Whether ``signature`` over ``payload`` was made by this key."""
        try:
            self.key.public_key().verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True

    @property
    def public_pem(self) -> bytes:
        return public_pem(self.key)


def public_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public half as PEM ``PUBLIC KEY``, as ``cosign.pub`` holds it."""
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def generate_key_pair(prefix: Path, password: str) -> tuple[Path, Path]:
    """Write ``PREFIX.key`` (encrypted with ``password``) and ``PREFIX.pub``; refuse to
    overwrite either. Returns both paths."""
    private_path = prefix.with_name(prefix.name + ".key")
    public_path = prefix.with_name(prefix.name + ".pub")
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists; remove it or choose another PREFIX")
    key = ec.generate_private_key(ec.SECP256R1())
    encrypted = encrypt_private_key(key, password)
    written: list[Path] = []
    try:
        for path, data, mode in (
            (private_path, encrypted, 0o600),
            (public_path, public_pem(key), 0o644),
        ):
            _write_new(path, data, mode)
            written.append(path)
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise ImageWriteError(f"cannot write {exc.filename}: {exc.strerror}") from exc
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: never replace a key that appeared since the check.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError:
        path.unlink(missing_ok=True)
        raise


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, password: str) -> bytes:
    """``key`` as PEM ``ENCRYPTED COSIGN PRIVATE KEY`` (scrypt + secretbox over PKCS#8 DER)."""
    from nacl.secret import SecretBox

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = secrets.token_bytes(32)
    nonce = secrets.token_bytes(SecretBox.NONCE_SIZE)
    box_key = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    sealed = SecretBox(box_key).encrypt(der, nonce).ciphertext
    # Field order and base64 as Go's encoding/json writes secure-systems-lab's structs.
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": _b64(salt),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": _b64(nonce)},
        "ciphertext": _b64(sealed),
    }
    body = json.dumps(document, separators=(",", ":")).encode()
    return _pem(COSIGN_PRIVATE_KEY, body)


def load_signing_key(path: Path, password: str | None) -> SigningKey:
    """Read a cosign key (``ENCRYPTED COSIGN|SIGSTORE PRIVATE KEY``) or a PEM EC P-256 private
    key. ``password`` decrypts it (``None``: none given). Every problem is a
    :class:`UsageError` that names the file and what to do."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"signing key {path} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read signing key {path}: {exc.strerror}") from exc
    found = _PEM.search(data)
    if found is None:
        raise UsageError(f"{path} is not a PEM private key (cosign's or EC P-256)")
    kind = found.group(1).decode()
    if kind in (COSIGN_PRIVATE_KEY, SIGSTORE_PRIVATE_KEY):
        if password is None:
            raise UsageError(
                f"{path} is encrypted: set COSIGN_PASSWORD to its password (empty for none)"
            )
        try:
            body = base64.b64decode(b"".join(found.group(2).split()), validate=True)
        except binascii.Error as exc:
            raise UsageError(f"{path}: the {kind} block is not base64") from exc
        der = decrypt_private_key(body, password, str(path))
        key: Any = _load(lambda: serialization.load_der_private_key(der, None), path)
    else:
        encrypted = kind == "ENCRYPTED PRIVATE KEY" or b"Proc-Type: 4,ENCRYPTED" in data
        if encrypted and password is None:
            raise UsageError(f"{path} is encrypted: set COSIGN_PASSWORD to its password")
        secret = password.encode() if encrypted and password is not None else None
        key = _load(lambda: serialization.load_pem_private_key(data, secret), path)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise UsageError(
            f"{path} is not an ECDSA P-256 key; cosign signatures that skopeo and podman "
            "verify need one (pybin2img generate-key makes it)"
        )
    return SigningKey(key=key, source=str(path))


def is_encrypted(path: Path) -> bool:
    """Whether the key at ``path`` needs a password (``False`` when it cannot be read: the
    load that follows says why)."""
    try:
        data = path.read_bytes()
    except OSError:
        return False
    found = _PEM.search(data)
    kind = found.group(1).decode() if found else ""
    return "ENCRYPTED" in kind or b"Proc-Type: 4,ENCRYPTED" in data


def decrypt_private_key(body: bytes, password: str, what: str) -> bytes:
    """The PKCS#8 DER sealed in a cosign key's JSON ``body``."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    try:
        document = json.loads(body)
        kdf, cipher = document["kdf"], document["cipher"]
        params = kdf["params"]
        n, r, p = int(params["N"]), int(params["r"]), int(params["p"])
        salt = base64.b64decode(kdf["salt"], validate=True)
        nonce = base64.b64decode(cipher["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise UsageError(f"{what} is not a cosign key (unreadable encryption header)") from exc
    if kdf.get("name") != "scrypt" or cipher.get("name") != "nacl/secretbox":
        raise UsageError(
            f"{what}: unsupported key encryption {kdf.get('name')!r}/{cipher.get('name')!r}"
        )
    if not (1 < n <= _MAX_SCRYPT_N and n & (n - 1) == 0 and 0 < r <= 32 and 0 < p <= 16):
        raise UsageError(f"{what}: scrypt parameters N={n} r={r} p={p} are out of range")
    if len(nonce) != SecretBox.NONCE_SIZE:
        raise UsageError(f"{what}: the secretbox nonce is {len(nonce)} bytes, not 24")
    try:
        return bytes(SecretBox(_scrypt(password, salt, n, r, p)).decrypt(sealed, nonce))
    except CryptoError as exc:
        raise UsageError(
            f"cannot decrypt {what}: wrong password (COSIGN_PASSWORD) or a damaged key"
        ) from exc


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode())


def _load(load: Any, path: Path) -> Any:
    try:
        return load()
    except TypeError as exc:  # a password where none is needed, or the reverse
        raise UsageError(f"cannot read {path}: {exc}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(
            f"cannot read private key {path}: wrong password (COSIGN_PASSWORD) or not a "
            "supported key"
        ) from exc


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _pem(kind: str, body: bytes) -> bytes:
    text = base64.b64encode(body).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n").encode()
