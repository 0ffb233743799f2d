"""The corpus of popular stacks in examples/: each app is built once per run (cold on a fresh
machine), run locked down in the engine, and its output compared with the same app run on the
host by the build environment's interpreter.

What each one proves is in the README's corpus table.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID, docker
from tests.integration.test_examples import LOCKED, Example, _build, _free_port, _get, _host

pytestmark = pytest.mark.integration

#: name -> (app, extra build arguments ending with the smoke test flag)
STACKS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "cli": (EXAMPLES / "cli" / "cli.py", ("--smoke-test=report",)),
    "fastapi": (EXAMPLES / "fastapi" / "app.py", ("--port", "8080", "--smoke-test")),
    "django": (EXAMPLES / "django" / "server.py", ("--smoke-test=check",)),
    # Third-party packages ship as bytecode by default: pandas, numpy and SQLAlchemy compiled
    # to C were 12 and 13 CPU-minutes of C compile (README "What is compiled to C").
    "pandas": (EXAMPLES / "pandas" / "sales.py", ("--smoke-test",)),
    "db": (EXAMPLES / "db" / "store.py", ("--smoke-test",)),
    "onnx": (
        EXAMPLES / "onnx" / "infer.py",
        ("--include-data", f"{EXAMPLES / 'onnx' / 'model.onnx'}=model.onnx", "--smoke-test"),
    ),
}


@pytest.fixture(scope="session")
def corpus_images(docker_engine: Any, build_dir: Path) -> Iterator[dict[str, Example]]:
    built: dict[str, Example] = {}
    yield built
    for example in built.values():
        docker_engine.images.remove(example.reference, force=True)


@pytest.fixture
def stack(corpus_images: dict[str, Example], build_dir: Path) -> Any:
    def build(name: str) -> Example:
        if name not in corpus_images:
            app, extra = STACKS[name]
            requirements = str(app.parent / "requirements.txt")
            corpus_images[name] = _build(
                f"corpus-{name}", app, build_dir, "-r", requirements, *extra[:-1], smoke=extra[-1]
            )
        return corpus_images[name]

    return build


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def _named(example: Example) -> set[str]:
    return {m["module"] for m in example.metadata["named_modules"]["modules"]}


def test_cli_typer_rich_prints_as_on_the_host(stack: Any) -> None:
    example = stack("cli")
    app = str(EXAMPLES / "cli" / "cli.py")
    for args in (["report"], ["greet", "Zoé", "-n", "2"], ["--help"]):
        proc = docker("run", "-e", "COLUMNS=100", *LOCKED, example.reference, *args)
        host = _host(example, app, *args, COLUMNS="100")
        if args == ["--help"]:
            # The program is called "cli" in the image, "cli.py" on the host.
            assert _lines(proc.stdout) == _lines(host.replace("Usage: cli.py", "Usage: cli"))
        else:
            assert proc.stdout == host, args
    report = docker("run", *LOCKED, example.reference, "report").stdout
    assert "\x1b[38;2;" in report  # highlighted by pygments, as true colour
    # Shipped as bytecode by default, looked up by name at run time all the same.
    assert {"typer", "rich", "pygments"} <= set(example.metadata["bytecode"])


def test_fastapi_served_by_uvicorn_from_a_module_string(stack: Any) -> None:
    example = stack("fastapi")
    assert "app" in _named(example)  # uvicorn.run("app:app")
    locked = [a for a in LOCKED if a not in ("--rm", "--network", "none")]
    name = f"pybin2img-corpus-fastapi-{RUN_ID}"
    port = _free_port()
    docker("run", "-d", "--name", name, *locked, "-p", f"127.0.0.1:{port}:8080", example.reference)
    try:
        answers = _ask_fastapi(port)
        docker("stop", "--time", "10", name)
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        logs = docker("logs", name)
    finally:
        docker("rm", "-f", name, check=False)
    # uvicorn shuts down on SIGTERM, then ends itself by that signal (143 through tini), as
    # it does on the host.
    assert "Application shutdown complete" in logs.stdout + logs.stderr
    assert state["ExitCode"] == 143
    host_port = _free_port()
    server = subprocess.Popen(
        [example.python, str(EXAMPLES / "fastapi" / "app.py")],
        cwd=EXAMPLES / "fastapi",
        env={**os.environ, "PORT": str(host_port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        host = _ask_fastapi(host_port)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert answers[0] == {"service": "fastapi", "compiled": True}
    assert host[0] == {"service": "fastapi", "compiled": False}
    assert answers[1:] == host[1:]
    assert answers[1] == {"item_id": 3, "q": "x", "double": 6}


def _ask_fastapi(port: int) -> list[Any]:
    import urllib.request

    deadline = time.monotonic() + 30
    base = f"http://127.0.0.1:{port}"
    index = json.loads(_get(f"{base}/", deadline))
    item = json.loads(_get(f"{base}/items/3?q=x", deadline))
    answers: list[Any] = [index, item]
    for body in (b'{"name": "tea", "price": 4.5}', b'{"name": "", "price": -1}'):
        request = urllib.request.Request(
            f"{base}/items", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                answers.append([r.status, json.loads(r.read())])
        except urllib.error.HTTPError as exc:
            answers.append([exc.code, [e["loc"] for e in json.loads(exc.read())["detail"]]])
    return answers


def test_django_project_migrates_and_renders_admin(stack: Any, tmp_path: Path) -> None:
    example = stack("django")
    django = example.metadata["named_modules"]["django"]
    assert django["settings"] == "shop.settings"
    assert "django/contrib/admin/templates" in django["data"]
    proc = docker("run", *LOCKED, example.reference, "check")
    host = _host(
        example, str(EXAMPLES / "django" / "server.py"), "check", cwd=tmp_path, TMPDIR=str(tmp_path)
    )
    assert proc.stdout == host
    result = json.loads(proc.stdout)
    assert result["admin_login"] == [200, True]
    assert result["admin_products"] == [200, True]
    assert result["static"] is True


@pytest.mark.parametrize(
    ("name", "app"),
    [("pandas", "pandas/sales.py"), ("db", "db/store.py"), ("onnx", "onnx/infer.py")],
)
def test_stack_prints_as_on_the_host(stack: Any, name: str, app: str) -> None:
    example = stack(name)
    proc = docker("run", *LOCKED, example.reference)
    assert proc.stdout == _host(example, str(EXAMPLES / app))
    if name == "db":
        result = json.loads(proc.stdout)
        assert result["refused"] == "OperationalError"  # libpq ran and was refused
        assert result["libpq"] > 0
