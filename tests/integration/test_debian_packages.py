"""Apps built with Debian's own python3 and the Python packages apt installs beside it
(python3-cryptography, python3-yaml: ci/install-system-packages.sh), which its build
environment sees: the image must run as /usr/bin/python3 runs the source."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.conftest import ROOT, RUN_ID, docker, pybin2img

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = Path("/usr/bin/python3")
APP = ROOT / "tests" / "apps" / "debian" / "debian.py"


def test_debians_cryptography_and_yaml(docker_engine: Any, build_dir: Path) -> None:
    require(SYSTEM_PYTHON.is_file(), f"{SYSTEM_PYTHON} is missing")
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", "import cryptography, yaml, _cffi_backend"],
        capture_output=True,
        text=True,
        check=False,
    )
    require(
        found.returncode == 0, f"Debian's python3-cryptography and python3-yaml: {found.stderr}"
    )
    reference = f"pybin2img-test/debian-packages:{RUN_ID}"
    proc = pybin2img(
        "build",
        str(APP),
        "--python",
        str(SYSTEM_PYTHON),
        "-t",
        reference,
        "-o",
        str(build_dir / "debian-packages.tar"),
        "--compare",
        "-v",
        check=False,
    )
    docker("rmi", "-f", reference, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "same exit code (0) and stdout (3 lines)" in proc.stderr
    # the provider modules the build machine's libcrypto loads by name ship with it
    assert "/ossl-modules/legacy.so  (dlopen, needed by " in proc.stderr


GI_APP = ROOT / "tests" / "apps" / "gi" / "gtk_optional.py"


def _typelibs(name: str) -> list[Path]:
    return sorted(Path("/usr/lib").glob(f"*/girepository-1.0/{name}-*.typelib"))


def test_gobject_introspection_with_debians_pygobject(docker_engine: Any, build_dir: Path) -> None:
    """tests/apps/gi with Debian's python3-gi: GLib, GObject and Gio, and Gtk where there is
    one. Nuitka's gi plugin stops a build over a namespace the machine cannot load (Gtk's
    typelib, not on a server; GLibUnix, which GLib has only from 2.80 on: Debian 12 has 2.74),
    so pybin2img leaves the namespaces to PyGObject in the program, from the typelibs it ships:
    the image runs as /usr/bin/python3 does (--compare)."""
    require(SYSTEM_PYTHON.is_file(), f"{SYSTEM_PYTHON} is missing")
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", "from gi.repository import GLib, GObject, Gio"],
        capture_output=True,
        text=True,
        check=False,
    )
    require(found.returncode == 0, f"Debian's python3-gi: {found.stderr}")
    reference = f"pybin2img-test/debian-gi:{RUN_ID}"
    metadata_file = build_dir / "debian-gi.json"
    proc = pybin2img(
        "build",
        str(GI_APP),
        "--python",
        str(SYSTEM_PYTHON),
        "-t",
        reference,
        "-o",
        str(build_dir / "debian-gi.tar"),
        "--compare",
        "--metadata-file",
        str(metadata_file),
        check=False,
    )
    docker("rmi", "-f", reference, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "same exit code (0) and stdout (7 lines)" in proc.stderr
    introspection = json.loads(metadata_file.read_text())["named_modules"]["introspection"]
    handled = {n["namespace"]: n["handled"] for n in introspection["namespaces"]}
    stops = introspection["stops"]
    assert ("Gtk (no typelib)" in stops) == (not _typelibs("Gtk"))
    assert ("GLibUnix for GLib" in stops) == (not _typelibs("GLibUnix"))
    assert introspection["by"] == ("pybin2img" if stops else "nuitka")
    expected = "shipped" if stops else "nuitka"
    assert {handled["GLib"], handled["GObject"], handled["Gio"]} == {expected}
