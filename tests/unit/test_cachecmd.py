"""``pybin2img cache info`` and ``cache prune`` (cachecmd.py): what each kind of entry holds,
what is removed first, and what a running build keeps."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pybin2img.cache import Cache, use_lock
from pybin2img.cachecmd import cache_info, format_info, format_prune, parse_size, prune
from pybin2img.errors import UsageError


def _entry(path: Path, size: int, age_days: float, now: float) -> Path:
    """A file, or a directory holding one for ``envs`` and ``dists``, last used
    ``age_days`` ago."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.parent.name in ("envs", "dists") or path.parent.name in ("envs", "dists"):
        path.mkdir()
        (path / "data").write_bytes(b"x" * size)
    else:
        path.write_bytes(b"x" * size)
    when = now - age_days * 86400
    os.utime(path, (when, when))
    return path


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Cache, float]:
    now = time.time()
    root = tmp_path / "cache"
    _entry(root / "envs" / "e1", 3000, 10, now)
    _entry(root / "dists" / "d1", 2000, 9, now)
    _entry(root / "dists" / "d2", 2000, 1, now)
    (root / "dists" / "k.json").write_text('["d1","d2"]')
    _entry(root / "blobs" / "gzip" / ("a" * 64), 1000, 8, now)
    (root / "blobs" / "gzip" / (("a" * 64) + ".json")).write_text("{}")
    _entry(root / "nuitka" / "module-cache" / "os@1@2.json", 100, 7, now)
    _entry(root / "nuitka" / "ccache" / "3.11" / "0" / "1" / ("h" * 30 + "R"), 500, 6, now)
    (root / "nuitka" / "ccache" / "3.11" / "0" / "stats").write_text("0\n")
    (root / "logs").mkdir()
    (root / "logs" / "app.nuitka.log").write_text("log\n")
    return Cache(root), now


def test_info_counts_each_kind(filled: tuple[Cache, float]) -> None:
    info = cache_info(filled[0]).to_json()
    kinds = info["kinds"]
    assert kinds["envs"] == {"entries": 1, "bytes": 3000}
    assert kinds["dists"] == {"entries": 2, "bytes": 4000 + len('["d1","d2"]')}
    assert kinds["blobs"] == {"entries": 1, "bytes": 1002}
    assert kinds["nuitka"] == {"entries": 1, "bytes": 100}
    assert kinds["ccache"] == {"entries": 1, "bytes": 502}
    assert kinds["other"]["bytes"] == 4
    assert info["total_bytes"] == sum(k["bytes"] for k in kinds.values())
    assert "compiled dists" in format_info(cache_info(filled[0]))


def test_prune_by_age_removes_what_was_not_used_since(filled: tuple[Cache, float]) -> None:
    cache, now = filled
    result = prune(cache, older_than=7.5, now=now)
    assert sorted(e.path.name for e in result.removed) == ["a" * 64, "d1", "e1"]
    assert not (cache.root / "blobs" / "gzip" / (("a" * 64) + ".json")).exists()
    assert (cache.root / "dists" / "d2").is_dir()
    assert "removed 3 entries" in format_prune(result)


def test_prune_by_size_removes_the_least_recently_used_first(filled: tuple[Cache, float]) -> None:
    cache, now = filled
    result = prune(cache, max_size=6000, now=now)
    assert [e.path.name for e in result.removed] == ["e1"]  # the oldest; 3000 bytes freed
    assert result.after <= 6000
    assert cache.path("dists", "d1").is_dir()


def test_a_used_entry_counts_as_new(filled: tuple[Cache, float]) -> None:
    cache, _ = filled
    with cache.holding():
        assert cache.use(cache.path("envs", "e1"))
    result = prune(cache, older_than=7.5)
    assert "e1" not in [e.path.name for e in result.removed]


def test_prune_never_removes_what_a_running_build_holds(
    filled: tuple[Cache, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, now = filled
    recounts: list[list[str]] = []  # ccache is asked to count its files again, not run here
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "run", lambda argv, **_: recounts.append(argv))
    build = Cache(cache.root)  # another build: its own locks
    with build.holding():
        build.hold(use_lock(Path("dists", "d1")))
        result = prune(cache, max_size=0, now=now)
    removed = {e.path.name for e in result.removed}
    assert removed == {"e1", "d2"}  # d1 is held; blobs, ccache and Nuitka's wait for no build
    assert result.busy
    assert result.held == 1
    assert cache.path("blobs", "gzip", "a" * 64).exists()
    text = format_prune(result)
    assert "1 in use by a running build left alone" in text
    assert "a build is running" in text
    result = prune(cache, max_size=0, now=now)  # no build now
    assert {e.kind for e in result.removed} == {"dists", "blobs", "nuitka", "ccache"}
    assert cache.path("nuitka", "ccache", "3.11", "0", "stats").exists()
    ccache_dir = str(cache.root / "nuitka" / "ccache" / "3.11")
    assert recounts == [["/usr/bin/ccache", "--dir", ccache_dir, "--cleanup"]]


def test_prune_needs_a_limit_and_sizes_read_like_ccache_s() -> None:
    with pytest.raises(UsageError, match="--max-size SIZE, --older-than DAYS"):
        prune(Cache(Path("/nonexistent")))
    assert parse_size("500M") == 500_000_000
    assert parse_size("2G") == 2_000_000_000
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size("800mb") == 800_000_000
    assert parse_size("1048576") == 1048576
    with pytest.raises(UsageError, match="not a size"):
        parse_size("lots")
