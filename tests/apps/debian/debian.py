"""An app of the Python packages Debian installs with apt (python3-cryptography, python3-yaml),
built with Debian's /usr/bin/python3, which sees them: Debian 12's cryptography (38) calls
OpenSSL through a cffi-generated module, which imports ``_cffi_backend`` from C (Debian's
python3-cffi-backend installs that file alone, without metadata), and loads OpenSSL's legacy
provider from the build machine's ossl-modules at import.
tests/integration/test_debian_packages.py compares the image with the interpreter."""

import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519

key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32))
print("ed25519", key.sign(b"message").hex()[:32])
digest = hashes.Hash(hashes.SHA256())
digest.update(b"abc")
print("sha256", digest.finalize().hex()[:32])
print("yaml", yaml.__with_libyaml__, yaml.safe_load("a: [1, 2]"))
