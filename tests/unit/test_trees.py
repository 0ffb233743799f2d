"""The trees the cache repository stores (compile/trees.py): packed to the same bytes whenever
and wherever, unpacked as they were, and refused when they hold what pack never makes."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from pybin2img.compile.trees import UnsafeTree, pack_tree, unpack_tree


def _tree(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "app").write_bytes(b"\x7fELF" * 1000)
    os.chmod(root / "app", 0o750)
    (root / "lib" / "libx.so.1").write_bytes(b"library")
    os.chmod(root / "lib" / "libx.so.1", 0o600)
    (root / "lib" / "libx.so").symlink_to("libx.so.1")
    return root


def test_a_tree_packs_to_the_same_bytes_whenever_and_wherever(tmp_path: Path) -> None:
    one = pack_tree(_tree(tmp_path / "one"), tmp_path / "one.tar.gz")
    two_root = _tree(tmp_path / "two")
    os.utime(two_root / "app", (1, 1))
    two = pack_tree(two_root, tmp_path / "two.tar.gz")
    assert one == two
    assert one["size"] == (tmp_path / "one.tar.gz").stat().st_size


def test_a_packed_tree_unpacks_as_it_was_with_normal_modes(tmp_path: Path) -> None:
    pack_tree(_tree(tmp_path / "src"), tmp_path / "t.tar.gz")
    unpack_tree(tmp_path / "t.tar.gz", tmp_path / "out", absolute_links=False)
    out = tmp_path / "out"
    assert (out / "app").read_bytes() == b"\x7fELF" * 1000
    assert (out / "app").stat().st_mode & 0o777 == 0o755
    assert (out / "lib" / "libx.so.1").stat().st_mode & 0o777 == 0o644
    assert os.readlink(out / "lib" / "libx.so") == "libx.so.1"


def _tar(path: Path, *members: tuple[str, str, str]) -> Path:
    """A tar.gz of (name, kind, data or link target) members."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data.encode()))
    return path


@pytest.mark.parametrize(
    "members",
    [
        [("/etc/passwd", "file", "x")],
        [("../outside", "file", "x")],
        [("a/../../outside", "file", "x")],
        [("escape", "link", "../../etc")],
        [("lib", "link", "/usr/lib")],
        [("lib", "link", "sub"), ("lib/evil", "file", "x")],
        [("pipe", "fifo", "")],
        [("twice", "file", "a"), ("twice", "file", "b")],
    ],
)
def test_unpacking_refuses_what_pack_never_makes(
    tmp_path: Path, members: list[tuple[str, str, str]]
) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", *members)
    with pytest.raises((UnsafeTree, FileExistsError)):
        unpack_tree(archive, tmp_path / "out", absolute_links=False)
    assert not (tmp_path / "outside").exists()


def test_a_build_environment_may_link_to_the_machine_s_python(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "env.tar.gz", ("bin/python", "link", "/usr/bin/python3"))
    unpack_tree(archive, tmp_path / "env", absolute_links=True)
    assert os.readlink(tmp_path / "env" / "bin" / "python") == "/usr/bin/python3"
