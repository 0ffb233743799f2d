"""Every file of the image gets an owner, and the claim is checked: on a fake build machine
(tmp_path) with synthetic ELF files, a fake dpkg record and a fake Python installation."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest

from pybin2img.dpkg import DebianPackage, Distro, SystemPackages
from pybin2img.oci.layer import Entry, Kind
from pybin2img.plan.installation import PythonInstallation, RecordedFile
from pybin2img.plan.owners import IDENTICAL, SAME_CODE, claim_files, code_digest

SHT_PROGBITS, SHT_STRTAB, SHT_NOTE = 1, 3, 7
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
TEXT = (".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, b"\x55\x48\x89\xe5" * 16)
RODATA = (".rodata", SHT_PROGBITS, SHF_ALLOC, b"OpenSSL 3.0.19\0")
BUILD_ID = (
    ".note.gnu.build-id",
    SHT_NOTE,
    SHF_ALLOC,
    b"\x04\0\0\0\x14\0\0\0\x03\0\0\0GNU\0" + b"i" * 20,
)


def _elf(path: Path, sections: list[tuple[str, int, int, bytes]]) -> Path:
    """A 64-bit little-endian ELF file with these sections (and .shstrtab), nothing else."""
    names = b"\0"
    offsets = []
    for name, *_ in [*sections, (".shstrtab", 0, 0, b"")]:
        offsets.append(len(names))
        names += name.encode() + b"\0"
    body = b""
    placed = []
    for (_, _, _, data), start in zip(sections, offsets, strict=False):
        placed.append((64 + len(body), len(data)))
        body += data
        assert start >= 0
    strtab_at = 64 + len(body)
    body += names
    shoff = 64 + len(body)
    headers = b"\0" * 64
    for (_name, kind, flags, _data), name_at, (at, size) in zip(
        sections, offsets, placed, strict=False
    ):
        headers += struct.pack("<IIQQQQIIQQ", name_at, kind, flags, at, at, size, 0, 0, 1, 0)
    headers += struct.pack(
        "<IIQQQQIIQQ", offsets[-1], SHT_STRTAB, 0, 0, strtab_at, len(names), 0, 0, 1, 0
    )
    count = len(sections) + 2
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack(
        "<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, shoff, 0, 64, 56, 0, 64, count, count - 1
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + body + headers)
    return path


def _patched(path: Path, original: list[tuple[str, int, int, bytes]]) -> Path:
    """What patchelf and strip make of a copy: a new .dynstr, the build-id moved last."""
    dynstr = (".dynstr", SHT_STRTAB, SHF_ALLOC, b"\0libc.so.6\0$ORIGIN\0")
    moved = [s for s in original if s[0] != BUILD_ID[0]] + [dynstr]
    moved += [s for s in original if s[0] == BUILD_ID[0]]
    return _elf(path, moved)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package(name: str, *files: tuple[str, str, str | None]) -> DebianPackage:
    """``files``: (path asked, path recorded, md5 or None)."""
    return DebianPackage(
        name=name,
        version="1.0-1",
        architecture="amd64",
        source=name,
        status="install ok installed",
        files=tuple(asked for asked, _, _ in files),
        recorded_files=tuple(recorded for _, recorded, _ in files),
        paths=tuple((asked, recorded) for asked, recorded, _ in files),
        md5sums=tuple((recorded.lstrip("/"), md5) for _, recorded, md5 in files if md5),
        control=f"Package: {name}\nVersion: 1.0-1\n",
    )


def _system(*packages: DebianPackage) -> SystemPackages:
    return SystemPackages(
        database="dpkg",
        distro=Distro(id="debian", version_id="12"),
        packages=packages,
        unowned=(),
    )


def _file(path: str, source: Path) -> tuple[str, Entry]:
    return path, Entry(path=path, kind=Kind.FILE, mode=0o644, source=str(source))


ORIGINAL = [TEXT, RODATA, BUILD_ID]


@pytest.fixture
def host(tmp_path: Path) -> Path:
    return tmp_path / "host"


def test_a_library_nuitka_copied_belongs_to_the_package_of_its_original(
    tmp_path: Path, host: Path
) -> None:
    original = _elf(host / "usr/lib/libssl.so.3", ORIGINAL)
    dist = tmp_path / "dist"
    copy = _patched(dist / "libssl.so.3", ORIGINAL)
    libssl3 = _package("libssl3", (str(original), "/lib/libssl.so.3", _md5(original)))

    owners = claim_files(
        dict([_file("app/libssl.so.3", copy)]),
        dist_dir=dist,
        origins={"libssl.so.3": str(original)},
        packages=_system(libssl3),
    )

    assert owners.unclaimed == ()
    (claimed,) = owners.debian["libssl3:amd64"]
    assert claimed.path == "/app/libssl.so.3"
    assert (claimed.copy_of, claimed.match) == ("/lib/libssl.so.3", SAME_CODE)
    assert claimed.sha256 == _sha256(copy)
    # status.d lists the copy where it is, with its own md5 (what syft and dpkg --verify see).
    assert owners.md5sums["libssl3:amd64"] == (("app/libssl.so.3", _md5(copy)),)


def test_a_copy_with_other_code_is_claimed_by_nothing(tmp_path: Path, host: Path) -> None:
    original = _elf(host / "usr/lib/libssl.so.3", ORIGINAL)
    dist = tmp_path / "dist"
    other = [(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, b"\x90" * 64), RODATA, BUILD_ID]
    copy = _patched(dist / "libssl.so.3", other)
    libssl3 = _package("libssl3", (str(original), str(original), _md5(original)))

    owners = claim_files(
        dict([_file("app/libssl.so.3", copy)]),
        dist_dir=dist,
        origins={"libssl.so.3": str(original)},
        packages=_system(libssl3),
    )

    assert owners.debian == {}
    (unclaimed,) = owners.unclaimed
    assert "not the same file as" in (unclaimed.reason or "")
    assert owners.md5sums == {}


def test_a_host_file_changed_since_dpkg_installed_it_is_claimed_by_nothing(host: Path) -> None:
    lib = _elf(host / "usr/lib/libz.so.1", ORIGINAL)
    zlib = _package("zlib1g", (str(lib), "/lib/libz.so.1", "0" * 32))

    owners = claim_files(
        dict([_file(str(lib).lstrip("/"), lib)]), dist_dir=None, packages=_system(zlib)
    )

    assert owners.debian == {}
    (unclaimed,) = owners.unclaimed
    assert "is not the file zlib1g installed" in (unclaimed.reason or "")


def test_files_at_their_own_path_keep_dpkg_s_md5sums_lines(host: Path) -> None:
    lib = _elf(host / "usr/lib/libz.so.1", ORIGINAL)
    services = host / "etc/services"
    services.parent.mkdir(parents=True)
    services.write_bytes(b"http 80/tcp\n")
    zlib = _package("zlib1g", (str(lib), "/lib/libz.so.1", _md5(lib)))
    netbase = _package("netbase", (str(services), str(services), None))

    owners = claim_files(
        dict([_file(str(lib).lstrip("/"), lib), _file(str(services).lstrip("/"), services)]),
        dist_dir=None,
        packages=_system(zlib, netbase),
    )

    assert owners.unclaimed == ()
    assert owners.md5sums["zlib1g:amd64"] == (("lib/libz.so.1", _md5(lib)),)
    # A file dpkg has no md5 for (a conffile, the CA bundle): claimed, not in md5sums.
    assert [f.path for f in owners.debian["netbase:amd64"]] == [str(services)]
    assert owners.md5sums["netbase:amd64"] == ()


def _installation(tmp_path: Path, files: dict[Path, RecordedFile]) -> PythonInstallation:
    prefix = tmp_path / "python"
    return PythonInstallation(
        prefix=str(prefix),
        base_prefix=str(prefix),
        stdlib=(str(prefix / "lib/python3.11"),),
        site_packages=(str(prefix / "lib/python3.11/site-packages"),),
        libpython=(str(prefix / "lib/libpython3.11.so.1.0"),),
        files={str(path): record for path, record in files.items()},
    )


def test_wheel_files_and_cpython_s_and_the_app_s(tmp_path: Path) -> None:
    site = tmp_path / "python/lib/python3.11/site-packages"
    ext = _elf(site / "psycopg2/_psycopg.cpython-311-x86_64-linux-gnu.so", ORIGINAL)
    libpq = _elf(site / "psycopg2_binary.libs/libpq-a17e3caa.so.5.17", [TEXT, BUILD_ID])
    cert = site / "certifi/cacert.pem"
    cert.parent.mkdir(parents=True)
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    ssl = _elf(tmp_path / "python/lib/python3.11/lib-dynload/_ssl.cpython-311.so", ORIGINAL)

    def record(distribution: str, path: Path) -> RecordedFile:
        return RecordedFile(
            distribution=distribution,
            record_path=str(path.relative_to(site)),
            sha256=_sha256(path),
        )

    installation = _installation(
        tmp_path,
        {
            ext: record("psycopg2-binary", ext),
            libpq: record("psycopg2-binary", libpq),
            cert: record("certifi", cert),
        },
    )
    dist = tmp_path / "dist"
    copies = {
        "psycopg2/_psycopg.so": _patched(dist / "psycopg2/_psycopg.so", ORIGINAL),
        # Nuitka moves a wheel's bundled libraries next to the binary.
        "libpq-a17e3caa.so.5.17": _patched(dist / "libpq-a17e3caa.so.5.17", [TEXT, BUILD_ID]),
        "_ssl.so": _patched(dist / "_ssl.so", ORIGINAL),
        "settings.toml": dist / "settings.toml",
        "app": dist / "app",
    }
    dist.joinpath("settings.toml").write_text("debug = false\n")
    dist.joinpath("app").write_bytes(b"\x7fELF binary")
    # certifi/cacert.pem: no origin in the report, found by its path below site-packages.
    copies["certifi/cacert.pem"] = dist / "certifi/cacert.pem"
    copies["certifi/cacert.pem"].parent.mkdir()
    copies["certifi/cacert.pem"].write_bytes(cert.read_bytes())
    nodes = dict(_file(f"app/{rel}", path) for rel, path in copies.items())

    owners = claim_files(
        nodes,
        dist_dir=dist,
        app_files=("/app/app",),
        origins={
            "psycopg2/_psycopg.so": str(ext),
            "libpq-a17e3caa.so.5.17": str(libpq),
            "_ssl.so": str(ssl),
            "settings.toml": None,  # ${cwd}: the app's own
        },
        installation=installation,
    )

    assert owners.unclaimed == ()
    psycopg2 = {f.path: f for f in owners.pypi["psycopg2-binary"]}
    assert psycopg2["/app/libpq-a17e3caa.so.5.17"].bundled
    assert psycopg2["/app/libpq-a17e3caa.so.5.17"].copy_of == (
        "psycopg2_binary.libs/libpq-a17e3caa.so.5.17"
    )
    assert not psycopg2["/app/psycopg2/_psycopg.so"].bundled
    (pem,) = owners.pypi["certifi"]
    assert (pem.copy_of, pem.match) == ("certifi/cacert.pem", IDENTICAL)
    (stdlib,) = owners.python
    assert stdlib.copy_of == "lib/python3.11/lib-dynload/_ssl.cpython-311.so"
    assert [f.path for f in owners.app] == ["/app/app", "/app/settings.toml"]


def test_a_wheel_file_changed_after_install_is_claimed_by_nothing(tmp_path: Path) -> None:
    site = tmp_path / "python/lib/python3.11/site-packages"
    data = site / "pkg/data.json"
    data.parent.mkdir(parents=True)
    data.write_text("{}")
    installation = _installation(
        tmp_path,
        {data: RecordedFile(distribution="pkg", record_path="pkg/data.json", sha256="0" * 64)},
    )
    dist = tmp_path / "dist"
    (dist / "pkg").mkdir(parents=True)
    (dist / "pkg/data.json").write_text("{}")

    owners = claim_files(
        dict([_file("app/pkg/data.json", dist / "pkg/data.json")]),
        dist_dir=dist,
        origins={"pkg/data.json": str(data)},
        installation=installation,
    )

    (unclaimed,) = owners.unclaimed
    assert "sha256 differs from RECORD's" in (unclaimed.reason or "")


def test_generated_files_are_pybin2img_s(tmp_path: Path) -> None:
    passwd = Entry(path="etc/passwd", kind=Kind.FILE, mode=0o644, data=b"root:x:0:0::/:\n")
    owners = claim_files({"etc/passwd": passwd}, dist_dir=None)
    assert [f.path for f in owners.generated] == ["/etc/passwd"]
    assert owners.generated[0].sha256 == hashlib.sha256(b"root:x:0:0::/:\n").hexdigest()

    status = Entry(path="var/lib/dpkg/status.d/x", kind=Kind.FILE, mode=0o644, data=b"P: x\n")
    more = owners.with_generated({"etc/passwd": passwd, "var/lib/dpkg/status.d/x": status})
    assert [f.path for f in more.generated] == ["/etc/passwd", "/var/lib/dpkg/status.d/x"]


def test_code_digest_sees_code_not_what_patchelf_and_strip_change(tmp_path: Path) -> None:
    original = _elf(tmp_path / "a.so", ORIGINAL)
    assert code_digest(str(original)) == code_digest(str(_patched(tmp_path / "b.so", ORIGINAL)))
    other = _elf(tmp_path / "c.so", [TEXT, (".rodata", SHT_PROGBITS, SHF_ALLOC, b"other")])
    assert code_digest(str(other)) != code_digest(str(original))
    # No code, or no ELF file: nothing to compare.
    assert code_digest(str(_elf(tmp_path / "d.so", [RODATA]))) is None
    (tmp_path / "e.txt").write_text("text")
    assert code_digest(str(tmp_path / "e.txt")) is None
