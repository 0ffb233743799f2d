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


def test_gobject_introspection_with_debians_pygobject(docker_engine: Any, build_dir: Path) -> None:
    """tests/apps/gi with Debian's python3-gi: GLib, GObject and Gio, and Gtk where there is
    one. Nuitka's gi plugin stopped this build on Debian 12 (it asks for GLibUnix, which GLib
    has only from 2.80 on, and for Gtk's typelib, not on a server); PyGObject makes the
    namespaces in the program from the typelibs pybin2img ships, and the image runs as
    /usr/bin/python3 does (--compare)."""
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
    assert "warning" not in proc.stderr, proc.stderr
    introspection = json.loads(metadata_file.read_text())["named_modules"]["introspection"]
    handled = {n["namespace"]: n["handled"] for n in introspection["namespaces"]}
    # Gtk's typelib is not on a server; where it is, it ships like the others
    has_gtk = any(Path("/usr/lib").glob("*/girepository-1.0/Gtk-3.0.typelib"))
    assert handled.pop("Gtk") == ("shipped" if has_gtk else "absent")
    assert {"GLib", "GObject", "Gio"} <= set(handled)
    assert set(handled.values()) == {"shipped"}
