"""ssl, sqlite3, lzma, ctypes and psycopg2-binary: libraries Nuitka copies from the build
machine's Debian packages (libssl3, libsqlite3-0, liblzma5, libffi8) and from a wheel
(psycopg2-binary's libpq and friends). Prints what each one says it is, as JSON."""

import ctypes
import json
import lzma
import sqlite3
import ssl

import psycopg2

print(
    json.dumps(
        {
            "openssl": ssl.OPENSSL_VERSION,
            "sqlite": sqlite3.sqlite_version,
            "lzma": lzma.decompress(lzma.compress(b"owners")).decode(),
            "ctypes": ctypes.sizeof(ctypes.c_void_p),
            "libpq": psycopg2.__libpq_version__,
        },
        sort_keys=True,
    )
)
