"""SBOM inputs for tests, and the CycloneDX schema check every document must pass."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pybin2img.plan.dpkg import DebianPackage, Distro, SystemPackages
from pybin2img.plan.sbom import ImageSubject, PythonDistribution, SbomInput

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
