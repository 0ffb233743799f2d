"""ld.so.cache (new format, hwcaps extension), ld.so.conf and the loader's directories, from
synthetic bytes (this machine's own: test_host_ldcache.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybin2img.resolve.fsview import HostView, RegularFile, TreeView
from pybin2img.resolve.ldcache import (
    CACHE_FLAGS,
    CacheFormatError,
    ld_so_conf_dirs,
    loader_system_dirs,
    parse_ld_so_cache,
    read_ld_so_cache,
)
from tests.unit.elfgen import build_cache

X86_64 = CACHE_FLAGS[(62, 2)]


def test_lookup_baseline_and_hwcaps_variants() -> None:
    cache = parse_ld_so_cache(
        build_cache(
            [
                ("libz.so.1", "/usr/lib/glibc-hwcaps/x86-64-v3/libz.so.1", 0x0303, "x86-64-v3"),
                ("libz.so.1", "/usr/lib/libz.so.1", 0x0303, None),
                ("libz.so.1", "/usr/lib32/libz.so.1", 0x0003, None),  # i386 entry
                ("libc.so.6", "/usr/lib/libc.so.6", 0x0303, None),
            ]
        )
    )
    assert cache.lookup("libz.so.1", X86_64) == (
        "/usr/lib/libz.so.1",
        ("/usr/lib/glibc-hwcaps/x86-64-v3/libz.so.1",),
    )
    assert cache.lookup("libz.so.1", CACHE_FLAGS[(3, 1)]) == ("/usr/lib32/libz.so.1", ())
    assert cache.lookup("libnope.so", X86_64) == (None, ())
    assert cache.entries[0].hwcaps == "x86-64-v3"


@pytest.mark.parametrize(("big_endian", "old_prefix"), [(True, None), (False, 3)])
def test_byte_order_and_old_format_prefix(big_endian: bool, old_prefix: int | None) -> None:
    data = build_cache(
        [("libm.so.6", "/lib/libm.so.6", 0x0303, None)],
        big_endian=big_endian,
        old_prefix=old_prefix,
    )
    assert parse_ld_so_cache(data).lookup("libm.so.6", X86_64) == ("/lib/libm.so.6", ())


def test_bad_caches_are_rejected() -> None:
    with pytest.raises(CacheFormatError):
        parse_ld_so_cache(b"ld.so-1.7.0\0\0\0\0\0")  # libc5-only format
    with pytest.raises(CacheFormatError):
        parse_ld_so_cache(build_cache([("a", "/a", 0x0303, None)])[:60])


def test_missing_cache_is_none(tmp_path: Path) -> None:
    assert read_ld_so_cache(HostView(str(tmp_path))) is None


def test_ld_so_conf_include_globs_sorted(tmp_path: Path) -> None:
    def text(name: str, content: str) -> RegularFile:
        path = tmp_path / name
        path.write_text(content)
        return RegularFile(source=str(path))

    view = TreeView(
        {
            "/etc/ld.so.conf": text(
                "main", "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/opt/last/ # trailing\n"
            ),
            # Written out of order: glob() sorts, so b comes before z whatever the listing says.
            "/etc/ld.so.conf.d/z.conf": text("z", "/z/lib\nhwcap 0 nosegneg\n"),
            "/etc/ld.so.conf.d/b.conf": text("b", "  /b/lib\ninclude more/*.conf\n/z/lib\n"),
            "/etc/ld.so.conf.d/more/1.conf": text("m", "/relative/include\n"),
            "/etc/ld.so.conf.d/ignored.txt": text("i", "/not/me\n"),
        }
    )
    assert ld_so_conf_dirs(view) == ("/b/lib", "/relative/include", "/z/lib", "/opt/last")


def test_ld_so_conf_relative_include_is_from_the_including_file(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    conf.write_text("include sub/*.conf\n")
    sub = tmp_path / "sub"
    sub.write_text("/from/sub\n")
    loop = tmp_path / "loop"
    loop.write_text("include /etc/ld.so.conf\n/after/loop\n")
    view = TreeView(
        {
            "/etc/ld.so.conf": RegularFile(source=str(conf)),
            "/etc/sub/a.conf": RegularFile(source=str(sub)),
            "/etc/sub/b.conf": RegularFile(source=str(loop)),
        }
    )
    assert ld_so_conf_dirs(view) == ("/from/sub", "/after/loop")


def test_loader_system_dirs() -> None:
    debian = b"junk\0/lib/x86_64-linux-gnu/\0/usr/lib/x86_64-linux-gnu/\0/lib/\0/usr/lib/\0more"
    assert loader_system_dirs(debian) == (
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib",
        "/usr/lib",
    )
    assert loader_system_dirs(b"\0/lib64/\0/usr/lib64/\0") == ("/lib64", "/usr/lib64")
    assert loader_system_dirs(b"\0/proc/self/\0/dev/\0") == ()
