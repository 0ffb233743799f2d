"""Every file of a real image has an owner, and the build needs no network but for pip.

tests/apps/owners uses ssl, sqlite3, lzma, ctypes and psycopg2-binary: Nuitka copies libssl3's,
libsqlite3-0's, liblzma5's and libffi8's libraries from this machine into the dist, and
psycopg2-binary's bundled libpq and friends from its wheel. The image's status.d must list
those Debian packages at dpkg's versions (dpkg-query reads them; dpkg --verify checks every
file they list in the image), its SBOM (CycloneDX, and SPDX) must list them and
psycopg2-binary with its bundled libraries, and ``inspect`` must find no file unclaimed.

Then the same app, changed, is built again inside ``unshare -n`` (no network at all, as root):
with its build environment warm, a build reaches no network, and Nuitka neither looks for a
newer release (its update-check record stays untouched) nor downloads anything.

Costs two compiles of a small app (psycopg2 and the standard library) and a cached rebuild:
205 s for the module on a busy 2-CPU machine with a warm ccache, examples/db's build
environment (shared with test_corpus) made on the way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.conftest import EXAMPLES, ROOT, RUN_ID, pybin2img

pytestmark = pytest.mark.integration

APP = ROOT / "tests" / "apps" / "owners" / "owners.py"
# examples/db's requirements (SQLAlchemy, psycopg2-binary): the build environment is shared.
REQUIREMENTS = EXAMPLES / "db" / "requirements.txt"
COPIED = ("libssl3", "libsqlite3-0", "liblzma5", "libffi8")


def _extract(tarball: Path, into: Path) -> Path:
    """The image's file system, its layers unpacked in order."""
    raw = into / "raw"
    raw.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(raw)], check=True)
    manifest = json.loads((raw / "manifest.json").read_text())[0]
    root = into / "rootfs"
    root.mkdir()
    for layer in manifest["Layers"]:
        subprocess.run(["tar", "-xzf", str(raw / layer), "-C", str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The app's image (with its CycloneDX SBOM) and, from a second build, its SPDX SBOM."""
    require(os.path.isfile("/var/lib/dpkg/status"), "this machine has no dpkg database")
    out = tmp_path_factory.mktemp("owners")
    tarball = out / "owners.tar"
    reference = f"pybin2img-test/owners:{RUN_ID}"
    proc = pybin2img(
        "build", str(APP), "-t", reference, "-r", str(REQUIREMENTS), "-o", str(tarball)
    )
    spdx = out / "spdx.tar"
    pybin2img(
        "build",
        *(str(APP), "-t", reference, "-r", str(REQUIREMENTS), "-o", str(spdx)),
        *("--sbom-format", "spdx", "--no-start-check"),
    )
    return {
        "tarball": tarball,
        "stderr": proc.stderr,
        "cyclonedx": json.loads((out / "owners.sbom.cdx.json").read_text()),
        "spdx": out / "spdx.sbom.spdx.json",
        "rootfs": _extract(tarball, out / "image"),
    }


def _dpkg_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=True
    ).stdout


def test_status_d_lists_the_packages_nuitka_copied_from(owned: dict[str, Any]) -> None:
    require(shutil.which("dpkg-query"), "dpkg-query is not installed")
    root: Path = owned["rootfs"]
    status_d = root / "var/lib/dpkg/status.d"
    # dpkg itself as the oracle: the stanzas as a status file, the md5sums as its info files.
    admindir = root.parent / "admindir"
    (admindir / "info").mkdir(parents=True)
    stanzas = []
    for entry in sorted(status_d.iterdir()):
        if entry.name.endswith(".md5sums"):
            package = entry.name.removesuffix(".md5sums")
            shutil.copy(entry, admindir / "info" / entry.name)
            lines = entry.read_text().splitlines()
            paths = "".join("/" + line.split(None, 1)[1] + "\n" for line in lines)
            (admindir / "info" / f"{package}.list").write_text(paths)
        else:
            stanzas.append(entry.read_bytes())
    (admindir / "status").write_bytes(b"\n".join(stanzas))
    listed = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", "-W", "-f=${Package} ${Version} ${Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stderr == ""
    versions = {}
    for line in listed.stdout.splitlines():
        name, version, status = line.split(" ", 2)
        assert status == "install ok installed"
        versions[name] = version
    for package in COPIED:
        assert versions.get(package) == _dpkg_version(package), package
    # Every file status.d lists is in the image with that md5: the copies in /app too.
    assert "app/libssl.so.3" in (status_d / "libssl3.md5sums").read_text()
    verify = subprocess.run(
        ["dpkg", f"--root={root}", f"--admindir={admindir}", "--verify", *versions],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout == ""


def _nested(component: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in component.get("components", [])}


def test_the_sbom_lists_them_and_psycopg2_with_its_libraries(owned: dict[str, Any]) -> None:
    from tests.sbomfacts import validate

    document = owned["cyclonedx"]
    validate(json.dumps(document).encode())
    components = {c["name"]: c for c in document["components"]}
    for package in COPIED:
        purl = components[package]["purl"]
        assert purl.startswith(f"pkg:deb/debian/{package}@"), purl
        assert components[package]["version"] == _dpkg_version(package)
    libssl = _nested(components["libssl3"])["/app/libssl.so.3"]
    properties = {p["name"]: p["value"] for p in libssl["properties"]}
    assert properties["pybin2img:match"] == "same code"
    assert properties["pybin2img:copy-of"].endswith("/libssl.so.3")
    psycopg2 = components["psycopg2-binary"]
    assert psycopg2["purl"] == "pkg:pypi/psycopg2-binary@2.9.13"
    bundled = [c for c in psycopg2["components"] if c["type"] == "library"]
    assert any(c["name"].startswith("libpq-") for c in bundled), bundled
    assert all(c["hashes"][0]["alg"] == "SHA-256" for c in psycopg2["components"])
    assert not [c for c in document["components"] if c["type"] == "file"]


def test_inspect_finds_no_file_unclaimed(owned: dict[str, Any]) -> None:
    report = json.loads(pybin2img("inspect", "--json", str(owned["tarball"])).stdout)
    assert report["sbom"]["unclaimed"] == []
    assert report["sbom"]["hash_mismatches"] == []
    assert report["sbom"]["files"] > 100


def test_the_spdx_sbom_validates_and_lists_the_same(owned: dict[str, Any]) -> None:
    from spdx_tools.spdx.parser.json.json_parser import parse_from_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    assert validate_full_spdx_document(parse_from_file(str(owned["spdx"]))) == []
    document = json.loads(owned["spdx"].read_text())
    names = {p["name"] for p in document["packages"]}
    assert {*COPIED, "psycopg2-binary", "python"} <= names
    files = {f["fileName"] for f in document["files"]}
    assert "./app/libssl.so.3" in files


def test_a_warm_build_needs_no_network(owned: dict[str, Any], tmp_path: Path) -> None:
    require(os.geteuid() == 0 and shutil.which("unshare"), "unshare -n needs root")
    app = tmp_path / "owners.py"
    # Changed: Nuitka compiles it again, inside the namespace.
    app.write_text(APP.read_text() + f"# {uuid.uuid4()}\n")
    updates = tmp_path / "nuitka-updates"
    updates.mkdir()
    record = updates / "update_check.json"
    record.write_text('{"last_check": 0}')  # a week old and more: due, if it were on
    downloads = tmp_path / "nuitka-downloads"
    env = {
        **os.environ,
        "NUITKA_CACHE_DIR_UPDATES": str(updates),
        "NUITKA_CACHE_DIR_DOWNLOADS": str(downloads),
    }
    proc = subprocess.run(
        [
            *("unshare", "--net", "--"),
            *(sys.executable, "-m", "pybin2img", "build", str(app)),
            *("-t", f"pybin2img-test/offline:{RUN_ID}", "-r", str(REQUIREMENTS)),
            *("-o", str(tmp_path / "offline.tar"), "-v"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    compiled = [line for line in proc.stderr.splitlines() if line.startswith("compile ")]
    assert "MB dist" in compiled[-1]
    assert "cached" not in compiled[-1]  # Nuitka ran
    assert "--update-check=never" in proc.stderr
    assert "--assume-yes-for-downloads" not in proc.stderr
    assert record.read_text() == '{"last_check": 0}'
    assert not downloads.exists() or not any(downloads.iterdir())
