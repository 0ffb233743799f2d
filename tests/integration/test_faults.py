"""Faults made for real: every one ends in a clear error with its documented exit code, or heals
itself; none ends in a traceback, a corrupt tarball or files left behind.

- damaged cache entries (a flipped byte that keeps size and mtime): one warning, the same digest;
- the cache or the output on a full filesystem (a small tmpfs);
- ``kill -9`` of pybin2img during the compile, the write and the push, then the same command:
  the digest of a clean build, and no stale files in the output folder or the cache;
- the registry killed in the middle of a push and started again;
- a second Docker engine, of this test's own, killed during ``--load`` and the smoke test;
- two builds writing the same ``-o`` at once;
- a cache directory that cannot be written, and one that belongs to another user.

Builds use examples/hello with a fixed tag and SOURCE_DATE_EPOCH, so every successful one must
give the same digest. A build with a cache of its own shares Nuitka's module cache and ccache
with the default cache, so its compile takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import requests

from pybin2img.errors import EngineError, HostError, ImageWriteError, RegistryError
from pybin2img.options import cache_dir
from tests.conftest import require
from tests.imagegen import write_test_image
from tests.integration.conftest import EXAMPLES
from tests.integration.test_push import ThrowawayRegistry
from tests.unit.test_cache import flip_byte

pytestmark = pytest.mark.integration

HELLO = str(EXAMPLES / "hello" / "hello.py")
TAG = "faults/hello:1"
SHARED = cache_dir(os.environ)
NOBODY = 65534


def _env(cache: Path | None = None, **extra: str) -> dict[str, str]:
    """The build's environment: a fixed epoch, and a cache of its own if given (sharing only
    Nuitka's module cache and ccache with the default one)."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000", **extra}
    if cache is not None:
        env["PYBIN2IMG_CACHE_DIR"] = str(cache)
        env["NUITKA_CACHE_DIR_MODULE_CACHE"] = str(SHARED / "nuitka" / "module-cache")
        env["NUITKA_CACHE_DIR_CCACHE"] = str(SHARED / "nuitka" / "ccache")
    return env


def _argv(out: Path, *extra: str, tag: str = TAG) -> list[str]:
    """``pybin2img build`` of hello; the image is started only when a test asks for it."""
    start = [] if "--smoke-test" in extra else ["--no-start-check"]
    build = ["build", HELLO, "-t", tag, "-o", str(out), *start, *extra]
    return [sys.executable, "-m", "pybin2img", *build]


def _build(
    out: Path, *extra: str, env: dict[str, str], code: int = 0, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        _argv(out, *extra), env=env, capture_output=True, text=True, timeout=600, **kwargs
    )
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    if code != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("pybin2img: ")]
        assert len(errors) == 1, proc.stderr
        assert errors[0].startswith("pybin2img: error: "), proc.stderr
        assert proc.stdout == ""
    return proc


def _error(proc: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in proc.stderr.splitlines() if line.startswith("pybin2img: error"))


def _leftovers(*folders: Path) -> list[Path]:
    """Temporary files of pybin2img's in ``folders`` (outputs, the cache's areas)."""
    found = []
    for folder in folders:
        if folder.is_dir():
            found += [p for p in folder.rglob(".*") if ".partial-" in p.name or ".new-" in p.name]
    return found


def _assert_cache_clean(cache: Path) -> None:
    """No work directory, staging directory or temporary file is left, every dist entry is
    complete (has its manifest), and no program started for a build runs on."""
    assert not list((cache / "tmp").iterdir()), list((cache / "tmp").iterdir())
    assert not _leftovers(cache)
    for entry in (cache / "dists").iterdir() if (cache / "dists").is_dir() else ():
        if entry.is_dir():
            assert (entry / "manifest.json").is_file(), f"{entry} is not complete"


@pytest.fixture(scope="module")
def clean_digest(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The digest of hello built with nothing wrong (the default cache)."""
    out = tmp_path_factory.mktemp("clean") / "hello.tar"
    return _build(out, env=_env()).stdout.strip()


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory, clean_digest: str) -> Path:
    """A cache of this module's own, holding hello compiled (copied by tests that damage it)."""
    cache = tmp_path_factory.mktemp("warm") / "cache"
    out = cache.parent / "hello.tar"
    assert _build(out, env=_env(cache)).stdout.strip() == clean_digest
    return cache


def _copy(cache: Path, dest: Path) -> Path:
    shutil.copytree(cache, dest, symlinks=True)
    return dest


@pytest.fixture
def root_only() -> None:
    require(os.geteuid() == 0, "mounting a tmpfs and changing owners needs root")


@contextmanager
def tmpfs(path: Path, size: str, *options: str) -> Iterator[Path]:
    """A small tmpfs at ``path`` (a filesystem that really fills up, or is read-only)."""
    path.mkdir(parents=True, exist_ok=True)
    opts = ",".join([f"size={size}", *options])
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def _fill(path: Path, leave: int) -> Path:
    """A file that takes all the free space of ``path``'s filesystem but ``leave`` bytes."""
    st = os.statvfs(path)
    ballast = path / "ballast"
    with ballast.open("wb") as f:
        f.truncate(0)
        remaining = st.f_bavail * st.f_frsize - leave
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= f.write(chunk[: min(len(chunk), remaining)])
    return ballast


# --- damaged cache entries ---------------------------------------------------------------------


def test_damaged_dist_and_blob_are_rebuilt_to_the_clean_digest(
    tmp_path: Path, clean_digest: str, warm_cache: Path
) -> None:
    cache = _copy(warm_cache, tmp_path / "cache")
    first = _build(tmp_path / "a.tar", env=_env(cache))
    assert first.stdout.strip() == clean_digest
    (entry,) = [p for p in (cache / "dists").iterdir() if p.is_dir()]
    flip_byte(entry / "dist" / "hello", 4096)
    blob = next(p for p in (cache / "blobs").rglob("*") if p.is_file() and p.suffix != ".json")
    flip_byte(blob, 64)
    healed = _build(tmp_path / "b.tar", env=_env(cache))
    warnings = [line for line in healed.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, healed.stderr
    assert warnings[0].startswith(f"pybin2img: warning: cached dist {entry} is damaged")
    assert "(dist/hello changed)" in warnings[0]
    assert warnings[1].startswith(f"pybin2img: warning: cached layer blob {blob} is damaged")
    assert healed.stdout.strip() == clean_digest
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    quiet = _build(tmp_path / "c.tar", env=_env(cache))
    assert "warning" not in quiet.stderr
    assert "(cached)" in quiet.stderr
    _assert_cache_clean(cache)


# --- full filesystems --------------------------------------------------------------------------


def test_cache_on_a_full_filesystem(
    root_only: None, tmp_path: Path, clean_digest: str, warm_cache: Path
) -> None:
    out = tmp_path / "out"
    with tmpfs(tmp_path / "small", "64m") as small:
        cache = small / "cache"
        ballast = _fill(small, leave=256 << 10)
        full = _build(out / "hello.tar", env=_env(cache), code=HostError.exit_code)
        assert f"cache directory {cache}" in _error(full)
        assert "No space left on device; free some space" in _error(full)
        ballast.unlink()
        _assert_cache_clean(cache)
        shutil.rmtree(cache)
        _copy(warm_cache, cache)  # the compile done: room for the dist, not for the layers
        assert _build(out / "hello.tar", env=_env(cache)).stdout.strip() == clean_digest
        ballast = _fill(small, leave=2 << 20)
        full = _build(out / "again.tar", env=_env(cache), code=HostError.exit_code)
        assert "No space left on device" in _error(full), full.stderr
        ballast.unlink()
        _assert_cache_clean(cache)
        assert _build(out / "again.tar", env=_env(cache)).stdout.strip() == clean_digest
    assert sorted(p.name for p in out.iterdir()) == [
        "again.sbom.cdx.json",
        "again.tar",
        "hello.sbom.cdx.json",
        "hello.tar",
    ]


def test_output_on_a_full_filesystem(root_only: None, tmp_path: Path, clean_digest: str) -> None:
    with tmpfs(tmp_path / "out", "2m") as out:
        full = _build(out / "hello.tar", env=_env(), code=ImageWriteError.exit_code)
        assert "No space left on device" in _error(full)
        assert list(out.iterdir()) == []


# --- kill -9 -----------------------------------------------------------------------------------


def _wait_for(condition: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_kill_9_during_the_compile(tmp_path: Path, clean_digest: str) -> None:
    cache, out = tmp_path / "cache", tmp_path / "out"
    proc = subprocess.Popen(
        _argv(out / "hello.tar"), env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    records = lambda: list((cache / "tmp").glob("build-*/.processes"))  # noqa: E731
    _wait_for(records, "Nuitka to start")
    time.sleep(1)
    nuitka_group = int(records()[0].read_text().split()[0])
    proc.kill()
    proc.communicate()
    again = _build(out / "hello.tar", env=_env(cache))
    assert again.stdout.strip() == clean_digest
    assert not _alive(nuitka_group), "the next build stopped what the killed one left running"
    _assert_cache_clean(cache)
    assert sorted(p.name for p in out.iterdir()) == ["hello.sbom.cdx.json", "hello.tar"]


def test_kill_9_during_the_write(tmp_path: Path, clean_digest: str, warm_cache: Path) -> None:
    cache, out = _copy(warm_cache, tmp_path / "cache"), tmp_path / "out"
    shutil.rmtree(cache / "blobs")  # every layer is compressed again: a longer write
    out.mkdir()
    proc = subprocess.Popen(
        _argv(out / "hello.tar"), env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    _wait_for(lambda: list((cache / "tmp").glob("build-*/layer-*.tar")), "the write to start")
    proc.kill()
    proc.communicate()
    assert _leftovers(out), "the killed build left its partial tarball"
    assert list((cache / "tmp").iterdir()), "and its work directory"
    again = _build(out / "hello.tar", env=_env(cache))
    assert again.stdout.strip() == clean_digest
    _assert_cache_clean(cache)
    assert sorted(p.name for p in out.iterdir()) == ["hello.sbom.cdx.json", "hello.tar"]


# --- pushing -----------------------------------------------------------------------------------


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[ThrowawayRegistry]:
    require(shutil.which("docker-registry"), "docker-registry not installed")
    registry = ThrowawayRegistry(tmp_path / "registry")
    registry.start()
    try:
        yield registry
    finally:
        registry.kill()


@pytest.fixture
def big_image(tmp_path: Path) -> tuple[Path, str]:
    """An image with 32 MiB that does not compress: a push takes long enough to interrupt."""
    written = write_test_image(
        tmp_path / "big.tar",
        [{"etc/passwd": b"root:x:0:0::/:/sbin/nologin\n"}, {"app/data.bin": os.urandom(32 << 20)}],
    )
    return written.path, written.manifest_digest


def _uploading(registry: ThrowawayRegistry) -> bool:
    """Whether the registry has an upload session open (a blob being received)."""
    return any(
        p.name == "_uploads" and any(p.iterdir())
        for p in (registry.root / "storage").rglob("_uploads")
    )


def _tag_is_whole(registry: ThrowawayRegistry, repository: str, tag: str) -> str | None:
    """The digest the tag names after checking that every blob of it is in the registry, or
    ``None`` when there is no such tag."""
    base = f"http://{registry.address}/v2/{repository}"
    accept = "application/vnd.oci.image.manifest.v1+json"
    answer = requests.get(f"{base}/manifests/{tag}", headers={"Accept": accept}, timeout=10)
    if answer.status_code == 404:
        return None
    answer.raise_for_status()
    manifest = answer.json()
    for blob in [manifest["config"], *manifest["layers"]]:
        head = requests.head(f"{base}/blobs/{blob['digest']}", timeout=10)
        assert head.status_code == 200, f"{tag} names a manifest whose blob {blob} is missing"
    return str(answer.headers["Docker-Content-Digest"])


def _push(tarball: Path, reference: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pybin2img", "push", str(tarball), reference],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_9_during_the_push(
    registry: ThrowawayRegistry, big_image: tuple[Path, str], tmp_path: Path
) -> None:
    tarball, digest = big_image
    reference = f"{registry.address}/app:1"
    proc = _push(tarball, reference)
    _wait_for(lambda: _uploading(registry), "the upload to start", timeout=60)
    proc.kill()
    proc.communicate()
    assert _tag_is_whole(registry, "app", "1") is None, "no tag before every blob is there"
    again = _push(tarball, reference)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert stdout.strip() == f"{reference}@{digest}"
    assert _tag_is_whole(registry, "app", "1") == digest


def test_registry_stopped_mid_push_and_started_again(
    registry: ThrowawayRegistry, big_image: tuple[Path, str], tmp_path: Path
) -> None:
    before = write_test_image(tmp_path / "before.tar", [{"app/msg": b"before\n"}])
    reference = f"{registry.address}/app:1"
    first = _push(before.path, reference)
    first.communicate(timeout=120)
    assert first.returncode == 0
    tarball, digest = big_image
    proc = _push(tarball, reference)
    _wait_for(lambda: _uploading(registry), "the upload to start", timeout=60)
    registry.kill()
    # Whatever a client could see while it is down: a tag is whole or absent, never half.
    time.sleep(1)
    registry.start()
    stdout, stderr = proc.communicate(timeout=300)
    assert "Traceback" not in stderr
    if proc.returncode != 0:
        assert proc.returncode == RegistryError.exit_code, stderr
        assert stderr.startswith("pybin2img: error: "), stderr
        assert _tag_is_whole(registry, "app", "1") == before.manifest_digest
        retry = _push(tarball, reference)
        stdout, stderr = retry.communicate(timeout=300)
        assert retry.returncode == 0, stderr
    assert stdout.strip() == f"{reference}@{digest}"
    assert _tag_is_whole(registry, "app", "1") == digest


# --- a Docker engine that dies -----------------------------------------------------------------


class Engine:
    """A second dockerd of this test's own (its own socket, data root and containerd), so that
    killing it harms no other test; reached through a proxy that kills it (``SIGKILL``) once a
    request whose first line contains ``trigger`` has started to arrive."""

    def __init__(self, trigger: bytes) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="p2i-engine-", dir="/tmp"))
        self.socket = self.dir / "docker.sock"
        self.proxy = self.dir / "proxy.sock"
        self.trigger = trigger
        self.fired = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.server: socket.socket | None = None

    def start(self) -> None:
        with (self.dir / "log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    # A network namespace of its own: a dockerd without a bridge deletes the
                    # host's docker0 at start, which would cut off the shared engine's containers.
                    "unshare",
                    "--net",
                    "dockerd",
                    f"--data-root={self.dir / 'data'}",
                    f"--exec-root={self.dir / 'exec'}",
                    f"--pidfile={self.dir / 'docker.pid'}",
                    f"--host=unix://{self.socket}",
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                    f"--containerd-namespace=p2i-{self.dir.name}",
                    f"--containerd-plugins-namespace=p2i-{self.dir.name}-plugins",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not self._answers():
            assert self.proc.poll() is None, (self.dir / "log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second engine did not start"
            time.sleep(0.2)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(self.proxy))
        server.listen(16)
        threading.Thread(target=self._serve, args=(server,), daemon=True).start()

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket))
                s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
                return b"200 OK" in s.recv(100)
        except OSError:
            return False

    def _serve(self, server: socket.socket) -> None:
        self.server = server
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            try:
                upstream.connect(str(self.socket))
            except OSError:
                client.close()
                upstream.close()
                continue
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, dest: socket.socket, watch: bool) -> None:
        seen = b""
        try:
            while data := source.recv(1 << 16):
                dest.sendall(data)
                window, seen = seen + data, data[-len(self.trigger) :]
                if watch and not self.fired.is_set() and self.trigger in window:
                    self.fired.set()
                    self.kill()
        except OSError:
            pass
        finally:
            for s in (source, dest):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def remove(self) -> None:
        self.kill()
        if self.server is not None:
            self.server.close()
        containerd = self.dir / "exec" / "containerd" / "containerd.pid"
        if containerd.is_file():
            with suppress(ValueError, ProcessLookupError):
                os.kill(int(containerd.read_text()), signal.SIGKILL)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(str(self.dir))
        ]
        for mount in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def engine_killed_at(trigger: bytes) -> Iterator[Engine]:
    require(shutil.which("dockerd"), "dockerd not installed")
    require(os.geteuid() == 0, "a second Docker engine needs root")
    engine = Engine(trigger)
    try:
        engine.start()
        yield engine
    finally:
        engine.remove()


def test_engine_killed_during_load(tmp_path: Path, clean_digest: str) -> None:
    with engine_killed_at(b"/images/load") as engine:
        env = _env(DOCKER_HOST=f"unix://{engine.proxy}")
        proc = _build(tmp_path / "hello.tar", "--load", env=env, code=EngineError.exit_code)
        assert engine.fired.is_set()
    assert "the Docker engine failed while loading" in _error(proc), proc.stderr
    assert not _leftovers(tmp_path)


def test_engine_killed_during_the_smoke_test(tmp_path: Path, clean_digest: str) -> None:
    with engine_killed_at(b"/containers/create") as engine:
        env = _env(DOCKER_HOST=f"unix://{engine.proxy}")
        proc = _build(tmp_path / "hello.tar", "--smoke-test", env=env, code=EngineError.exit_code)
        assert engine.fired.is_set()
    assert _error(proc).startswith("pybin2img: error: smoke test: the Docker engine failed")
    assert list(tmp_path.iterdir()) == [], "an image whose smoke test did not pass is not kept"


# --- two builds, one output --------------------------------------------------------------------


def test_two_builds_writing_the_same_output(tmp_path: Path, clean_digest: str) -> None:
    out = tmp_path / "hello.tar"
    procs = [
        subprocess.Popen(
            _argv(out, tag=f"faults/hello:{n}"),
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    digests = {stdout.strip().rsplit("@", 1)[1] for stdout, _ in results}
    assert len(digests) == 2
    report = subprocess.run(
        [sys.executable, "-m", "pybin2img", "inspect", "--json", str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(report.stdout)["digest"] in digests, "one of the two, complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.sbom.cdx.json", "hello.tar"]


# --- caches that cannot be used ----------------------------------------------------------------


def test_cache_that_cannot_be_written(root_only: None, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "1m", "ro") as cache:
        proc = _build(tmp_path / "hello.tar", env=_env(cache), code=HostError.exit_code)
    assert _error(proc) == (
        f"pybin2img: error: cache directory {cache}: cannot write to it: Read-only file system; "
        "set PYBIN2IMG_CACHE_DIR to a folder you can write"
    )
    assert not (tmp_path / "hello.tar").exists()


def test_cache_of_another_user(root_only: None, tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, NOBODY, NOBODY)
    proc = _build(tmp_path / "hello.tar", env=_env(theirs), code=HostError.exit_code)
    assert f"cache directory {theirs} belongs to user nobody ({NOBODY})" in _error(proc)
    assert list(theirs.iterdir()) == [], "nothing was written into another user's cache"
