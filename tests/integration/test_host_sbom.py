"""The SBOM's inputs as this machine gives them (gcc, the dpkg database, the interpreter's
distribution metadata), and the document's bytes in another process."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pybin2img.dpkg import system_packages
from pybin2img.plan.sbom import compiler_version, python_distributions, sbom_document
from tests.conftest import require
from tests.sbomfacts import FLASK, sbom_input, validate

pytestmark = pytest.mark.integration

LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def test_same_bytes_in_another_process() -> None:
    """No hash-ordered set leaks into the output: another hash seed, the same document."""
    script = (
        "import pickle, sys; from pybin2img.plan.sbom import sbom_document; "
        "sys.stdout.buffer.write(sbom_document(pickle.load(sys.stdin.buffer)))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            input=pickle.dumps(sbom_input()),
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {sbom_document(sbom_input())}


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

    document = validate(
        sbom_document(
            sbom_input(
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


def test_the_toolchain_is_probed_with_its_debian_packages() -> None:
    from pybin2img.toolchain import probe_toolchain, program_versions

    require(
        all(shutil.which(p) for p in ("gcc", "patchelf", "strip", "dpkg-query"))
        and os.path.isfile("/var/lib/dpkg/status"),
        "gcc, patchelf, strip or dpkg is missing",
    )
    toolchain = probe_toolchain("3.11.7", "4.3.5")

    assert toolchain.compiler is not None
    assert toolchain.compiler.name == "gcc"
    full = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True).stdout
    assert toolchain.compiler.version == full.strip()
    assert (toolchain.compiler.purl or "").startswith("pkg:deb/debian/gcc-")
    assert toolchain.patchelf is not None
    assert toolchain.strip is not None
    assert (toolchain.patchelf.purl or "").startswith("pkg:deb/debian/patchelf@")
    assert (toolchain.strip.purl or "").startswith("pkg:deb/debian/binutils")
    assert [name for name, _ in program_versions()] == ["cc", "patchelf", "strip"]
    assert dict(program_versions())["cc"] == toolchain.compiler.description
