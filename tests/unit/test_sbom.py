"""The build's CycloneDX SBOM: valid against the schema, complete, and byte-for-byte repeatable."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from pybin2img import __version__
from pybin2img.plan.dpkg import DebianPackage, Distro, SystemPackages, system_packages
from pybin2img.plan.sbom import (
    ImageSubject,
    PythonDistribution,
    SbomInput,
    compiler_version,
    python_distributions,
    sbom_document,
)
from tests.conftest import require

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"
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


def _facts(**changes: Any) -> SbomInput:
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


def _validate(document: bytes) -> dict[str, Any]:
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(document.decode())
    assert error is None, error
    parsed: dict[str, Any] = json.loads(document)
    return parsed


def _licenses(component: dict[str, Any]) -> list[dict[str, Any]] | None:
    """A component's licenses in a fixed order (the library sorts them its own way)."""
    found: list[dict[str, Any]] | None = component.get("licenses")
    return None if found is None else sorted(found, key=lambda x: json.dumps(x, sort_keys=True))


def _components(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in document["components"]}


def test_document_validates_and_names_everything() -> None:
    document = _validate(sbom_document(_facts()))

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
    first = sbom_document(_facts())
    assert sbom_document(_facts()) == first
    # Order of the inputs does not matter either.
    other = PythonDistribution(name="click", version="8.1.7", licenses=("BSD-3-Clause",))
    assert sbom_document(_facts(distributions=(FLASK, other))) == sbom_document(
        _facts(distributions=(other, FLASK))
    )


def test_serial_number_follows_the_content() -> None:
    def serial(facts: SbomInput) -> str:
        value: str = json.loads(sbom_document(facts))["serialNumber"]
        return value

    base = serial(_facts())
    assert base.startswith("urn:uuid:")
    assert serial(_facts(python_version="3.11.8")) != base
    assert serial(_facts(created=EPOCH + 1)) != base
    assert serial(_facts()) == base


def test_same_bytes_in_another_process() -> None:
    """No hash-ordered set leaks into the output: another hash seed, the same document."""
    script = (
        "import pickle, sys; from pybin2img.plan.sbom import sbom_document; "
        "sys.stdout.buffer.write(sbom_document(pickle.load(sys.stdin.buffer)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=pickle.dumps(_facts()),
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {sbom_document(_facts())}


def test_digest_gives_the_image_a_purl() -> None:
    digest = "sha256:" + "ab" * 32
    image = ImageSubject(name="registry.example.com/team/web", tag="1.4", digest=digest)
    document = _validate(sbom_document(_facts(image=image)))

    assert document["metadata"]["component"]["purl"] == (
        f"pkg:oci/web@sha256:{'ab' * 32}?repository_url=registry.example.com/team/web&tag=1.4"
    )


def test_files_no_package_owns_are_listed_as_files() -> None:
    system = SystemPackages(
        database="dpkg", distro=None, packages=(LIBFOO,), unowned=("/usr/local/lib/libmine.so",)
    )
    document = _validate(sbom_document(_facts(system=system)))

    (mine,) = [c for c in document["components"] if c["type"] == "file"]
    assert mine["name"] == "/usr/local/lib/libmine.so"
    # Without os-release the namespace is still Debian's, with no distro qualifier.
    assert any(
        c.get("purl", "").startswith("pkg:deb/debian/libfoo1@") and "distro=" not in c["purl"]
        for c in document["components"]
    )


def test_minimal_input_validates() -> None:
    _validate(
        sbom_document(
            _facts(
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
    document = _validate(sbom_document(_facts(distributions=(dist,))))

    assert _licenses(_components(document)["pkg:pypi/flask@3.1.3"]) == expected


def test_python_distributions_reads_metadata_with_the_given_interpreter() -> None:
    found = python_distributions(Path(sys.executable), ["Click", "PYELFTOOLS", "not-installed"])

    by_name = {d.name.lower(): d for d in found}
    assert sorted(by_name) == ["click", "pyelftools"]
    from importlib.metadata import version

    assert by_name["click"].version == version("click")
    assert by_name["click"].licenses  # declared in its metadata, in one form or another
    assert by_name["click"].summary


def test_compiler_version_is_the_first_line() -> None:
    require(shutil.which("gcc"), "gcc is not installed")
    line = compiler_version("gcc")
    assert line is not None
    assert line.startswith("gcc")
    assert "\n" not in line
    assert compiler_version("no-such-compiler-anywhere") is None


def test_real_build_inputs_list_python_and_libc6_at_dpkg_version() -> None:
    require(
        os.path.isfile("/var/lib/dpkg/status") and shutil.which("dpkg-query"),
        "this machine has no dpkg database",
    )
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True, check=True
    ).stdout
    system = system_packages([LIBC])
    dists = python_distributions(Path(sys.executable), ["click"])
    python = ".".join(str(n) for n in sys.version_info[:3])

    document = _validate(
        sbom_document(
            _facts(
                python_version=python,
                compiler=compiler_version(),
                distributions=(FLASK, *dists),
                system=system,
            )
        )
    )

    by_name = {c["name"]: c for c in document["components"]}
    assert by_name["libc6"]["version"] == version
    assert by_name["libc6"]["purl"].startswith("pkg:deb/debian/libc6@")
    assert "upstream=glibc" in by_name["libc6"]["purl"]
    assert by_name["python"]["version"] == python
    assert by_name["Flask"]["purl"] == "pkg:pypi/flask@3.1.3"
    assert "click" in by_name
