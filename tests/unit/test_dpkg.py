"""Owning Debian packages from the dpkg database, and the status.d entries for the image.

A small fake database in tmp_path covers the parsing rules (multi-line fields, ``name:arch``
lists, usr-merge spellings, diversions, distroless ``status.d``); this machine's own database is
checked against dpkg-query as the oracle.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pybin2img.plan.dpkg import (
    STATUS_D,
    DebianPackage,
    Distro,
    status_d_entries,
    system_packages,
)
from tests.conftest import require

LIBDIR = "/usr/lib/x86_64-linux-gnu"
FOO_STANZA = """\
Package: libfoo1
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 120
Maintainer: Jane Doe <jane@example.org>
Architecture: amd64
Multi-Arch: same
Source: foo (1.2-1)
Version: 1.2-1+b1
Depends: libc6 (>= 2.34)
Conffiles:
 /etc/foo.conf 0123456789abcdef0123456789abcdef
Description: the foo library
 It does foo.
 .
 And more foo.
Homepage: https://foo.example.org
"""
BAR_STANZA = """\
Package: libbar
Status: hold ok installed
Architecture: all
Version: 3.0
Maintainer: Bar Team <bar@example.org>
Description: bar data
"""
GONE_STANZA = """\
Package: libgone
Status: deinstall ok config-files
Architecture: amd64
Version: 0.1
Config-Version: 0.1
"""
COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: foo
License: This paragraph's prose is no license name. See below
 for the details.

Files: *
Copyright: 2020 Jane Doe
License: LGPL-2.1+

Files: extra/*
Copyright: 2021 John Doe
License: GPL-3+ with GCC-exception

License: LGPL-2.1+
 The text of the license.
"""


def _write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A usr-merged tree with libfoo1:amd64 (lib + soname link), libbar and a diversion."""
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    _write(tmp_path / f"{LIBDIR[1:]}/libfoo.so.1.2.3", b"\x7fELF foo")
    (tmp_path / f"{LIBDIR[1:]}/libfoo.so.1").symlink_to("libfoo.so.1.2.3")
    _write(tmp_path / "usr/lib/libbar.so", b"bar")
    _write(tmp_path / "usr/lib/libdiv.so", b"diverting")
    _write(tmp_path / "usr/lib/libdiv.so.distrib", b"diverted")
    _write(tmp_path / "etc/os-release", 'ID=debian\nVERSION_ID="12"\nNAME="Debian"\n')
    _write(tmp_path / "usr/share/doc/libfoo1/copyright", COPYRIGHT)

    dpkg = tmp_path / "var/lib/dpkg"
    other = "Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
    divert = "Package: libdivert\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2\n"
    orig = "Package: libdiv\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
    _write(
        dpkg / "status",
        "\n".join([other, FOO_STANZA, BAR_STANZA, GONE_STANZA, divert, orig]),
    )
    _write(
        dpkg / "info/libfoo1:amd64.list",
        "/.\n/lib\n/lib/x86_64-linux-gnu\n"
        "/lib/x86_64-linux-gnu/libfoo.so.1.2.3\n/lib/x86_64-linux-gnu/libfoo.so.1\n"
        "/usr/share/doc/libfoo1\n/usr/share/doc/libfoo1/copyright\n",
    )
    _write(
        dpkg / "info/libfoo1:amd64.md5sums",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  lib/x86_64-linux-gnu/libfoo.so.1.2.3\n"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  usr/share/doc/libfoo1/copyright\n",
    )
    _write(dpkg / "info/libbar.list", "/.\n/usr\n/usr/lib\n/usr/lib/libbar.so\n")
    _write(dpkg / "info/other:amd64.list", "/.\n/usr\n/usr/bin\n/usr/bin/other\n")
    _write(dpkg / "info/libdiv:amd64.list", "/.\n/usr/lib/libdiv.so\n")
    _write(dpkg / "info/libdivert:amd64.list", "/.\n/usr/lib/libdiv.so\n")
    _write(dpkg / "diversions", "/usr/lib/libdiv.so\n/usr/lib/libdiv.so.distrib\nlibdivert\n")
    return tmp_path


def _by_name(packages: tuple[DebianPackage, ...]) -> dict[str, DebianPackage]:
    return {p.name: p for p in packages}


def test_a_link_through_usr_merge_is_owned_with_its_target(root: Path) -> None:
    found = system_packages([f"{LIBDIR}/libfoo.so.1"], root=root)

    assert found.database == "dpkg"
    assert found.distro == Distro(id="debian", version_id="12")
    assert found.unowned == ()
    (foo,) = found.packages
    assert (foo.name, foo.version, foo.architecture) == ("libfoo1", "1.2-1+b1", "amd64")
    assert (foo.source, foo.source_version, foo.status) == ("foo", "1.2-1", "install ok installed")
    # The link and the file it reaches are both in the image; dpkg records them under /lib.
    assert foo.files == (f"{LIBDIR}/libfoo.so.1", f"{LIBDIR}/libfoo.so.1.2.3")
    assert foo.recorded_files == (
        "/lib/x86_64-linux-gnu/libfoo.so.1",
        "/lib/x86_64-linux-gnu/libfoo.so.1.2.3",
    )
    # Only the image's files, and only regular files have sums.
    assert foo.md5sums == (("lib/x86_64-linux-gnu/libfoo.so.1.2.3", "a" * 32),)
    assert foo.control == FOO_STANZA
    assert foo.key == "libfoo1:amd64"


def test_every_spelling_of_a_path_finds_the_same_owner(root: Path) -> None:
    for path in (
        "/lib/x86_64-linux-gnu/libfoo.so.1.2.3",
        f"{LIBDIR}/libfoo.so.1.2.3",
        f"{LIBDIR}/../x86_64-linux-gnu/libfoo.so.1.2.3",
    ):
        (foo,) = system_packages([path], root=root).packages
        assert foo.name == "libfoo1"
        assert foo.recorded_files == ("/lib/x86_64-linux-gnu/libfoo.so.1.2.3",)


def test_every_link_of_a_chain_is_looked_up(root: Path) -> None:
    # A link no package ships (ldconfig's, say) goes with the file it reaches.
    (root / f"{LIBDIR[1:]}/libfoo.so").symlink_to("libfoo.so.1")

    found = system_packages([f"{LIBDIR}/libfoo.so"], root=root)

    assert found.unowned == ()
    (foo,) = found.packages
    assert foo.files == tuple(f"{LIBDIR}/libfoo.so{v}" for v in ("", ".1", ".1.2.3"))


def test_list_without_architecture_and_unowned_files(root: Path) -> None:
    found = system_packages(["/usr/lib/libbar.so", "/usr/local/lib/libmine.so"], root=root)

    bar = _by_name(found.packages)["libbar"]
    assert (bar.architecture, bar.source, bar.source_version) == ("all", "libbar", None)
    assert bar.status == "hold ok installed"
    assert found.unowned == ("/usr/local/lib/libmine.so",)


def test_diverted_files_belong_to_who_put_them_there(root: Path) -> None:
    found = system_packages(["/usr/lib/libdiv.so", "/usr/lib/libdiv.so.distrib"], root=root)

    owners = {p.name: p.files for p in found.packages}
    assert owners == {
        "libdivert": ("/usr/lib/libdiv.so",),
        "libdiv": ("/usr/lib/libdiv.so.distrib",),
    }


def test_dep5_license_names_and_copyright(root: Path) -> None:
    (foo,) = system_packages([f"{LIBDIR}/libfoo.so.1.2.3"], root=root).packages

    assert foo.licenses == ("GPL-3+ with GCC-exception", "LGPL-2.1+")
    assert foo.copyright == str(root / "usr/share/doc/libfoo1/copyright")


def test_no_database(tmp_path: Path) -> None:
    found = system_packages(["/usr/lib/libc.so.6"], root=tmp_path)
    assert (found.database, found.packages, found.unowned) == (None, (), ("/usr/lib/libc.so.6",))


def test_distroless_status_d_database(tmp_path: Path) -> None:
    """A build machine that is itself distroless: stanzas and md5sums in status.d/."""
    _write(tmp_path / f"{LIBDIR[1:]}/libfoo.so.1.2.3", b"foo")
    status_d = tmp_path / STATUS_D
    stanza = FOO_STANZA.replace("Status: install ok installed\n", "")
    _write(status_d / "libfoo1", stanza)
    _write(status_d / "libfoo1.md5sums", f"{'c' * 32}  {LIBDIR[1:]}/libfoo.so.1.2.3\n")

    (foo,) = system_packages([f"{LIBDIR}/libfoo.so.1.2.3"], root=tmp_path).packages

    assert (foo.name, foo.version) == ("libfoo1", "1.2-1+b1")
    assert foo.md5sums == ((f"{LIBDIR[1:]}/libfoo.so.1.2.3", "c" * 32),)
    control = dict(status_d_entries([foo]))[f"{STATUS_D}/libfoo1"].decode()
    assert control.startswith("Package: libfoo1\nStatus: install ok installed\n")


def test_one_package_in_two_architectures(root: Path) -> None:
    dpkg = root / "var/lib/dpkg"
    i386 = FOO_STANZA.replace("amd64", "i386")
    with (dpkg / "status").open("a") as f:
        f.write("\n" + i386)
    _write(dpkg / "info/libfoo1:i386.list", "/.\n/usr/lib/i386-linux-gnu/libfoo.so.1.2.3\n")

    found = system_packages(
        [f"{LIBDIR}/libfoo.so.1.2.3", "/usr/lib/i386-linux-gnu/libfoo.so.1.2.3"], root=root
    )

    assert [p.key for p in found.packages] == ["libfoo1:amd64", "libfoo1:i386"]
    paths = [path for path, _ in status_d_entries(found.packages)]
    assert f"{STATUS_D}/libfoo1:amd64" in paths
    assert f"{STATUS_D}/libfoo1:i386" in paths


def test_status_d_entries(root: Path) -> None:
    found = system_packages([f"{LIBDIR}/libfoo.so.1", "/usr/lib/libbar.so"], root=root)

    entries = dict(status_d_entries(found.packages))

    assert sorted(entries) == [
        f"{STATUS_D}/libbar",
        f"{STATUS_D}/libfoo1",
        f"{STATUS_D}/libfoo1.md5sums",
    ]
    foo = entries[f"{STATUS_D}/libfoo1"].decode()
    assert "Conffiles" not in foo
    assert "/etc/foo.conf" not in foo
    assert foo == FOO_STANZA.replace(
        "Conffiles:\n /etc/foo.conf 0123456789abcdef0123456789abcdef\n", ""
    )
    bar = entries[f"{STATUS_D}/libbar"].decode()
    assert "Status: install ok installed\n" in bar  # hold on the host; installed in the image
    assert entries[f"{STATUS_D}/libfoo1.md5sums"] == (
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  lib/x86_64-linux-gnu/libfoo.so.1.2.3\n"
    )
    assert status_d_entries(found.packages, md5sums=False) == tuple(
        (p, d) for p, d in sorted(entries.items()) if not p.endswith(".md5sums")
    )


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
        owners, _, path = line.rpartition(": ")
        theirs[path] = owners.split(", ")
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
