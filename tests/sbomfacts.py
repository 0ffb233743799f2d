"""SBOM inputs for tests, and the CycloneDX schema check every document must pass."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pybin2img.dpkg import DebianPackage, Distro, SystemPackages
from pybin2img.plan.owners import IDENTICAL, SAME_CODE, FileOwners, ImageFile
from pybin2img.plan.sbom import ImageSubject, PythonDistribution, SbomInput
from pybin2img.toolchain import Tool, Toolchain

EPOCH = 1_700_000_000
FLASK = PythonDistribution(
    name="Flask",
    version="3.1.3",
    licenses=("BSD-3-Clause",),
    summary="A simple framework for building complex web applications.",
    homepage="https://flask.palletsprojects.com/",
)
LIBFOO = DebianPackage(
    name="libfoo1",
    version="1:1.2-1+b1",
    architecture="amd64",
    source="foo",
    source_version="1.2-1",
    status="install ok installed",
    # Debian's short names are mostly not SPDX ids; the prose one is not even a name.
    licenses=("GPL-3+ with GCC-exception", "LGPL-2.1+", "Zlib"),
    files=("/usr/lib/x86_64-linux-gnu/libfoo.so.1",),
    recorded_files=("/lib/x86_64-linux-gnu/libfoo.so.1",),
    control="Package: libfoo1\nVersion: 1:1.2-1+b1\n",
)


def sbom_input(**changes: Any) -> SbomInput:
    """A full SBOM input (image, Python, Nuitka, gcc, Flask, a Debian package), with changes."""
    facts = SbomInput(
        image=ImageSubject(name="registry.example.com/team/web", tag="1.4"),
        created=EPOCH,
        python_version="3.11.7",
        nuitka_version="4.3.3",
        compiler="gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
        distributions=(FLASK,),
        system=SystemPackages(
            database="dpkg",
            distro=Distro(id="debian", version_id="12"),
            packages=(LIBFOO,),
            unowned=(),
        ),
        binary="/app/web",
    )
    return replace(facts, **changes)


def validate(document: bytes) -> dict[str, Any]:
    """The document, parsed, once it validated against the CycloneDX 1.6 JSON schema."""
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document.decode())
    assert error is None, error
    parsed: dict[str, Any] = json.loads(document)
    return parsed


LIBSSL3 = DebianPackage(
    name="libssl3",
    version="3.0.19-1~deb12u2",
    architecture="amd64",
    source="openssl",
    status="install ok installed",
    files=("/lib/x86_64-linux-gnu/libssl.so.3",),
    recorded_files=("/lib/x86_64-linux-gnu/libssl.so.3",),
    paths=(("/lib/x86_64-linux-gnu/libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"),),
    control="Package: libssl3\nVersion: 3.0.19-1~deb12u2\n",
)
PSYCOPG2 = PythonDistribution(name="psycopg2-binary", version="2.9.13", licenses=("LGPL",))
TOOLCHAIN = Toolchain(
    python="3.11.7",
    nuitka=Tool(name="nuitka", version="4.3.5", purl="pkg:pypi/nuitka@4.3.5"),
    compiler=Tool(
        name="gcc",
        version="12.2.0",
        description="gcc (Debian 12.2.0-14+deb12u1) 12.2.0",
        purl="pkg:deb/debian/gcc-12@12.2.0-14%2Bdeb12u1?arch=amd64&distro=debian-12",
    ),
    patchelf=Tool(name="patchelf", version="0.14.3", description="patchelf 0.14.3"),
    strip=Tool(name="strip", version="2.40", description="GNU strip (GNU Binutils) 2.40"),
)


def sha256_of(path: str) -> str:
    """The made-up SHA-256 of the file at ``path`` in :data:`OWNERS`."""
    return hashlib.sha256(path.encode()).hexdigest()


def _file(path: str, **fields: Any) -> ImageFile:
    sha1 = hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()
    return ImageFile(path=path, size=1, sha256=sha256_of(path), sha1=sha1, **fields)


OWNERS = FileOwners(
    debian={
        LIBFOO.key: (_file("/usr/lib/x86_64-linux-gnu/libfoo.so.1"),),
        LIBSSL3.key: (
            _file(
                "/app/libssl.so.3",
                copy_of="/lib/x86_64-linux-gnu/libssl.so.3",
                match=SAME_CODE,
            ),
        ),
    },
    pypi={
        "psycopg2-binary": (
            _file(
                "/app/libpq-a17e3caa.so.5",
                copy_of="psycopg2_binary.libs/libpq-a17e3caa.so.5",
                match=SAME_CODE,
                bundled=True,
            ),
            _file("/app/psycopg2/_psycopg.so", copy_of="psycopg2/_psycopg.so", match=SAME_CODE),
        ),
        "flask": (_file("/app/flask/py.typed", copy_of="flask/py.typed", match=IDENTICAL),),
    },
    python=(_file("/app/_ssl.so", copy_of="lib/python3.11/lib-dynload/_ssl.so", match=SAME_CODE),),
    app=(_file("/app/web"), _file("/app/settings.toml")),
    generated=(_file("/etc/passwd"),),
    unclaimed=(_file("/usr/local/lib/libmine.so", reason="no installed package owns it"),),
)


def owned_input(**changes: Any) -> SbomInput:
    """A build's SBOM input with every file of its image by owner, and its toolchain."""
    facts: dict[str, Any] = {
        "toolchain": TOOLCHAIN,
        "distributions": (FLASK, PSYCOPG2),
        "compiled": frozenset({"flask", "psycopg2-binary"}),
        "system": SystemPackages(
            database="dpkg",
            distro=Distro(id="debian", version_id="12"),
            packages=(LIBFOO, LIBSSL3),
            unowned=(),
        ),
        "owners": OWNERS,
    }
    return sbom_input(**{**facts, **changes})
