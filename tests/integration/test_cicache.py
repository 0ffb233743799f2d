"""CI runners that start empty and share a cache: a cache repository on the real registry
(127.0.0.1:5000, ci/start-registry.sh) and ccache's remote storage on a real Redis
(127.0.0.1:6379, ci/start-redis.sh). Each runner is a separate empty PYBIN2IMG_CACHE_DIR.

  A  compiles examples/hello cold and uploads (the one cold compile of this module);
  B  builds the same commit: downloads the dist, no compile, the same digest;
  C  builds a one-line change read-only (a pull request): Nuitka's module cache from the
     repository, the C compiles from Redis, nothing uploaded.

Then a registry and a Redis that are down, slow (stopped with SIGSTOP) or refusing (credentials,
a password) only make a build slower: one warning line each, and the same image as C's. Those
runners start from C's Nuitka and ccache files, so that their local compile takes seconds.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from pybin2img.cache import Cache, file_digest
from pybin2img.compile.ccache import probe
from pybin2img.compile.distcache import new_entry
from pybin2img.compile.remotecache import RemoteCache
from pybin2img.log import Log
from pybin2img.options import CacheRepoOptions
from pybin2img.reference import parse_reference
from pybin2img.registry import RegistryOptions
from tests.conftest import require
from tests.integration.conftest import EXAMPLES, OPEN_REGISTRY, RUN_ID, pybin2img
from tests.integration.test_push import REGISTRY_DIR, ThrowawayRegistry

pytestmark = pytest.mark.integration

REGISTRY = OPEN_REGISTRY
BASIC = "127.0.0.1:5001"
REDIS = "redis://127.0.0.1:6379"
CACHE_REPO = f"{REGISTRY}/pybin2img-test/cicache-{RUN_ID}"
#: Keeps this run's C objects apart from earlier runs' in the shared Redis.
NAMESPACE = f"pybin2img-test-{RUN_ID}"


@dataclass(frozen=True)
class Build:
    cache: Path
    digest: str
    stderr: str
    seconds: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _build(app: Path, cache: Path, *args: str, redis: str | None = REDIS, **env: str) -> Build:
    """``pybin2img build -v`` as a CI runner with ``cache`` as its cache directory."""
    environ = {
        **os.environ,
        "PYBIN2IMG_CACHE_DIR": str(cache),
        "CCACHE_NAMESPACE": NAMESPACE,
        "DOCKER_CONFIG": str(cache.parent / f"{cache.name}-docker"),  # no stored credentials
        **env,
    }
    environ.pop("CCACHE_REMOTE_STORAGE", None)
    if redis:
        environ["CCACHE_REMOTE_STORAGE"] = redis
    tarball = cache.parent / f"{cache.name}.tar"
    start = time.monotonic()
    proc = pybin2img(
        "build", str(app), "-t", f"pybin2img-test/cicache:{RUN_ID}", "-o", str(tarball), "-v",
        *args, env=environ, timeout=900,
    )  # fmt: skip
    seconds = time.monotonic() - start
    return Build(cache=cache, digest=proc.stdout.strip(), stderr=proc.stderr, seconds=seconds)


def _warnings(build: Build) -> list[str]:
    return [line for line in build.stderr.splitlines() if line.startswith("pybin2img: warning:")]


def _warm_copy(source: Path, dest: Path) -> Path:
    """A runner that has ``source``'s Nuitka and ccache files but none of its dists."""
    shutil.copytree(source / "nuitka", dest / "nuitka", symlinks=True)
    return dest


@pytest.fixture(scope="module")
def services(open_registry: str) -> None:
    require(probe(REDIS) is None, f"no Redis on {REDIS} (run ci/start-redis.sh)")
    require(shutil.which("ccache"), "ccache not installed")


@dataclass(frozen=True)
class Runners:
    app: Path
    a: Build
    b: Build
    c: Build


@pytest.fixture(scope="module")
def runners(services: None, tmp_path_factory: pytest.TempPathFactory) -> Runners:
    work = tmp_path_factory.mktemp("cicache")
    app = work / "app" / "hello.py"
    app.parent.mkdir()
    shutil.copy(EXAMPLES / "hello" / "hello.py", app)
    a = _build(app, work / "runner-a", "--cache-repo", CACHE_REPO)
    b = _build(app, work / "runner-b", "--cache-repo", CACHE_REPO)
    # The same path (the compile key has it), one line changed: a pull request's runner.
    app.write_text(app.read_text().replace("Hello from a pybin2img image!", "Hello from C!"))
    c = _build(app, work / "runner-c", "--cache-repo", CACHE_REPO, "--cache-mode", "read")
    return Runners(app=app, a=a, b=b, c=c)


def _index(tag_prefix: str) -> dict[str, Any]:
    repository = CACHE_REPO.split("/", 1)[1]
    tags = requests.get(f"http://{REGISTRY}/v2/{repository}/tags/list", timeout=10).json()["tags"]
    (tag,) = [t for t in tags if t.startswith(tag_prefix)]
    response = requests.get(
        f"http://{REGISTRY}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    )
    return dict(response.json())


def test_first_runner_compiles_uploads_and_says_it_is_alive(runners: Runners) -> None:
    a = runners.a
    assert "dist uploaded under dist-" in a.stderr
    assert "Nuitka's module cache under nuitka-" in a.stderr
    assert re.search(r"ccache: \d+ C files: 0 local hits, 0 remote hits", a.stderr), a.stderr
    # No terminal: a long compile says every 30 s that it runs, and what Nuitka is doing.
    if a.seconds > 35:
        assert re.search(r"^compile +\d+\.\ds  still running: \S", a.stderr, re.M), a.stderr
    assert _warnings(a) == []


def test_second_runner_downloads_the_dist_and_gets_the_same_image(runners: Runners) -> None:
    a, b = runners.a, runners.b
    assert b.digest == a.digest
    assert "(from the cache repository)" in b.stderr
    assert "Nuitka" not in b.stderr.replace("Nuitka 4", "")  # no compile ran
    assert not (b.cache / "nuitka").exists()
    assert not (b.cache / "logs" / "hello.nuitka.log").exists()
    assert _warnings(b) == []


def test_a_one_line_change_compiles_from_the_shared_caches_without_uploading(
    runners: Runners,
) -> None:
    c = runners.c
    assert c.digest != runners.a.digest
    found = re.search(r"ccache: (\d+) C files: (\d+) local hits, (\d+) remote hits", c.stderr)
    assert found, c.stderr
    files, local, remote = map(int, found.groups())
    assert local == 0
    assert 1 <= remote < files  # the changed module's C is new, the rest comes from Redis
    assert re.search(r"Nuitka's module cache under nuitka-\w+, [1-9]\d* new files", c.stderr)
    assert "read only (--cache-mode read)" in c.stderr
    assert "uploaded" not in c.stderr
    assert len(_index("dist-")["manifests"]) == 1  # still only A's
    (entry,) = [p for p in (c.cache / "dists").iterdir() if p.is_dir()]
    ran = subprocess.run([entry / "dist" / "hello"], capture_output=True, text=True, check=True)
    assert "Hello from C!" in ran.stdout
    assert _warnings(c) == []


def test_registry_and_redis_down_make_a_local_compile(runners: Runners, tmp_path: Path) -> None:
    cache = _warm_copy(runners.c.cache, tmp_path / "runner-d")
    down = _build(
        runners.app,
        cache,
        "--cache-repo",
        f"127.0.0.1:{_free_port()}/pybin2img-test/down",
        redis=f"redis://127.0.0.1:{_free_port()}",
    )
    assert down.digest == runners.c.digest
    warnings = _warnings(down)
    assert len(warnings) == 2, down.stderr
    assert "cache repository" in warnings[0] or "cache repository" in warnings[1]
    assert any("connection refused" in w and "ccache remote storage" in w for w in warnings)


class ThrowawayRedis:
    """A redis-server of the test's own on a free port, with a password if given."""

    def __init__(self, root: Path, password: str | None = None) -> None:
        require(shutil.which("redis-server"), "redis-server not installed")
        self.port = _free_port()
        root.mkdir(parents=True)
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        argv += ["--appendonly", "no", "--dir", str(root)]
        if password:
            argv += ["--requirepass", password]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        url = f"redis://:{password}@127.0.0.1:{self.port}" if password else self.url
        deadline = time.monotonic() + 10
        while probe(url) is not None:
            assert self.proc.poll() is None, "the throwaway redis-server exited"
            assert time.monotonic() < deadline, "the throwaway redis-server did not start"
            time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def throwaways(tmp_path: Path) -> Iterator[tuple[ThrowawayRegistry, ThrowawayRedis]]:
    require(shutil.which("docker-registry"), "docker-registry not installed")
    registry = ThrowawayRegistry(tmp_path / "registry")
    registry.start()
    redis = ThrowawayRedis(tmp_path / "redis")
    try:
        yield registry, redis
    finally:
        assert registry.proc is not None
        if registry.proc.poll() is None:
            registry.proc.send_signal(signal.SIGCONT)
        registry.kill()
        redis.stop()


def test_a_registry_and_a_redis_that_stop_answering_make_a_local_compile(
    runners: Runners, throwaways: tuple[ThrowawayRegistry, ThrowawayRedis], tmp_path: Path
) -> None:
    registry, redis = throwaways
    assert registry.proc is not None
    registry.proc.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    redis.proc.send_signal(signal.SIGSTOP)
    cache = _warm_copy(runners.c.cache, tmp_path / "runner-e")
    slow = _build(
        runners.app,
        cache,
        "--cache-repo",
        f"{registry.address}/pybin2img-test/slow",
        redis=redis.url,
    )
    assert slow.digest == runners.c.digest
    warnings = _warnings(slow)
    assert len(warnings) == 2, slow.stderr
    assert any("ccache remote storage" in w and "no answer within" in w for w in warnings)
    assert any("cache repository" in w and "timed out" in w for w in warnings), warnings


def test_a_registry_and_a_redis_that_refuse_make_a_local_compile(
    runners: Runners, tmp_path: Path
) -> None:
    try:
        status = requests.get(f"http://{BASIC}/v2/", timeout=3).status_code
    except requests.RequestException:
        status = None
    require(status == 401, f"no Basic-auth registry on {BASIC} (run ci/start-registry.sh)")
    redis = ThrowawayRedis(tmp_path / "redis", password="right")
    try:
        cache = _warm_copy(runners.c.cache, tmp_path / "runner-f")
        refused = _build(
            runners.app,
            cache,
            "--cache-repo",
            f"{BASIC}/pybin2img-test/refusing",
            redis=f"redis://:wrong@127.0.0.1:{redis.port}",
        )
    finally:
        redis.stop()
    assert refused.digest == runners.c.digest
    warnings = _warnings(refused)
    assert len(warnings) == 2, refused.stderr
    assert any("requires authentication" in w for w in warnings), warnings
    assert any("refused the password" in w and "wrong" not in w for w in warnings), warnings


# --- what the repository holds, through the library ---------------------------------------------


def _remote(repository: str, log: Log) -> RemoteCache:
    options = CacheRepoOptions(
        reference=parse_reference(repository),
        registry=RegistryOptions(environ={"PATH": os.environ.get("PATH", "")}),
    )
    return RemoteCache(options, log)


def _fake_entry(cache: Cache, key: str, tmp_path: Path) -> Path:
    source = tmp_path / "app.py"
    source.write_text(f"print({key!r})\n")
    sources = {str(source): file_digest(source)}
    with new_entry(cache, key, sources) as staging:
        (staging / "dist").mkdir()
        (staging / "dist" / "app").write_bytes(os.urandom(4096))
        (staging / "contents.json").write_text('{"modules": ["__main__"], "distributions": []}')
    return next(p for p in cache.path("dists").iterdir() if p.is_dir())


def test_a_corrupt_blob_in_the_registry_is_a_miss_with_one_warning(
    services: None, tmp_path: Path
) -> None:
    storage = REGISTRY_DIR / "open" / "storage" / "docker" / "registry" / "v2" / "blobs"
    require(os.access(storage, os.W_OK), f"{storage} is not writable (the registry's storage)")
    key = f"corrupt{RUN_ID}"
    repository = f"{REGISTRY}/pybin2img-test/cicache-corrupt-{RUN_ID}"
    writer = Cache(tmp_path / "writer")
    entry = _fake_entry(writer, key, tmp_path)
    remote = _remote(repository, Log(verbosity=-1))
    remote.store_dist(writer, key, entry, "app")
    remote.close()
    # Every blob this entry made is unique (random bytes): flip one byte of the dist's layer
    # where the registry keeps it, as a failing disk would.
    layer = _layer_digest(repository, f"dist-{key}")
    data = storage / "sha256" / layer[7:9] / layer[7:] / "data"
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data.write_bytes(bytes(blob))

    stream = io.StringIO()
    reader = Cache(tmp_path / "reader")
    remote = _remote(repository, Log(stream=stream))
    assert remote.fetch_dist(reader, key, "app") is None
    remote.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1, stream.getvalue()
    assert "the registry sent content with digest" in lines[0]
    assert lines[0].endswith("; compiling locally")
    assert not any(p.is_dir() for p in reader.path("dists").glob("*"))


def _layer_digest(repository: str, tag: str) -> str:
    path = repository.split("/", 1)[1]
    accept = {"Accept": "application/vnd.oci.image.index.v1+json"}
    index = requests.get(f"http://{REGISTRY}/v2/{path}/manifests/{tag}", headers=accept, timeout=10)
    digest = index.json()["manifests"][0]["digest"]
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    manifest = requests.get(
        f"http://{REGISTRY}/v2/{path}/manifests/{digest}", headers=accept, timeout=10
    )
    return str(manifest.json()["layers"][0]["digest"])


def test_a_build_environment_travels_through_the_repository(services: None, tmp_path: Path) -> None:
    """Uploaded by one runner, downloaded by another into its own cache directory, where its
    interpreter (a link to this machine's Python) works."""
    import sys

    key = f"env{RUN_ID}"
    repository = f"{REGISTRY}/pybin2img-test/cicache-env-{RUN_ID}"
    env = tmp_path / "one" / "envs" / key
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    (env / "lib" / "marker.txt").write_text("from runner one\n")
    (env / ".pybin2img-ready").write_text("{}")
    remote = _remote(repository, Log(verbosity=-1))
    remote.store_env(Cache(tmp_path / "one"), key, env)
    remote.close()

    other = Cache(tmp_path / "two")  # a fresh runner: not even envs/ yet
    target = other.path("envs", key)
    remote = _remote(repository, Log(verbosity=-1))
    assert remote.fetch_env(other, key, target)
    remote.close()
    assert (target / "lib" / "marker.txt").read_text() == "from runner one\n"
    assert not (target / ".pybin2img-ready").exists()  # the marker is the local cache's own
    ran = subprocess.run(
        [target / "bin" / "python", "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.strip() == str(target)
