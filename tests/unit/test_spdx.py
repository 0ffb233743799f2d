"""The SPDX 2.3 SBOM (plan/spdx.py): valid, deterministic, parsed back by the SPDX project's own
tools."""

from __future__ import annotations

import json
from pathlib import Path

from spdx_tools.spdx.parser.json.json_parser import parse_from_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from pybin2img.plan.spdx import spdx_document
from tests.sbomfacts import owned_input, sbom_input


def test_spdx_document_is_valid_and_deterministic() -> None:
    facts = sbom_input()
    first = spdx_document(facts)
    assert first == spdx_document(facts)
    document = json.loads(first)
    assert document["spdxVersion"] == "SPDX-2.3"
    packages = {p["name"]: p for p in document["packages"]}
    assert packages["Flask"]["licenseDeclared"] == "BSD-3-Clause"
    refs = {r["referenceLocator"] for p in document["packages"] for r in p.get("externalRefs", [])}
    assert "pkg:pypi/flask@3.1.3" in refs
    assert any(ref.startswith("pkg:deb/debian/libfoo1@") for ref in refs)
    # Debian's short names are no SPDX expression: kept as a comment, not made up.
    assert packages["libfoo1"]["licenseDeclared"] == "NOASSERTION"
    kinds = {(r["relationshipType"], r["relatedSpdxElement"]) for r in document["relationships"]}
    assert ("DESCRIBES", "SPDXRef-Image") in kinds
    assert ("CONTAINS", "SPDXRef-Python") in kinds
    other = spdx_document(sbom_input(python_version="3.12.1"))
    assert json.loads(other)["documentNamespace"] != document["documentNamespace"]


def test_spdx_document_lists_every_file_under_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_document(owned_input()))
    assert validate_full_spdx_document(parse_from_file(str(path))) == []
    document = json.loads(path.read_text())
    files = {f["fileName"]: f for f in document["files"]}
    libssl = files["./app/libssl.so.3"]
    assert {c["algorithm"] for c in libssl["checksums"]} == {"SHA1", "SHA256"}
    assert libssl["comment"] == (
        "pybin2img:copy-of: /lib/x86_64-linux-gnu/libssl.so.3; pybin2img:match: same code"
    )
    packages = {p["SPDXID"]: p for p in document["packages"]}
    owner = {
        r["relatedSpdxElement"]: packages[r["spdxElementId"]]["name"]
        for r in document["relationships"]
        if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"].startswith("SPDXRef-F")
    }
    assert owner[libssl["SPDXID"]] == "libssl3"
    assert owner[files["./app/libpq-a17e3caa.so.5"]["SPDXID"]] == "psycopg2-binary"
    assert owner[files["./app/web"]["SPDXID"]] == "web"
    assert owner[files["./etc/passwd"]["SPDXID"]] == "pybin2img-generated"
    unclaimed = [p for p in document["packages"] if p["name"] == "/usr/local/lib/libmine.so"]
    assert unclaimed[0]["primaryPackagePurpose"] == "FILE"
    tools = {
        packages[r["spdxElementId"]]["name"]
        for r in document["relationships"]
        if r["relationshipType"] == "BUILD_TOOL_OF"
    }
    assert tools == {"pybin2img", "nuitka", "gcc", "patchelf", "strip"}


def test_spdx_document_parses_back(tmp_path: Path) -> None:
    path = tmp_path / "sbom.spdx.json"
    path.write_bytes(spdx_document(sbom_input()))
    assert validate_full_spdx_document(parse_from_file(str(path))) == []
