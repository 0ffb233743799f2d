"""--trace on examples/filetype: libmagic, loaded through ctypes.util.find_library, and its
database are invisible to the ELF closure; the traced build finds both and the image, run
locked down, prints what the app prints on the host.

The example is compiled once: the build without --trace compiles, the traced one reuses the
dist from the cache.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.conftest import EXAMPLES, ROOT, RUN_ID, docker, pybin2img

pytestmark = pytest.mark.integration

LOCKED = ["--rm", "--read-only", "--network", "none", "--user", "65532", "--cap-drop", "ALL"]
APP = EXAMPLES / "filetype" / "filetype.py"
MAGIC = "/usr/share/misc/magic.mgc"


@dataclass(frozen=True)
class Build:
    reference: str
    tarball: Path
    stderr: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class Builds:
    plain: Build
    traced: Build


def _build(name: str, build_dir: Path, *extra: str) -> Build:
    reference = f"pybin2img-test/{name}:{RUN_ID}"
    tarball = build_dir / f"{name}.tar"
    meta = build_dir / f"{name}.json"
    proc = pybin2img(
        "build",
        str(APP),
        "-t",
        reference,
        "-o",
        str(tarball),
        "--load",
        "--metadata-file",
        str(meta),
        *extra,
    )
    return Build(reference, tarball, proc.stderr, json.loads(meta.read_text()))


@pytest.fixture(scope="module")
def builds(docker_engine: Any, build_dir: Path) -> Iterator[Builds]:
    """examples/filetype built twice: without --trace (the compile), then with it (cached)."""
    require(os.path.exists(MAGIC), f"libmagic's database ({MAGIC}) not installed")
    references = []
    try:
        plain = _build("filetype-plain", build_dir, "--no-start-check")
        references.append(plain.reference)
        traced = _build("filetype-traced", build_dir, "--trace", "-v")
        references.append(traced.reference)
        yield Builds(plain, traced)
    finally:
        for reference in references:
            docker_engine.images.remove(reference, force=True)


def _image_files(tarball: Path) -> set[str]:
    """Every path in the image's layers (absolute), read with tarfile from the Docker side of
    the tarball."""
    with tarfile.open(tarball) as outer:
        manifest = outer.extractfile("manifest.json")
        assert manifest is not None
        paths: set[str] = set()
        for layer in json.load(manifest)[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                paths |= {"/" + posixpath.normpath(m.name).lstrip("/") for m in inner}
    return paths


def _private() -> tuple[str, ...]:
    """The build's own places: nothing under them may be added to an image."""
    cache = os.environ.get("PYBIN2IMG_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pybin2img"
    )
    return (str(ROOT), str(Path.home()), cache, "/tmp", "/var/tmp")


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def test_without_trace_the_image_cannot_find_libmagic(builds: Builds) -> None:
    plain = builds.plain
    assert plain.metadata["trace"] is None
    proc = docker("run", *LOCKED, plain.reference, check=False)
    assert proc.returncode != 0, proc.stdout
    assert "failed to find libmagic" in proc.stderr
    assert not any("libmagic" in p for p in _image_files(plain.tarball))


def test_the_traced_build_reuses_the_compiled_dist(builds: Builds) -> None:
    compile_lines = [
        line for line in builds.traced.stderr.splitlines() if line.startswith("compile ")
    ]
    assert compile_lines, builds.traced.stderr
    assert "(cached)" in compile_lines[0], compile_lines


def test_with_trace_the_image_prints_what_the_app_prints_on_the_host(builds: Builds) -> None:
    traced = builds.traced
    proc = docker("run", *LOCKED, traced.reference, check=False)
    assert proc.returncode == 0, proc.stderr
    host = subprocess.run(
        [traced.metadata["python"]["executable"], str(APP)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert host.returncode == 0, host.stderr
    assert proc.stdout == host.stdout
    assert proc.stdout.splitlines() == ["application/gzip", "application/pdf", "text/plain"]


def test_the_trace_lists_libmagic_and_its_database_with_reasons(builds: Builds) -> None:
    traced = builds.traced
    trace = traced.metadata["trace"]
    assert trace["exit_code"] == 0
    libraries = {posixpath.basename(lib["path"]): lib for lib in trace["libraries"]}
    assert "libmagic.so.1" in libraries, trace["libraries"]
    assert libraries["libmagic.so.1"]["why"].startswith("dlopen(libmagic.so.1) by ")
    files = {f["path"]: f for f in trace["files"]}
    database = [p for p in files if os.path.realpath(p) == os.path.realpath(MAGIC)]
    assert database, trace["files"]
    # -v says why each was added, and what was not.
    library_path = libraries["libmagic.so.1"]["path"]
    assert f"trace: library {library_path}  (dlopen(libmagic.so.1) by " in traced.stderr
    assert f"trace: file {database[0]}  (opened by the app)" in traced.stderr
    assert "trace: not added " in traced.stderr
    assert "added by the trace)" in traced.stderr
    # Nothing of the build machine's private places is traced in.
    private = _private()
    for item in (*trace["libraries"], *trace["files"]):
        assert not _under(item["path"], private), item


def test_the_traced_image_adds_libmagic_and_its_database_only(builds: Builds) -> None:
    added = _image_files(builds.traced.tarball) - _image_files(builds.plain.tarball)
    assert any(posixpath.basename(p).startswith("libmagic.so.1") for p in added), sorted(added)
    assert any(posixpath.basename(p) == "magic.mgc" for p in added), sorted(added)
    private = _private()
    assert not [p for p in added if _under(p, private)], sorted(added)


@pytest.mark.parametrize("runner", ["Docker engine", "private namespaces"])
def test_the_traced_image_passes_its_smoke_test_in_both_runners(
    builds: Builds, tmp_path: Path, runner: str
) -> None:
    """ctypes.util.find_library runs ldconfig with its output to /dev/null: the namespace
    runner gives the image a /dev as engines do, so the image behaves the same in both."""
    env = dict(os.environ)
    if runner == "private namespaces":
        env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    proc = pybin2img(
        "build",
        str(APP),
        "-t",
        f"pybin2img-test/filetype-smoke:{RUN_ID}",
        "-o",
        str(tmp_path / "filetype.tar"),
        "--trace",
        "--smoke-test",
        env=env,
    )
    smoke = next(line for line in proc.stderr.splitlines() if line.startswith("smoke"))
    assert smoke.endswith(f"{runner}: exit code 0"), proc.stderr
