"""The cache verifies what it serves, and temporary files of dead writers are swept away.

Damage is made the way a disk or a careless hand makes it: one flipped byte that keeps the
file's size and mtime, a file added or removed, a link pointing elsewhere.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
from pathlib import Path

import pytest

from pybin2img.cache import Cache, sweep_abandoned, tree_damage, tree_manifest
from pybin2img.compile.distcache import cached_entry, new_entry
from pybin2img.log import Log
from pybin2img.pending import PendingFile, sweep, write_replacing


def flip_byte(path: Path, offset: int = 0) -> None:
    """Invert one byte of ``path`` and put its mtime back: only a hash can tell."""
    st = path.stat()
    with path.open("r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _tree(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "app").write_bytes(b"\x7fELF" + bytes(range(256)) * 4)
    os.chmod(root / "app", 0o755)
    (root / "lib" / "libx.so.1").write_bytes(b"library")
    (root / "lib" / "libx.so").symlink_to("libx.so.1")
    (root / "__pycache__").mkdir()
    return root


def test_an_unchanged_tree_matches_its_manifest(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    manifest = tree_manifest(root)
    assert tree_damage(root, json.loads(json.dumps(manifest))) is None
    assert set(manifest["files"]) == {"app", "lib/libx.so.1"}
    assert manifest["links"] == {"lib/libx.so": "libx.so.1"}


def test_a_flipped_byte_with_the_same_size_and_mtime_is_found(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    manifest = tree_manifest(root)
    flip_byte(root / "app", 100)
    assert tree_damage(root, manifest) == "app changed"
    assert tree_damage(root, manifest, hashes=False) is None, "sizes alone cannot see it"


@pytest.mark.parametrize(
    ("damage", "found"),
    [
        (lambda r: (r / "lib" / "extra.so").write_bytes(b"x"), "lib/extra.so was added"),
        (lambda r: (r / "lib" / "libx.so.1").unlink(), "files of it are missing"),
        (lambda r: (r / "app").write_bytes(b"short"), "app changed"),
        (lambda r: os.chmod(r / "app", 0o644), "app changed"),
        (
            lambda r: ((r / "lib" / "libx.so").unlink(), (r / "lib" / "libx.so").symlink_to("/")),
            "lib/libx.so is not the link it was",
        ),
        (lambda r: (r / "new").mkdir(), "new was added"),
    ],
)
def test_every_kind_of_damage_is_named(tmp_path: Path, damage: object, found: str) -> None:
    root = _tree(tmp_path / "t")
    manifest = tree_manifest(root)
    damage(root)  # type: ignore[operator]
    assert tree_damage(root, manifest) == found


def test_skipped_names_are_left_out_wherever_they_are(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    skip = frozenset({"__pycache__", "marker.json"})
    manifest = tree_manifest(root, skip=skip)
    (root / "__pycache__" / "x.pyc").write_bytes(b"written by the interpreter")
    (root / "marker.json").write_text("{}")
    assert tree_damage(root, manifest, skip=skip) is None
    assert tree_damage(root, None) == "its manifest is unreadable"


# --- the dist cache ----------------------------------------------------------------------------


def _cached_dist(cache: Cache, source: Path) -> Path:
    with new_entry(cache, "k" * 32, {str(source): _sha(source)}) as staging:
        _tree(staging / "dist")
        (staging / "contents.json").write_text('{"modules": [], "distributions": []}')
    entry = cached_entry(cache, "k" * 32, "app")
    assert entry is not None
    return entry


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_damaged_dist_is_one_warning_removed_and_a_miss(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    source = tmp_path / "app.py"
    source.write_text("print('hi')\n")
    entry = _cached_dist(cache, source)
    flip_byte(entry / "dist" / "app", 10)
    out = io.StringIO()
    assert cached_entry(cache, "k" * 32, "app", Log(stream=out)) is None
    assert out.getvalue().count("\n") == 1
    assert out.getvalue().startswith(f"pybin2img: warning: cached dist {entry} is damaged")
    assert "(dist/app changed)" in out.getvalue()
    assert not entry.exists()
    assert not list((cache.root / "tmp").iterdir()), "the damaged entry was deleted"


def test_damaged_records_of_a_dist_are_found_too(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    source = tmp_path / "app.py"
    source.write_text("print('hi')\n")
    entry = _cached_dist(cache, source)
    (entry / "contents.json").write_text('{"modules": ["evil"], "distributions": []}')
    assert cached_entry(cache, "k" * 32, "app", Log(stream=io.StringIO())) is None


def test_an_app_change_is_a_miss_not_damage(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    source = tmp_path / "app.py"
    source.write_text("print('hi')\n")
    entry = _cached_dist(cache, source)
    source.write_text("print('changed')\n")
    out = io.StringIO()
    assert cached_entry(cache, "k" * 32, "app", Log(stream=out)) is None
    assert out.getvalue() == ""
    assert entry.exists(), "still right for the old sources"


# --- work directories and temporary files of dead processes -----------------------------------


def test_a_work_directory_is_locked_while_used_and_swept_when_abandoned(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    with cache.workspace() as work:
        (work / "layer.tar").write_bytes(b"x" * 100)
        assert sweep_abandoned(work.parent) == [], "a live build's directory is left alone"
    assert not work.exists()
    abandoned = cache.ensure("tmp") / "build-dead"
    abandoned.mkdir()
    (abandoned / "half.tar").write_bytes(b"x")
    with cache.workspace() as work:
        assert not abandoned.exists(), "the next build removed what a killed one left"
        assert work.exists()


def test_a_pending_file_becomes_its_final_name_or_nothing(tmp_path: Path) -> None:
    final = tmp_path / "out" / "app.tar"
    final.parent.mkdir()
    with PendingFile(final) as pending:
        pending.file.write(b"complete")
        assert pending.path.name.startswith(".app.tar.partial-")
        pending.commit()
    assert final.read_bytes() == b"complete"
    with PendingFile(final) as pending:
        pending.file.write(b"half")
    assert final.read_bytes() == b"complete"
    assert sorted(p.name for p in final.parent.iterdir()) == ["app.tar"]


def test_partial_files_of_dead_writers_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    final = tmp_path / "app.tar"
    dead = tmp_path / ".app.tar.partial-dead1234"
    dead.write_bytes(b"half a tarball")
    live = tmp_path / ".app.tar.partial-live5678"
    live.write_bytes(b"being written")
    other = tmp_path / ".other.tar.partial-dead0000"
    other.write_bytes(b"another output's")
    with live.open("rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert sweep(final) == [dead]
    assert live.exists()
    assert other.exists()
    write_replacing(final, b"done")
    assert final.read_bytes() == b"done"
    assert not live.exists(), "its writer is gone now"
