"""The build's CycloneDX SBOM: valid against the schema, complete, and byte-for-byte repeatable.

The inputs read from this machine (gcc, dpkg, the interpreter's metadata) and the check in another
process are in tests/integration/test_host_sbom.py.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from pybin2img import __version__
from pybin2img.dpkg import SystemPackages
from pybin2img.oci.inspection import sbom_claims
from pybin2img.plan.sbom import ImageSubject, PythonDistribution, SbomInput, sbom_document
from tests.sbomfacts import (
    EPOCH,
    FLASK,
    LIBFOO,
    OWNERS,
    owned_input,
    sbom_input,
    sha256_of,
    validate,
)


def _licenses(component: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A component's licenses in a fixed order (the library sorts them its own way)."""
    found: list[dict[str, Any]] | None = component.get("licenses")
    return None if found is None else sorted(found, key=lambda x: json.dumps(x, sort_keys=True))


def _components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in document["components"]}


def test_document_validates_and_names_everything() -> None:
    document = validate(sbom_document(sbom_input()))

    assert (document["bomFormat"], document["specVersion"]) == ("CycloneDX", "1.6")
    assert document["metadata"]["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert document["metadata"]["component"]["name"] == "registry.example.com/team/web"
    assert document["metadata"]["component"]["version"] == "1.4"
    components = _components(document)
    flask = components["pkg:pypi/flask@3.1.3"]
    assert flask["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    assert flask["evidence"]["occurrences"] == [{"location": "/app/web"}]
    python = components["pkg:generic/python@3.11.7"]
    assert python["version"] == "3.11.7"
    assert python["cpe"] == "cpe:2.3:a:python:python:3.11.7:*:*:*:*:*:*:*"
    foo = components[
        "pkg:deb/debian/libfoo1@1:1.2-1%2Bb1?arch=amd64&distro=debian-12&upstream=foo%401.2-1"
    ]
    assert foo["version"] == "1:1.2-1+b1"
    assert foo["evidence"]["occurrences"] == [{"location": "/usr/lib/x86_64-linux-gnu/libfoo.so.1"}]
    # An SPDX id where the short name is one (LGPL-2.1+ is SPDX's deprecated spelling), else a
    # name: never an expression beside licenses, which CycloneDX forbids.
    assert _licenses(foo) == [
        {"license": {"id": "LGPL-2.1+"}},
        {"license": {"id": "Zlib"}},
        {"license": {"name": "GPL-3+ with GCC-exception"}},
    ]
    tools = {t["name"]: t.get("version") for t in document["metadata"]["tools"]["components"]}
    assert tools == {"pybin2img": __version__, "nuitka": "4.3.3", "gcc": "12.2.0"}
    (root,) = [d for d in document["dependencies"] if d["ref"] == "image"]
    assert len(root["dependsOn"]) == len(components)


def test_identical_inputs_give_identical_bytes() -> None:
    first = sbom_document(sbom_input())
    assert sbom_document(sbom_input()) == first
    # Order of the inputs does not matter either.
    other = PythonDistribution(name="click", version="8.1.7", licenses=("BSD-3-Clause",))
    assert sbom_document(sbom_input(distributions=(FLASK, other))) == sbom_document(
        sbom_input(distributions=(other, FLASK))
    )


def test_serial_number_follows_the_content() -> None:
    def serial(facts: SbomInput) -> str:
        value: str = json.loads(sbom_document(facts))["serialNumber"]
        return value

    base = serial(sbom_input())
    assert base.startswith("urn:uuid:")
    assert serial(sbom_input(python_version="3.11.8")) != base
    assert serial(sbom_input(created=EPOCH + 1)) != base
    assert serial(sbom_input()) == base


def test_digest_gives_the_image_a_purl() -> None:
    digest = "sha256:" + "ab" * 32
    image = ImageSubject(name="registry.example.com/team/web", tag="1.4", digest=digest)
    document = validate(sbom_document(sbom_input(image=image)))

    assert document["metadata"]["component"]["purl"] == (
        f"pkg:oci/web@sha256:{'ab' * 32}?repository_url=registry.example.com/team/web&tag=1.4"
    )


def test_files_no_package_owns_are_listed_as_files() -> None:
    system = SystemPackages(
        database="dpkg", distro=None, packages=(LIBFOO,), unowned=("/usr/local/lib/libmine.so",)
    )
    document = validate(sbom_document(sbom_input(system=system)))

    (mine,) = [c for c in document["components"] if c["type"] == "file"]
    assert mine["name"] == "/usr/local/lib/libmine.so"
    # Without os-release the namespace is still Debian's, with no distro qualifier.
    assert any(
        c.get("purl", "").startswith("pkg:deb/debian/libfoo1@") and "distro=" not in c["purl"]
        for c in document["components"]
    )


def test_minimal_input_validates() -> None:
    validate(
        sbom_document(
            sbom_input(
                image=ImageSubject(name="web"),
                compiler=None,
                distributions=(),
                system=None,
                binary=None,
            )
        )
    )


@pytest.mark.parametrize(
    ("licenses", "expected"),
    [
        (("MIT OR Apache-2.0",), [{"expression": "MIT OR Apache-2.0"}]),
        (("Apache-2.0",), [{"license": {"id": "Apache-2.0"}}]),
        (
            ("BSD License", "MIT"),
            [{"license": {"id": "MIT"}}, {"license": {"name": "BSD License"}}],
        ),
        ((), None),
    ],
)
def test_license_forms(licenses: tuple[str, ...], expected: list[dict[str, Any]] | None) -> None:
    dist = replace(FLASK, licenses=licenses)
    document = validate(sbom_document(sbom_input(distributions=(dist,))))

    assert _licenses(_components(document)["pkg:pypi/flask@3.1.3"]) == expected


# --- every file under its owner -------------------------------------------------------------


def _nested(component: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in component.get("components", [])}


def _properties(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def test_every_file_is_listed_under_its_owner_with_its_hash() -> None:
    document = validate(sbom_document(owned_input()))
    by_name = {c["name"]: c for c in document["components"]}

    libssl = _nested(by_name["libssl3"])["/app/libssl.so.3"]
    assert libssl["type"] == "file"
    assert libssl["hashes"] == [{"alg": "SHA-256", "content": sha256_of("/app/libssl.so.3")}]
    assert _properties(libssl) == {
        "pybin2img:copy-of": "/lib/x86_64-linux-gnu/libssl.so.3",
        "pybin2img:match": "same code",
    }
    assert by_name["libssl3"]["evidence"]["occurrences"] == [{"location": "/app/libssl.so.3"}]
    # A wheel's bundled library is a library under its distribution.
    psycopg2 = _nested(by_name["psycopg2-binary"])
    libpq = psycopg2["libpq-a17e3caa.so.5"]
    assert libpq["type"] == "library"
    assert libpq["evidence"]["occurrences"] == [{"location": "/app/libpq-a17e3caa.so.5"}]
    assert psycopg2["/app/psycopg2/_psycopg.so"]["type"] == "file"
    assert set(_nested(by_name["python"])) == {"/app/_ssl.so"}
    assert set(_nested(by_name["web"])) == {"/app/web", "/app/settings.toml"}
    generated = by_name["pybin2img-generated"]
    assert set(_nested(generated)) == {"/etc/passwd"}
    assert {"location": "/usr/share/pybin2img/sbom.cdx.json"} in (
        generated["evidence"]["occurrences"]
    )
    mine = by_name["/usr/local/lib/libmine.so"]
    assert mine["type"] == "file"
    assert mine["description"] == "claimed by no component: no installed package owns it"
    # The app is made of CPython and the distributions compiled in.
    (app,) = [d for d in document["dependencies"] if d["ref"] == "app"]
    assert set(app["dependsOn"]) == {
        "pkg:generic/python@3.11.7",
        "pkg:pypi/flask@3.1.3",
        "pkg:pypi/psycopg2-binary@2.9.13",
    }


def test_a_package_owning_no_file_of_the_image_is_left_out() -> None:
    document = validate(sbom_document(owned_input(owners=replace(OWNERS, debian={}))))
    assert not [c for c in document["components"] if c.get("purl", "").startswith("pkg:deb/")]


def test_the_tools_are_the_toolchain() -> None:
    document = validate(sbom_document(owned_input()))
    tools = {t["name"]: t for t in document["metadata"]["tools"]["components"]}
    assert set(tools) == {"pybin2img", "nuitka", "gcc", "patchelf", "strip"}
    assert tools["gcc"]["version"] == "12.2.0"
    assert tools["gcc"]["purl"].startswith("pkg:deb/debian/gcc-12@12.2.0-14")
    assert tools["nuitka"]["purl"] == "pkg:pypi/nuitka@4.3.5"
    assert tools["strip"]["description"] == "GNU strip (GNU Binutils) 2.40"


def test_inspect_reads_the_claims_back() -> None:
    claimed, listed, hashes = sbom_claims(json.loads(sbom_document(owned_input())))
    owned = {f.path for f in [*OWNERS.python, *OWNERS.app, *OWNERS.generated]}
    owned |= {f.path for files in [*OWNERS.debian.values(), *OWNERS.pypi.values()] for f in files}
    assert owned | {"/usr/share/pybin2img/sbom.cdx.json", "/app/web"} <= claimed
    assert "/usr/local/lib/libmine.so" not in claimed
    assert listed == {"/usr/local/lib/libmine.so": "no installed package owns it"}
    assert hashes["/app/libpq-a17e3caa.so.5"] == sha256_of("/app/libpq-a17e3caa.so.5")
    assert hashes["/usr/local/lib/libmine.so"] == sha256_of("/usr/local/lib/libmine.so")


def test_each_compiled_distribution_gets_core_metadata_where_scanners_look() -> None:
    """syft (and so grype) find Python packages only by ``*.dist-info/METADATA`` files, trivy by
    those or the SBOM: each distribution compiled into the binary gets one, with what their
    parsers need (plan/packages.py)."""
    from pybin2img.plan.installation import PythonDistribution
    from pybin2img.plan.packages import python_records

    records = python_records(
        [
            PythonDistribution(name="zope.interface", version="7.2", licenses=("ZPL-2.1",)),
            PythonDistribution(name="Humanize", version="4.8.0", licenses=("MIT",)),
            PythonDistribution(name="odd", version="1.0\nName: other"),
        ]
    )
    assert records == [
        (
            "usr/share/pybin2img/python/humanize-4.8.0.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: Humanize\nVersion: 4.8.0\nLicense: MIT\n",
        ),
        (
            "usr/share/pybin2img/python/zope_interface-7.2.dist-info/METADATA",
            b"Metadata-Version: 2.1\nName: zope.interface\nVersion: 7.2\nLicense: ZPL-2.1\n",
        ),
    ]
