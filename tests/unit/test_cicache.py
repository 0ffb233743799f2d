"""What the CI caches are made of, without a registry or a compile: the options that name them,
the trees the cache repository stores, ``cache info`` and ``cache prune``, and the lines that
keep a CI log alive during a long compile."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest

from pybin2img.cache import Cache, use_lock
from pybin2img.cachecmd import cache_info, format_info, format_prune, parse_size, prune
from pybin2img.compile.ccache import redacted
from pybin2img.compile.progress import NuitkaProgress
from pybin2img.compile.trees import UnsafeTree, pack_tree, unpack_tree
from pybin2img.errors import UsageError
from pybin2img.log import Log
from pybin2img.options import build_options
from pybin2img.settings import Project, merge

# --- options -------------------------------------------------------------------------------------


def _options(tmp_path: Path, environ: dict[str, str] | None = None, **flags: Any) -> Any:
    app = tmp_path / "app.py"
    app.write_text("print('hi')\n")
    values, sources = merge({k: (v, "flag") for k, v in flags.items()}, Project())
    return build_options(
        values,
        sources=sources,
        app=app,
        project=Project(),
        environ={"PYBIN2IMG_CACHE_DIR": str(tmp_path / "cache"), **(environ or {})},
        password="secret" if flags.get("password_stdin") else None,
        default_python=Path("/usr/bin/python3"),
    )


def test_cache_repo_is_a_repository_reached_like_a_push(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        tag="app:1",
        cache_repo="registry.example.com/team/app-cache",
        cache_mode="read",
        insecure_registry=("registry.example.com",),
        username="ci",
        password_stdin=True,
    )
    repo = options.cache_repo
    assert repo.reference.registry == "registry.example.com"
    assert repo.reference.normalized_path == "team/app-cache"
    assert not repo.writable
    assert repo.registry.insecure_registries == ("registry.example.com",)
    assert repo.registry.credentials.username == "ci"
    assert options.push_options is None


def test_credentials_go_to_the_cache_repo_only_on_the_registry_pushed_to(tmp_path: Path) -> None:
    options = _options(
        tmp_path,
        tag="ghcr.io/team/app:1",
        push=True,
        cache_repo="registry.example.com/cache",
        username="ci",
        password_stdin=True,
    )
    assert options.push_options.credentials.username == "ci"
    assert options.cache_repo.registry.credentials is None  # Docker's config for that one


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"tag": "x", "cache_repo": "reg.example.com/cache:v1"}, "names a repository, not a tag"),
        ({"tag": "x", "cache_repo": "Bad Name"}, "invalid"),
        ({"tag": "x", "username": "ci"}, "need --push"),
    ],
)
def test_bad_cache_repo_options_are_usage_errors(
    tmp_path: Path, flags: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        _options(tmp_path, **flags)


def test_ccache_settings_come_from_the_environment_and_the_flag(tmp_path: Path) -> None:
    environ = {"CCACHE_NAMESPACE": "ci", "CCACHE_SECONDARY_STORAGE": "redis://old", "HOME": "/h"}
    options = _options(tmp_path, environ, tag="x")
    assert dict(options.ccache_env) == {
        "CCACHE_NAMESPACE": "ci",
        "CCACHE_SECONDARY_STORAGE": "redis://old",
    }
    options = _options(tmp_path, environ, tag="x", ccache_remote_storage="redis://10.0.0.5:6379")
    assert dict(options.ccache_env) == {
        "CCACHE_NAMESPACE": "ci",
        "CCACHE_REMOTE_STORAGE": "redis://10.0.0.5:6379",
    }


def test_a_storage_password_never_shows() -> None:
    assert redacted("redis://:s3cret@cache:6379|read-only") == "redis://cache:6379"
    assert redacted("redis://ci:s3cret@cache") == "redis://ci@cache"
    assert redacted("http://cache:8080/ccache|layout=flat") == "http://cache:8080/ccache"


# --- trees ---------------------------------------------------------------------------------------


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


# --- cache info and prune ------------------------------------------------------------------------


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


# --- progress in CI logs -------------------------------------------------------------------------


def test_a_long_stage_says_every_interval_it_is_alive_and_what_it_does() -> None:
    stream = io.StringIO()
    log = Log(stream=stream, heartbeat=0.05)
    with log.stage("compile") as stage, log.progress(lambda: "C compilation, 3 of 7"):
        time.sleep(0.2)
        stage.summary = "done"
    lines = stream.getvalue().splitlines()
    assert any("still running: C compilation, 3 of 7" in line for line in lines[:-1])
    assert lines[-1].startswith("compile ")
    assert lines[-1].endswith("done")


def test_quiet_means_no_progress_lines() -> None:
    stream = io.StringIO()
    log = Log(verbosity=-1, stream=stream, heartbeat=0.05)
    with log.stage("compile"), log.progress(lambda: "busy"):
        time.sleep(0.2)
    assert stream.getvalue() == ""


def test_nuitka_progress_follows_its_phases_and_counts_object_files(tmp_path: Path) -> None:
    progress = NuitkaProgress(tmp_path)
    assert progress.describe() == "Nuitka: starting"
    progress.line("Nuitka: Starting Python compilation with:\n")
    assert "Python-level" in progress.describe()
    progress.line("Nuitka: Running C compilation via Scons.\n")
    build = tmp_path / "hello.build"
    (build / "static_src").mkdir(parents=True)
    for name in ("a.c", "b.c", "static_src/c.c", "a.o"):
        (build / name).write_text("")
    assert progress.describe() == "C compilation, 1 of 3 C files compiled"
    for name in ("b.o", "static_src/c.o"):
        (build / name).write_text("")
    assert progress.describe() == "C compilation: all 3 C files compiled, linking"
