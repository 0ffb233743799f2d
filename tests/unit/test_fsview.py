"""Target views: chroot-like resolution on a host directory and on a virtual tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybin2img.resolve import fsview
from pybin2img.resolve.fsview import Directory, HostView, Kind, RegularFile, Symlink, TreeView


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A merged-usr root: /lib -> usr/lib, an absolute link, a loop and a dangling link."""
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libc.so.6").write_bytes(b"libc")
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "lib64").mkdir()
    (tmp_path / "lib64/ld.so").symlink_to("/lib/x86_64-linux-gnu/libc.so.6")
    (tmp_path / "escape").symlink_to("../../../../../../usr/lib")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "dangling").symlink_to("/nowhere")
    return tmp_path


def test_host_view_resolves_inside_the_root(root: Path) -> None:
    view = HostView(str(root))
    assert view.realpath("/lib64/ld.so") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert view.source("/lib64/ld.so") == str(root / "usr/lib/x86_64-linux-gnu/libc.so.6")
    # `..` stops at the root, like a chroot: this is the view's /usr/lib, not the host's.
    assert view.realpath("/escape") == "/usr/lib"
    assert view.realpath("/loop") is None
    assert view.realpath("/dangling") is None
    assert view.realpath("/usr/lib/x86_64-linux-gnu/libc.so.6/x") is None


def test_host_view_kinds_and_links(root: Path) -> None:
    view = HostView(str(root))
    assert view.lstat_kind("/lib") is Kind.SYMLINK
    assert view.lstat_kind("/lib/x86_64-linux-gnu") is Kind.DIRECTORY
    assert view.lstat_kind("/lib/x86_64-linux-gnu/libc.so.6") is Kind.REGULAR
    assert view.lstat_kind("/missing/x") is Kind.MISSING
    assert view.readlink("/lib64/ld.so") == "/lib/x86_64-linux-gnu/libc.so.6"
    assert view.identity("/lib64/ld.so") == view.identity("/usr/lib/x86_64-linux-gnu/libc.so.6")
    with pytest.raises(OSError, match="not a symlink"):
        view.readlink("/usr")


def test_dotdot_applies_after_symlinks(root: Path) -> None:
    # /lib/../lib64 is /usr/lib/../lib64 = /usr/lib64 physically, not /lib64 lexically.
    view = HostView(str(root))
    assert view.realpath("/lib/../lib64") is None
    (root / "usr/lib64").mkdir()
    assert HostView(str(root)).realpath("/lib/../lib64") == "/usr/lib64"


def test_listdir_is_cached_per_resolved_directory(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_listdir = os.listdir

    def counting(path: str) -> list[str]:
        calls.append(path)
        return real_listdir(path)

    monkeypatch.setattr(fsview.os, "listdir", counting)
    view = HostView(str(root))
    for path in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu/"):
        assert view.listdir(path) == {"libc.so.6"}
    assert view.listdir("/missing") == frozenset()
    assert view.listdir("/lib64/ld.so") == frozenset()  # not a directory
    assert calls == [str(root / "usr/lib/x86_64-linux-gnu")]


def test_tree_view_implied_directories_and_links(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    view = TreeView(
        {
            "/usr/lib/x86_64-linux-gnu/libc.so.6": RegularFile(source=str(blob)),
            "/lib": Symlink(target="usr/lib"),
            "/lib64/ld-linux-x86-64.so.2": Symlink(target="/lib/x86_64-linux-gnu/libc.so.6"),
            "/app/lib": Symlink(target="../usr/lib/x86_64-linux-gnu"),
            "tmp": Directory(),  # relative keys are taken from the root, as in a tar file
        }
    )
    assert view.lstat_kind("/usr") is Kind.DIRECTORY
    assert view.lstat_kind("/tmp") is Kind.DIRECTORY
    assert view.listdir("/") == {"usr", "lib", "lib64", "app", "tmp"}
    assert view.listdir("/app/lib") == {"libc.so.6"}
    assert view.realpath("/lib64/ld-linux-x86-64.so.2") == "/usr/lib/x86_64-linux-gnu/libc.so.6"
    assert view.source("/app/lib/libc.so.6") == str(blob)
    assert view.identity("/app/lib/libc.so.6") == view.identity("/lib/x86_64-linux-gnu/libc.so.6")
    assert view.realpath("/app/lib/../x86_64-linux-gnu") == "/usr/lib/x86_64-linux-gnu"
    assert view.realpath("/usr/lib/nothing") is None
    with pytest.raises(FileNotFoundError):
        view.source("/usr/lib")


def test_tree_view_copies_are_distinct_files(tmp_path: Path) -> None:
    # Two nodes with the same host bytes are two inodes in the image: glibc loads both.
    blob = tmp_path / "blob"
    blob.write_bytes(b"x")
    view = TreeView(
        {"/a/x.so": RegularFile(source=str(blob)), "/b/x.so": RegularFile(source=str(blob))}
    )
    assert view.identity("/a/x.so") != view.identity("/b/x.so")


def test_tree_view_rejects_impossible_trees(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="non-directory"):
        TreeView({"/lib": Symlink(target="usr/lib"), "/lib/libc.so.6": RegularFile(source="/x")})
    with pytest.raises(ValueError, match=r"'\.\.'"):
        TreeView({"/a/../b": Directory()})
