"""A small fake dpkg database, for the unit tests of its parsing and for dpkg-query to read.

It covers the parsing rules: multi-line fields, ``name:arch`` lists, usr-merge spellings,
diversions and a DEP-5 copyright file.
"""

from __future__ import annotations

from pathlib import Path

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


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)


def make_root(tmp_path: Path) -> Path:
    """A usr-merged tree in ``tmp_path`` with libfoo1:amd64 (lib + soname link), libbar, a
    package removed but for its configuration, and a diversion; returns ``tmp_path``."""
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    write(tmp_path / f"{LIBDIR[1:]}/libfoo.so.1.2.3", b"\x7fELF foo")
    (tmp_path / f"{LIBDIR[1:]}/libfoo.so.1").symlink_to("libfoo.so.1.2.3")
    write(tmp_path / "usr/lib/libbar.so", b"bar")
    write(tmp_path / "usr/lib/libdiv.so", b"diverting")
    write(tmp_path / "usr/lib/libdiv.so.distrib", b"diverted")
    write(tmp_path / "etc/os-release", 'ID=debian\nVERSION_ID="12"\nNAME="Debian"\n')
    write(tmp_path / "usr/share/doc/libfoo1/copyright", COPYRIGHT)

    dpkg = tmp_path / "var/lib/dpkg"
    other = "Package: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
    divert = "Package: libdivert\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2\n"
    orig = "Package: libdiv\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n"
    write(
        dpkg / "status",
        "\n".join([other, FOO_STANZA, BAR_STANZA, GONE_STANZA, divert, orig]),
    )
    write(
        dpkg / "info/libfoo1:amd64.list",
        "/.\n/lib\n/lib/x86_64-linux-gnu\n"
        "/lib/x86_64-linux-gnu/libfoo.so.1.2.3\n/lib/x86_64-linux-gnu/libfoo.so.1\n"
        "/usr/share/doc/libfoo1\n/usr/share/doc/libfoo1/copyright\n",
    )
    write(
        dpkg / "info/libfoo1:amd64.md5sums",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa  lib/x86_64-linux-gnu/libfoo.so.1.2.3\n"
        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb  usr/share/doc/libfoo1/copyright\n",
    )
    write(dpkg / "info/libbar.list", "/.\n/usr\n/usr/lib\n/usr/lib/libbar.so\n")
    write(dpkg / "info/other:amd64.list", "/.\n/usr\n/usr/bin\n/usr/bin/other\n")
    write(dpkg / "info/libdiv:amd64.list", "/.\n/usr/lib/libdiv.so\n")
    write(dpkg / "info/libdivert:amd64.list", "/.\n/usr/lib/libdiv.so\n")
    write(dpkg / "diversions", "/usr/lib/libdiv.so\n/usr/lib/libdiv.so.distrib\nlibdivert\n")
    return tmp_path
