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
GEO_APP = ROOT / "tests" / "apps" / "debian" / "geo.py"
SHAPES_APP = ROOT / "tests" / "apps" / "debian" / "shapes.py"


def _system_has(*modules: str) -> None:
    require(SYSTEM_PYTHON.is_file(), f"{SYSTEM_PYTHON} is missing")
    found = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", f"import {', '.join(modules)}"],
        capture_output=True,
        text=True,
        check=False,
    )
    require(found.returncode == 0, f"Debian's packages of {', '.join(modules)}: {found.stderr}")


def test_a_system_librarys_data_from_its_own_source(docker_engine: Any, build_dir: Path) -> None:
    """Debian's python3-pyproj calls libproj, whose database is in proj-data, a data-only
    package of its source: the image has it (the transformations failed, the build exited
    0); /etc/timezone, which Debian's tzlocal reads first; and python3-netaddr's index beside
    its code, which no RECORD lists (FileNotFoundError before) (--compare)."""
    _system_has("pyproj", "tzlocal", "netaddr")
    reference = f"pybin2img-test/debian-geo:{RUN_ID}"
    proc = pybin2img(
        "build",
        str(GEO_APP),
        "--python",
        str(SYSTEM_PYTHON),
        "-t",
        reference,
        "-o",
        str(build_dir / "debian-geo.tar"),
        "--compare",
        "-v",
        check=False,
    )
    docker("rmi", "-f", reference, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "same exit code (0) and stdout (3 lines)" in proc.stderr
    assert "data of a library: /usr/share/proj/proj.db (proj-data)" in proc.stderr
    assert "package data: netaddr (netaddr)" in proc.stderr


def test_a_library_nuitka_cannot_place_says_what_works(tmp_path: Path) -> None:
    """Debian 12's python3-shapely 1.8 loads the system's GEOS by its soname; Nuitka's
    configuration for shapely < 2 takes that name for a path and its DLL plugin stops: one
    line says why and what works, exit code 4, nothing written. Debian 13's Shapely 2 has no
    such configuration: its image runs as the interpreter does (--compare)."""
    _system_has("shapely")
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", "import shapely; print(shapely.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    out = tmp_path / "shapes.tar"
    reference = f"pybin2img-test/debian-shapes:{RUN_ID}"
    proc = pybin2img(
        "build",
        str(SHAPES_APP),
        "--python",
        str(SYSTEM_PYTHON),
        "-t",
        reference,
        "-o",
        str(out),
        "--compare",
        check=False,
    )
    docker("rmi", "-f", reference, check=False)
    if not version.startswith("1."):
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "same exit code (0) and stdout (1 lines)" in proc.stderr
        return
    assert proc.returncode == 4, proc.stderr[-3000:]
    error = next(line for line in proc.stderr.splitlines() if line.startswith("pybin2img: error"))
    assert (
        "Nuitka's configuration for shapely.geos names the library libgeos_c.so.1 by its bare "
        "name" in error
    ), error
    assert "build with shapely from PyPI" in error
    assert not out.exists()


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
