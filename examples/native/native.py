"""Third-party extension modules from wheels, as pip installs them.

psycopg2-binary: the C extension and the libraries its wheel bundles (libpq, OpenSSL, … renamed
by auditwheel in psycopg2_binary.libs, found through an $ORIGIN RPATH); msgpack: its C packer;
PyYAML: its libyaml parser and emitter. Everything printed is the same on every machine.
"""

from __future__ import annotations

import sys

import msgpack
import psycopg2
import psycopg2.extensions
import yaml

DATA = {"name": "pybin2img", "sizes": [1, 2, 3], "nested": {"ok": True, "pi": 3.25}}


def main() -> int:
    print(f"python: {sys.version_info.major}.{sys.version_info.minor}")
    packed = msgpack.packb(DATA)
    print(
        f"msgpack: {len(packed)} bytes, round trip {msgpack.unpackb(packed) == DATA}, "
        f"packer {msgpack.Packer.__module__}"
    )
    text = yaml.dump(DATA, Dumper=yaml.CSafeDumper, sort_keys=True)
    print(f"yaml: libyaml {yaml.__with_libyaml__}, {text.strip().replace(chr(10), ' | ')}")
    print(f"yaml: parsed back {yaml.load(text, Loader=yaml.CSafeLoader) == DATA}")
    print(f"libpq: {psycopg2.extensions.libpq_version()}")
    try:
        psycopg2.connect("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=3")
    except psycopg2.OperationalError as exc:
        print(f"libpq connect: {'refused' if 'refused' in str(exc) else exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
