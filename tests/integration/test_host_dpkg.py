"""The dpkg database reader against dpkg itself: dpkg-query as the oracle, on the fake database
of tests/dpkgdb.py and on this machine's own (a Debian or Ubuntu build machine)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pybin2img.dpkg import status_d_entries, system_packages
from tests.conftest import require
from tests.dpkgdb import LIBDIR, make_root

pytestmark = pytest.mark.integration


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path)


def _dpkg_query(admindir: Path, *args: str) -> str:
    proc = subprocess.run(
        ["dpkg-query", f"--admindir={admindir}", *args], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # dpkg warns about every field it cannot parse
    return proc.stdout


def _as_status_file(entries: tuple[tuple[str, bytes], ...], tmp_path: Path) -> Path:
    """The status.d stanzas concatenated into a dpkg admindir, for dpkg-query to read."""
    admindir = tmp_path / "admindir"
    (admindir / "info").mkdir(parents=True)
    stanzas = [data for path, data in entries if not path.endswith(".md5sums")]
    (admindir / "status").write_bytes(b"\n".join(stanzas))
    return admindir


def test_status_d_entries_parse_as_dpkg_control_files(root: Path, tmp_path: Path) -> None:
    require(shutil.which("dpkg-query"), "dpkg-query is not installed")
    found = system_packages([f"{LIBDIR}/libfoo.so.1", "/usr/lib/libbar.so"], root=root)
    admindir = _as_status_file(status_d_entries(found.packages), tmp_path)

    out = _dpkg_query(
        admindir, "-W", "-f=${Package}|${Version}|${Status}|${source:Package}|${Description}\n"
    )

    assert out.splitlines() == [
        "libbar|3.0|install ok installed|libbar|bar data",
        "libfoo1|1.2-1+b1|install ok installed|foo|the foo library",
        " It does foo.",
        " .",
        " And more foo.",
    ]


# --- this machine's database --------------------------------------------------------------

REAL_LIBC = "/lib/x86_64-linux-gnu/libc.so.6"


def _real_libraries() -> list[str]:
    """Libraries this machine surely has (the ones pybin2img copies for a Python app)."""
    names = [
        "libc.so.6",
        "libm.so.6",
        "libgcc_s.so.1",
        "libz.so.1",
        "libstdc++.so.6",
        "libssl.so.3",
        "libcrypto.so.3",
        "libffi.so.8",
        "liblzma.so.5",
        "libbz2.so.1.0",
    ]
    return [f"{LIBDIR}/{n}" for n in names if os.path.exists(f"{LIBDIR}/{n}")]


def _needs_debian() -> None:
    require(
        os.path.isfile("/var/lib/dpkg/status") and shutil.which("dpkg-query"),
        "this machine has no dpkg database",
    )


def test_libc_is_libc6_at_the_version_dpkg_reports() -> None:
    _needs_debian()
    require(os.path.exists(REAL_LIBC), f"{REAL_LIBC} is missing")
    version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True, check=True
    ).stdout

    for path in (REAL_LIBC, "/usr" + REAL_LIBC):
        found = system_packages([path])
        (libc6,) = found.packages
        assert (libc6.name, libc6.version, libc6.source) == ("libc6", version, "glibc")
        assert libc6.status == "install ok installed"
        assert found.distro is not None


def test_owners_agree_with_dpkg_query() -> None:
    _needs_debian()
    paths = _real_libraries()
    require(len(paths) >= 5, "too few of the usual libraries are installed")

    started = time.perf_counter()
    found = system_packages(paths)
    seconds = time.perf_counter() - started

    print(f"{len(paths)} libraries -> {len(found.packages)} packages in {seconds:.3f}s")
    assert found.unowned == ()
    ours = {f: p.key for p in found.packages for f in p.recorded_files}
    # dpkg-query -S knows only the spelling dpkg recorded, which is what we report.
    answer = subprocess.run(
        ["dpkg-query", "-S", *ours], capture_output=True, text=True, check=True
    ).stdout
    theirs: dict[str, list[str]] = {}
    for line in answer.splitlines():
        names, _, path = line.rpartition(": ")
        theirs[path] = names.split(", ")
    for recorded, key in ours.items():
        owners = theirs[recorded]
        assert key in owners or key.partition(":")[0] in owners, (recorded, owners)


def test_real_status_d_entries_parse_and_their_md5sums_match(tmp_path: Path) -> None:
    _needs_debian()
    found = system_packages(_real_libraries())
    entries = status_d_entries(found.packages)
    admindir = _as_status_file(entries, tmp_path)

    listed = _dpkg_query(admindir, "-W", "-f=${Package} ${Version} ${db:Status-Abbrev}\n")

    assert listed.splitlines() == [f"{p.name} {p.version} ii " for p in found.packages]
    sums = [data for path, data in entries if path.endswith(".md5sums")]
    assert sums
    for data in sums:
        for line in data.decode().splitlines():
            md5, path = line.split("  ", 1)
            assert hashlib.md5(Path("/", path).read_bytes()).hexdigest() == md5, path
