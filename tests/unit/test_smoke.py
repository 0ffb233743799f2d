"""The smoke test in an engine, against a stub of the Docker API on a unix socket: what the
engine answers at ``container.wait`` decides between "still running" (a timeout, a server
that keeps running), a pass, and a failure of the engine, which must never pass."""

from __future__ import annotations

import contextlib
import json
import shutil
import socketserver
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pybin2img.errors import EngineError, SmokeTestError
from pybin2img.log import Log
from pybin2img.ship.smoke import FAILURE_PATTERNS, run_smoke_test, smoke_test

IMAGE_ID = "sha256:" + "ab" * 32
CONTAINER = "c0ffee"


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class StubEngine:
    """Answers what the smoke test asks of an engine; ``wait`` answers as ``wait_mode`` says:
    ``exit`` (exit code 0), ``exit-N`` (exit code N), ``hang`` (headers at once, the body too
    late, as an engine does for a container still running), ``fail`` (500) or ``error`` (200
    with an Error)."""

    def __init__(self, wait_mode: str) -> None:
        self.wait_mode = wait_mode
        self.seen: list[str] = []

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        if path.startswith("/v1."):
            path = "/" + path.split("/", 2)[2]
        self.seen.append(f"{h.command} {path}")
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)
        container = f"/containers/{CONTAINER}"
        routes: dict[str, tuple[int, Any]] = {
            "GET /version": (200, {"ApiVersion": "1.41", "Version": "stub"}),
            "GET /_ping": (200, "OK"),
            f"GET /images/{IMAGE_ID}/json": (200, {"Id": IMAGE_ID}),
            "POST /containers/create": (201, {"Id": CONTAINER, "Warnings": []}),
            f"GET {container}/json": (200, {"Id": CONTAINER, "Config": {"Tty": False}}),
            f"POST {container}/start": (204, None),
            f"POST {container}/stop": (204, None),
            f"DELETE {container}": (204, None),
        }
        key = f"{h.command} {path}"
        if key == f"POST {container}/wait":
            return self._wait(h)
        if key == f"GET {container}/logs":
            frame = b"serving\n"
            return _reply(h, 200, struct.pack(">BxxxL", 1, len(frame)) + frame, "raw")
        status, body = routes.get(key, (404, {"message": f"stub: no route {key}"}))
        _reply(h, status, body)

    def _wait(self, h: BaseHTTPRequestHandler) -> None:
        if self.wait_mode == "exit":
            return _reply(h, 200, {"StatusCode": 0})
        if self.wait_mode.startswith("exit-"):
            return _reply(h, 200, {"StatusCode": int(self.wait_mode[len("exit-") :])})
        if self.wait_mode == "fail":
            return _reply(h, 500, {"message": "stub: cannot wait for the container"})
        if self.wait_mode == "error":
            return _reply(h, 200, {"StatusCode": 0, "Error": {"Message": "stub: wait broke"}})
        # hang: the engine sends the headers at once and the body when the container exits.
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        time.sleep(3)


def _reply(h: BaseHTTPRequestHandler, status: int, body: Any, kind: str = "json") -> None:
    data = (
        b""
        if body is None
        else body
        if kind == "raw"
        else body.encode()
        if isinstance(body, str)
        else json.dumps(body).encode()
    )
    h.send_response(status)
    h.send_header("Content-Type", "application/json" if kind == "json" else "text/plain")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[tuple[StubEngine, str]]:
    stub = StubEngine(request.param)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            # The client may give up first (a wait that timed out).
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stub.handle(self)

        do_GET = do_POST = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    # A short path: unix socket paths are limited to 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="p2i-engine-"))
    server = _UnixServer(str(directory / "docker.sock"), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub, f"unix://{directory / 'docker.sock'}"
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(directory, ignore_errors=True)


def _smoke(host: str, tmp_path: Path, timeout: float = 5, *, strict: bool = True) -> Any:
    return smoke_test(
        tarball=tmp_path / "unused.tar",  # the stub has the image: nothing is loaded
        image_id=IMAGE_ID,
        args=[],
        timeout=timeout,
        docker_env={"DOCKER_HOST": host},
        engine=True,
        strict=strict,
    )


@pytest.mark.parametrize("engine", ["fail", "error"], indirect=True)
def test_an_engine_failing_at_wait_fails_the_smoke_test(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    stub, host = engine
    with pytest.raises(EngineError, match=r"smoke test: the Docker engine failed: .*stub"):
        _smoke(host, tmp_path)
    assert f"POST /containers/{CONTAINER}/wait" in stub.seen
    # Not taken for a server still running: nothing stopped, and the container is removed.
    assert f"POST /containers/{CONTAINER}/stop" not in stub.seen
    assert stub.seen[-1] == f"DELETE /containers/{CONTAINER}"


@pytest.mark.parametrize("engine", ["hang"], indirect=True)
def test_a_wait_that_times_out_is_a_server_still_running(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    stub, host = engine
    result = _smoke(host, tmp_path, timeout=0.5)
    assert result.still_running
    assert result.exit_code is None
    assert result.output == "serving\n"
    assert f"POST /containers/{CONTAINER}/stop" in stub.seen


@pytest.mark.parametrize("engine", ["exit"], indirect=True)
def test_an_app_that_exits_0_passes(engine: tuple[StubEngine, str], tmp_path: Path) -> None:
    _, host = engine
    result = _smoke(host, tmp_path)
    assert (result.exit_code, result.still_running) == (0, False)
    assert result.where == "Docker engine"


@pytest.mark.parametrize("engine", ["exit-2"], indirect=True)
def test_the_start_check_leaves_a_non_zero_exit_to_the_app(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    """A CLI that wants arguments exits 2: not a broken image. The smoke test wants 0."""
    _, host = engine
    assert _smoke(host, tmp_path, strict=False).exit_code == 2
    with pytest.raises(SmokeTestError, match="exited with code 2"):
        _smoke(host, tmp_path)


@pytest.mark.parametrize("engine", ["exit-139"], indirect=True)
def test_the_start_check_fails_on_a_crash(engine: tuple[StubEngine, str], tmp_path: Path) -> None:
    _, host = engine
    with pytest.raises(SmokeTestError, match="exited with code 139"):
        _smoke(host, tmp_path, strict=False)


@pytest.mark.parametrize("engine", ["exit"], indirect=True)
def test_an_image_that_passed_its_start_check_is_not_started_again(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    """A rebuild with nothing changed writes the same bytes: its start check is already known.
    ``--smoke-test`` still runs every time."""
    stub, host = engine
    written = SimpleNamespace(
        path=tmp_path / "unused.tar", config_digest=IMAGE_ID, manifest_digest="sha256:" + "a" * 64
    )

    def options(smoke_test: str | None) -> Any:
        return SimpleNamespace(
            smoke_test=smoke_test,
            smoke_timeout=5.0,
            docker_env={"DOCKER_HOST": host},
            cache_dir=tmp_path / "cache",
        )

    first = run_smoke_test(options(None), written, Log(verbosity=-1))  # type: ignore[arg-type]
    assert first == "start check, Docker engine: exit code 0"
    started = stub.seen.count(f"POST /containers/{CONTAINER}/start")
    again = run_smoke_test(options(None), written, Log(verbosity=-1))  # type: ignore[arg-type]
    assert again == "start check: this exact image passed it before"
    assert stub.seen.count(f"POST /containers/{CONTAINER}/start") == started
    run_smoke_test(options(""), written, Log(verbosity=-1))  # type: ignore[arg-type]
    assert stub.seen.count(f"POST /containers/{CONTAINER}/start") == started + 1


@pytest.mark.parametrize(
    "output",
    [
        'ERROR:    Error loading ASGI app. Could not import module "app".',
        "ImportError: failed to find libmagic.  Check your installation",
        "failed to find libmagic",
    ],
)
def test_failure_patterns_of_frameworks(output: str) -> None:
    assert FAILURE_PATTERNS.search(output)


def test_a_volume_is_mounted_only_inside_the_image_root(tmp_path: Path) -> None:
    from pybin2img.ship.smoke import _directory_inside

    root = tmp_path / "rootfs"
    (root / "tmp").mkdir(parents=True)
    (root / "data").symlink_to(tmp_path)  # leads out of the root
    (root / "cache").symlink_to("tmp")  # stays inside
    assert _directory_inside(root, "/tmp")
    assert _directory_inside(root, "/cache")
    assert not _directory_inside(root, "/data")
    assert not _directory_inside(root, "/missing")
