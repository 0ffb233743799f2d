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
from pybin2img.ship.smoke import (
    FAILURE_PATTERNS,
    ImportFailure,
    import_failure,
    missing_app_file,
    missing_attribute,
    missing_package_file,
    own_modules,
    run_smoke_test,
    smoke_test,
)

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
        #: What the container printed.
        self.output = b"serving\n"

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
            frame = self.output
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
        image_ids=(IMAGE_ID,),
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
    with pytest.raises(SmokeTestError, match=r"^smoke test \(.*\): the app exited with code 2$"):
        _smoke(host, tmp_path)


@pytest.mark.parametrize("engine", ["exit-139"], indirect=True)
def test_the_start_check_fails_on_a_crash(engine: tuple[StubEngine, str], tmp_path: Path) -> None:
    _, host = engine
    with pytest.raises(
        SmokeTestError,
        match=r"^start check \(.*\): the app exited with code 139 \(SIGSEGV\): a crash, not an "
        "exit the app chose$",
    ):
        _smoke(host, tmp_path, strict=False)


#: logging's dictConfig naming a formatter class of a package the image lacks (its name only in
#: a configuration file the build did not read), as the image printed it.
CONFIGURED_BY_NAME = (
    "Traceback (most recent call last):\n"
    '  File "/app/logging/config.py", line 407, in resolve\n'
    "ValueError: Cannot resolve 'pythonjsonlogger.json.JsonFormatter': No module named "
    "'pythonjsonlogger'\n"
    "\n"
    "The above exception was the direct cause of the following exception:\n"
    "\n"
    "Traceback (most recent call last):\n"
    '  File "/app/app.py", line 25, in <module>\n'
    '  File "/app/app.py", line 6, in main\n'
    '  File "/app/logging/config.py", line 823, in dictConfig\n'
    "ValueError: Unable to configure formatter 'j'\n"
)


@pytest.mark.parametrize("engine", ["exit-1"], indirect=True)
def test_a_module_the_image_lacks_says_how_to_compile_it_in(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    stub, host = engine
    stub.output = CONFIGURED_BY_NAME.encode()
    with pytest.raises(SmokeTestError) as failed:
        _smoke(host, tmp_path, strict=False)
    assert str(failed.value) == (
        "start check (Docker engine): the output shows 'No module named': the image has no "
        "module pythonjsonlogger; where the build environment has it, it is imported by a name "
        "the build does not read (a configuration file not shipped with --include-data, a name "
        "made at run time): --nuitka-arg=--include-package=pythonjsonlogger compiles it in"
    )
    # A standard library module gets no such advice: the image has what Nuitka ships of it.
    stub.output = CONFIGURED_BY_NAME.replace("'pythonjsonlogger'", "'xml'").encode()
    with pytest.raises(SmokeTestError, match=r"the output shows 'No module named'$"):
        _smoke(host, tmp_path, strict=False)


@pytest.mark.parametrize("engine", ["exit"], indirect=True)
def test_an_image_that_passed_its_start_check_is_not_started_again(
    engine: tuple[StubEngine, str], tmp_path: Path
) -> None:
    """A rebuild with nothing changed writes the same bytes: its start check is already known.
    ``--smoke-test`` still runs every time."""
    stub, host = engine
    written = SimpleNamespace(
        path=tmp_path / "unused.tar",
        config_digest=IMAGE_ID,
        manifest_digest="sha256:" + "a" * 64,
        layers=(),
    )

    def options(smoke_test: str | None) -> Any:
        return SimpleNamespace(
            smoke_test=smoke_test,
            smoke_timeout=5.0,
            docker_env={"DOCKER_HOST": host},
            cache_dir=tmp_path / "cache",
            workdir="/app",
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
        # typeguard's @typechecked on code the program has no source of
        '  File "/app/inspect.py", line 1081, in findsource\nOSError: could not get source code',
    ],
)
def test_failure_patterns_of_frameworks(output: str) -> None:
    assert FAILURE_PATTERNS.search(output)


def test_a_volume_is_mounted_only_inside_the_image_root(tmp_path: Path) -> None:
    from pybin2img.ship.runimage import _directory_inside

    root = tmp_path / "rootfs"
    (root / "tmp").mkdir(parents=True)
    (root / "data").symlink_to(tmp_path)  # leads out of the root
    (root / "cache").symlink_to("tmp")  # stays inside
    assert _directory_inside(root, "/tmp")
    assert _directory_inside(root, "/cache")
    assert not _directory_inside(root, "/data")
    assert not _directory_inside(root, "/missing")


# --- the app dying while a package is imported ------------------------------------------------

#: CPython's traceback of wordcloud failing at import (the interpreter's paths).
WORDCLOUD_CPYTHON = """\
Traceback (most recent call last):
  File "/src/app.py", line 1, in <module>
    import wordcloud
  File "/venv/lib/python3.11/site-packages/wordcloud/__init__.py", line 1, in <module>
    from .wordcloud import (WordCloud, STOPWORDS, random_color_func,
  File "/venv/lib/python3.11/site-packages/wordcloud/wordcloud.py", line 30, in <module>
    STOPWORDS = set(map(str.strip, open(os.path.join(FILE, 'stopwords')).readlines()))
                                   ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
FileNotFoundError: [Errno 2] No such file or directory: '/app/wordcloud/stopwords'
"""

#: A compiled app in the image (Nuitka 4.3): its module frames read ``<module>`` too, with
#: importlib's frames between them and the dist's paths.
SELFREAD_NUITKA = """\
Traceback (most recent call last):
  File "/app/app.py", line 46, in <module>
  File "/app/app.py", line 32, in main
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1147, in _find_and_load_unlocked
  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked
  File "/app/selfread/__init__.py", line 3, in <module>
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap>", line 1147, in _find_and_load_unlocked
  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked
  File "/app/selfread/source.py", line 3, in <module>
FileNotFoundError: [Errno 2] No such file or directory: '/app/selfread/source.py'
"""

#: A plugin module imported by name, through importlib's own frames.
PLUGIN_BY_NAME = """\
starting
Traceback (most recent call last):
  File "/app/app.py", line 5, in <module>
  File "/usr/lib/python3.11/importlib/__init__.py", line 126, in import_module
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "<frozen importlib._bootstrap>", line 1176, in _find_and_load
  File "<frozen importlib._bootstrap_external>", line 940, in exec_module
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/app/flake8/plugins/reporter.py", line 3, in <module>
  File "/app/flake8/plugins/reporter.py", line 2, in make
KeyError: 'default'

"""


#: Nuitka's standard library set without what its modules import (Debian's Python 3.11).
STDLIB_BY_NAME = """\
Traceback (most recent call last):
  File "/app/bytecode.py", line 60, in <module>
  File "/app/bytecode.py", line 23, in main
  File "/app/importlib/__init__.py", line 126, in import_module
  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import
  File "/app/mimetypes.py", line 29, in <module>
ModuleNotFoundError: No module named 'urllib'
"""


@pytest.mark.parametrize(
    ("output", "package", "module", "error"),
    [
        (
            WORDCLOUD_CPYTHON,
            "wordcloud",
            "wordcloud.wordcloud",
            "FileNotFoundError: [Errno 2] No such file or directory: '/app/wordcloud/stopwords'",
        ),
        (PLUGIN_BY_NAME, "flake8", "flake8.plugins.reporter", "KeyError: 'default'"),
        (
            STDLIB_BY_NAME,
            "mimetypes",
            "mimetypes",
            "ModuleNotFoundError: No module named 'urllib'",
        ),
        (
            SELFREAD_NUITKA,
            "selfread",
            "selfread.source",
            "FileNotFoundError: [Errno 2] No such file or directory: '/app/selfread/source.py'",
        ),
        (
            SELFREAD_NUITKA.replace(
                '/app/selfread/source.py", line 3, in <module>',
                '/app/selfread/source.py", line 3, in <module selfread.source>',
            ),
            "selfread",
            "selfread.source",
            "FileNotFoundError: [Errno 2] No such file or directory: '/app/selfread/source.py'",
        ),
    ],
)
def test_an_exception_raised_while_a_package_is_imported_is_a_broken_image(
    output: str, package: str, module: str, error: str
) -> None:
    failure = import_failure(1, output, frozenset({"app"}))
    assert failure == ImportFailure(package=package, module=module, error=error)
    message = failure.message("start check (Docker engine)")
    assert message.startswith(
        f"start check (Docker engine): the app died of an exception raised while the package "
        f"{package!r} was imported (module {module}): {error}"
    )


@pytest.mark.parametrize(
    ("code", "output"),
    [
        # the app's own error, a CLI's usage error
        (1, "error: /etc/app.toml: no such file\n"),
        (
            2,
            "Usage: app [OPTIONS]\nTry 'app --help' for help.\n\nError: Missing argument 'NAME'.\n",
        ),
        # a server stopped: the traceback goes through functions, no module being imported
        (
            1,
            "Traceback (most recent call last):\n"
            '  File "/app/server.py", line 20, in <module>\n'
            "    serve()\n"
            '  File "/app/server.py", line 12, in serve\n'
            '  File "/usr/lib/python3.11/socketserver.py", line 233, in serve_forever\n'
            "KeyboardInterrupt\n",
        ),
        # the app's own module refusing to import without its configuration (as the image
        # prints it: the standard library's frames are in /app too)
        (
            1,
            "Traceback (most recent call last):\n"
            '  File "/app/app.py", line 46, in <module>\n'
            '  File "/app/app.py", line 36, in main\n'
            '  File "<frozen importlib._bootstrap>", line 690, in _load_unlocked\n'
            '  File "/app/settings.py", line 5, in <module>\n'
            '  File "/app/os.py", line 679, in __getitem__\n'
            "KeyError: 'DATABASE_URL'\n",
        ),
        # the same traceback of a package, but the app did not die of it (exit 0), or died
        # by a signal
        (0, WORDCLOUD_CPYTHON),
        (139, WORDCLOUD_CPYTHON),
        (None, WORDCLOUD_CPYTHON),
        # the main program's own frame is not a module being imported
        (
            1,
            "Traceback (most recent call last):\n"
            '  File "/venv/lib/python3.11/site-packages/flask/__main__.py", line 3, in <module>\n'
            '  File "/venv/lib/python3.11/site-packages/flask/cli.py", line 9, in main\n'
            "RuntimeError: no app\n",
        ),
        # frames, then no exception's line
        (1, 'Traceback (most recent call last):\n  File "/app/a.py", line 1, in <module>\n'),
    ],
)
def test_what_is_not_a_package_failing_at_import(code: int | None, output: str) -> None:
    assert import_failure(code, output, frozenset({"app", "server", "settings"})) is None


def test_the_apps_own_modules(tmp_path: Path) -> None:
    from pybin2img.app import AppKind, AppSpec
    from pybin2img.compile.target import CompileTarget

    for name in ("app.py", "helpers.py", "fast.cpython-311-x86_64-linux-gnu.so", "notes.txt"):
        (tmp_path / name).write_text("")
    for name in ("plugins", "migrations", ".git", "my-data"):
        (tmp_path / name).mkdir()
    script = AppSpec(kind=AppKind.SCRIPT, path=tmp_path / "app.py")
    target = CompileTarget(main=script.path, binary_name="app", cwd=tmp_path)
    assert own_modules(script, target) == {"app", "helpers", "fast", "plugins", "migrations"}
    module = AppSpec(kind=AppKind.MODULE, path=tmp_path, module="http.server")
    assert own_modules(module, target) == {"http"}


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        # What each engine's /version says (the fields read), as Debian's packages answer.
        (
            {"Version": "20.10.24+dfsg1", "Components": [{"Name": "Engine"}]},
            "Docker 20.10.24+dfsg1, which cannot load zstd layers (Docker 23 and newer can)",
        ),
        ({"Version": "26.1.5+dfsg1", "Components": [{"Name": "Engine"}]}, None),
        ({"Version": "4.3.1", "Components": [{"Name": "Podman Engine"}]}, None),
        ({"Version": "dev"}, None),
    ],
)
def test_which_engines_can_load_zstd_layers(version: dict[str, Any], problem: str | None) -> None:
    from pybin2img.ship.load import zstd_problem

    class Client:
        def version(self) -> dict[str, Any]:
            return version

    assert zstd_problem(Client()) == problem


def test_a_standard_library_module_shipped_without_its_imports_says_what_adds_them() -> None:
    """Nuitka ships its set of the standard library without what those modules import; an app
    that imports mimetypes only by name finds urllib missing (Debian's Python 3.11)."""
    failure = import_failure(1, STDLIB_BY_NAME, frozenset({"bytecode"}))
    assert failure is not None
    assert failure.message("start check (private namespaces)").endswith(
        "mimetypes is in the program as part of the standard library Nuitka ships, but urllib, "
        "which it imports, is not: the app imports mimetypes only by a computed name; "
        "--nuitka-arg=--include-module=mimetypes compiles it in with what it imports"
    )
    # A package of the app's that misses a standard library module gets the general advice.
    other = ImportFailure(package="wordcloud", module="wordcloud", error=failure.error)
    assert "Packages that fail in the image" in other.message("smoke test")
    # One that misses a module of another package: how to compile it in.
    plugin = ImportFailure(
        package="kombu",
        module="kombu.transport",
        error="ModuleNotFoundError: No module named 'redis.client'",
    )
    assert plugin.message("smoke test").endswith(
        "the image has no module redis.client; where the build environment has it, it is "
        "imported by a name the build does not read (a configuration file not shipped with "
        "--include-data, a name made at run time): --nuitka-arg=--include-package=redis "
        "compiles it in"
    )


#: An editable package below a namespace whose data file was not shipped, as the image printed
#: it: the app's own frame, then the package's function (no module being imported).
MISSING_DATA = (
    "Traceback (most recent call last):\n"
    '  File "/app/app2.py", line 2, in <module>\n'
    '  File "/app/acme/widgets/__init__.py", line 2, in knob\n'
    "FileNotFoundError: [Errno 2] No such file or directory: '/app/acme/widgets/knob.txt'\n"
)


def test_a_package_file_the_image_lacks_is_a_broken_image() -> None:
    failure = missing_package_file(1, MISSING_DATA, frozenset({"app2"}))
    assert failure is not None
    assert (failure.package, failure.path) == ("acme", "/app/acme/widgets/knob.txt")
    assert failure.message("start check (Docker engine)").startswith(
        "start check (Docker engine): the app died reading /app/acme/widgets/knob.txt, a file "
        "of the package 'acme' that the image does not have"
    )
    # importlib.resources names the file as a path object.
    as_path = MISSING_DATA.replace("'/app/acme/widgets/knob.txt'", "PosixPath('/app/acme/x')")
    assert missing_package_file(1, as_path, frozenset({"app2"})) is not None


@pytest.mark.parametrize(
    ("code", "output", "own"),
    [
        # the app's own data directory (beside the script, so among its names)
        (1, MISSING_DATA.replace("/app/acme/widgets/knob.txt", "/app/static/x.css"), {"static"}),
        # a file the app was asked to read, outside /app's directories
        (1, MISSING_DATA.replace("/app/acme/widgets/knob.txt", "/data/in.csv"), set()),
        (1, MISSING_DATA.replace("/app/acme/widgets/knob.txt", "/app/in.csv"), set()),
        # the app went on (exit 0) or chose its exit code
        (0, MISSING_DATA, set()),
        (2, MISSING_DATA, set()),
        # a traceback the app logged before it printed something else
        (1, MISSING_DATA + "retrying without the widgets\n", set()),
    ],
)
def test_what_is_not_a_package_file_the_image_lacks(code: int, output: str, own: set[str]) -> None:
    assert missing_package_file(code, output, frozenset({"app2", *own})) is None


def _died_reading(path: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/app/app.py", line 25, in <module>\n'
        '  File "/app/app.py", line 5, in main\n'
        f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'\n"
    )


def test_a_file_beside_the_app_that_the_image_lacks_is_a_broken_image(tmp_path: Path) -> None:
    """The app reads its configuration beside itself, which only --include-data ships: the
    image died at start, and the start check left the exit code to the app."""
    (tmp_path / "logging.json").write_text("{}")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.toml").write_text("")
    dirs = (tmp_path / "elsewhere", tmp_path)
    failure = missing_app_file(1, _died_reading("/app/logging.json"), dirs)
    assert failure is not None
    assert failure.message("start check (Docker engine)") == (
        "start check (Docker engine): the app died reading /app/logging.json, a file beside "
        f"it on this machine ({tmp_path / 'logging.json'}) that the image does not have "
        "(FileNotFoundError: [Errno 2] No such file or directory: '/app/logging.json'); "
        "--include-data logging.json=logging.json ships it (given to the image at run time, "
        "by a volume, it is not there at this check: --no-start-check)"
    )
    # read from the working directory, which is /app unless --workdir says otherwise
    relative = missing_app_file(1, _died_reading("conf/app.toml"), dirs)
    assert relative is not None
    assert relative.relative == "conf/app.toml"
    assert missing_app_file(1, _died_reading("conf/app.toml"), dirs, "/srv") is None
    assert missing_app_file(1, _died_reading("./conf/../logging.json"), dirs) is not None
    # not the app's: elsewhere in the image, or a file this machine does not have either
    for path in ("/etc/app.toml", "/app/settings.json", "../logging.json"):
        assert missing_app_file(1, _died_reading(path), dirs) is None
    # the app did not die of it
    assert missing_app_file(0, _died_reading("/app/logging.json"), dirs) is None


NO_OBJECT = (
    "Traceback (most recent call last):\n"
    '  File "/app/services.py", line 10, in <module>\n'
    "AttributeError: module 'gi.repository.GObject' has no attribute 'Object'\n"
)


def test_a_module_lacking_what_the_app_uses_is_a_broken_image() -> None:
    """The app's own line uses what a module of an installed package has on the machine and
    not in the image (a GObject without ``Object``; a submodule nothing compiled in): the
    start check left the exit code to the app, and the build exited 0."""
    failure = missing_attribute(1, NO_OBJECT, frozenset({"services"}))
    assert failure is not None
    assert (failure.module, failure.attribute) == ("gi.repository.GObject", "Object")
    assert failure.message("start check (Docker engine)").startswith(
        "start check (Docker engine): the app died of AttributeError: module "
        "'gi.repository.GObject' has no attribute 'Object', a module that is not the app's own"
    )
    assert "--include-module=gi.repository.GObject.Object" in failure.message("x")
    partial = NO_OBJECT.replace("module 'gi", "partially initialized module 'gi")
    assert missing_attribute(1, partial, frozenset()) is not None


@pytest.mark.parametrize(
    ("code", "output"),
    [
        # the app's own module: its business
        (1, NO_OBJECT.replace("gi.repository.GObject", "services.model")),
        (1, NO_OBJECT.replace("'gi.repository.GObject'", "'__main__'")),
        # an object's attribute, not a module's
        (1, NO_OBJECT.replace("module 'gi.repository.GObject'", "'NoneType' object")),
        # an exit the app chose, and a traceback it logged and went on from
        (2, NO_OBJECT),
        (1, NO_OBJECT + "going on without GObject\n"),
    ],
)
def test_what_is_not_a_module_lacking_what_the_app_uses(code: int, output: str) -> None:
    assert missing_attribute(code, output, frozenset({"services"})) is None
