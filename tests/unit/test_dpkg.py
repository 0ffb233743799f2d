"""Owning Debian packages from the dpkg database, and the status.d entries for the image.

A small fake database in tmp_path (tests/dpkgdb.py) covers the parsing rules (multi-line fields,
``name:arch`` lists, usr-merge spellings, diversions, distroless ``status.d``); dpkg-query and this
machine's own database are the oracle in tests/integration/test_host_dpkg.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybin2img.dpkg import (
    STATUS_D,
    DebianPackage,
    Distro,
    status_d_entries,
    system_packages,
)
from tests.dpkgdb import FOO_STANZA, LIBDIR, make_root, write


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_root(tmp_path)


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
    write(tmp_path / f"{LIBDIR[1:]}/libfoo.so.1.2.3", b"foo")
    status_d = tmp_path / STATUS_D
    stanza = FOO_STANZA.replace("Status: install ok installed\n", "")
    write(status_d / "libfoo1", stanza)
    write(status_d / "libfoo1.md5sums", f"{'c' * 32}  {LIBDIR[1:]}/libfoo.so.1.2.3\n")

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
    write(dpkg / "info/libfoo1:i386.list", "/.\n/usr/lib/i386-linux-gnu/libfoo.so.1.2.3\n")

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


def test_the_ca_bundle_belongs_to_the_package_whose_script_writes_it(root: Path) -> None:
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    write(root / bundle[1:], "-----BEGIN CERTIFICATE-----\n")
    found = system_packages([bundle], root=root)
    assert found.unowned == (bundle,)  # ca-certificates is not installed here

    with (root / "var/lib/dpkg/status").open("a") as f:
        f.write(
            "\nPackage: ca-certificates\nStatus: install ok installed\nArchitecture: all\n"
            "Version: 20230311\n"
        )
    (ca,) = system_packages([bundle], root=root).packages
    assert (ca.name, ca.files, ca.paths) == ("ca-certificates", (bundle,), ((bundle, bundle),))
    assert ca.md5_of(bundle) is None  # dpkg has no md5 of a file it did not install


def test_md5_of_a_file_or_a_conffile(root: Path) -> None:
    (foo,) = system_packages([f"{LIBDIR}/libfoo.so.1.2.3", "/etc/foo.conf"], root=root).packages
    assert foo.md5_of("/lib/x86_64-linux-gnu/libfoo.so.1.2.3") == "a" * 32
    assert foo.md5_of("/etc/foo.conf") == "0123456789abcdef0123456789abcdef"
    assert foo.md5_of("/lib/x86_64-linux-gnu/other.so") is None
