"""Same inputs, same bytes; an app-only change touches the app's layer only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID

pytestmark = pytest.mark.integration

SOURCE = (EXAMPLES / "hello" / "hello.py").read_text()


def _build(app: Path, out: Path, *, cwd: Path, umask: int, tz: str, seed: str) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pybin2img",
            "build",
            str(app),
            "-t",
            "repro:1",
            "-o",
            str(out),
            "-q",
        ],
        cwd=cwd,
        env={**os.environ, "TZ": tz, "PYTHONHASHSEED": seed, "SOURCE_DATE_EPOCH": "1700000000"},
        preexec_fn=lambda: os.umask(umask),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def _layers(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return list(json.loads(tar.extractfile("manifest.json").read())[0]["Layers"])  # type: ignore[union-attr]


def test_two_builds_in_different_conditions_are_byte_identical(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "hello.py").write_text(SOURCE)
    os.utime(one / "hello.py", (1, 1))
    (two / "hello.py").write_text(SOURCE)
    os.utime(two / "hello.py", (2_000_000_000, 2_000_000_000))
    first = _build(one / "hello.py", one / "a.tar", cwd=one, umask=0o022, tz="UTC", seed="1")
    second = _build(
        two / "hello.py", two / "b.tar", cwd=Path("/"), umask=0o077, tz="Asia/Tokyo", seed="2"
    )
    assert first == second
    assert (one / "a.tar").read_bytes() == (two / "b.tar").read_bytes()


def test_an_app_only_change_changes_only_the_app_and_sbom_layers(tmp_path: Path) -> None:
    app = tmp_path / "hello.py"
    app.write_text(SOURCE)
    kwargs = {"cwd": tmp_path, "umask": 0o022, "tz": "UTC", "seed": "0"}
    _build(app, tmp_path / "before.tar", **kwargs)  # type: ignore[arg-type]
    app.write_text(SOURCE.replace("Hello from", "Greetings from"))
    _build(app, tmp_path / "after.tar", **kwargs)  # type: ignore[arg-type]
    before, after = _layers(tmp_path / "before.tar"), _layers(tmp_path / "after.tar")
    assert len(before) == len(after)
    assert before[:3] == after[:3], "base, system libraries and dependencies must not change"
    assert before[3] != after[3], "the app's layer must change"
    # Above it only the SBOM's, which names the binary's new hash (a few kB).
    (sbom,) = before[4:]
    with tarfile.open(tmp_path / "after.tar") as tar:
        assert tar.getmember(after[4]).size < 64 << 10
    assert sbom != after[4]


def test_concurrent_builds_sharing_the_cache(tmp_path: Path) -> None:
    """Two builds of a new app at once: one compiles, the other waits for it and reuses it."""
    app = tmp_path / "hello.py"
    app.write_text(SOURCE + f"# {RUN_ID}\n")  # new to a warm compile cache too
    argv = [sys.executable, "-m", "pybin2img", "build", str(app), "-t", "same:1"]
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    procs = [
        subprocess.Popen(
            [*argv, "-o", str(tmp_path / f"{i}.tar")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert results[0][0] == results[1][0]
    compiles = [err for _, err in results if "(cached)" not in err]
    assert len(compiles) == 1, "exactly one of the two builds compiled"
    assert (tmp_path / "0.tar").read_bytes() == (tmp_path / "1.tar").read_bytes()
