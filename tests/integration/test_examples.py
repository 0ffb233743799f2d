"""The example corpus: each app is built once (with --smoke-test), run locked down in the
engine, and its output compared with the same app run by the build interpreter on the host."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID, docker, pybin2img

pytestmark = pytest.mark.integration

LOCKED = ["--rm", "--read-only", "--network", "none", "--user", "65532", "--cap-drop", "ALL"]


@dataclass(frozen=True)
class Example:
    reference: str
    tarball: Path
    metadata: dict[str, Any]

    @property
    def python(self) -> str:
        return str(self.metadata["python"]["executable"])


def _build(
    name: str, app: Path, build_dir: Path, *extra: str, smoke: str = "--smoke-test"
) -> Example:
    reference = f"pybin2img-test/{name}:{RUN_ID}"
    tarball = build_dir / f"{name}.tar"
    meta = build_dir / f"{name}.json"
    pybin2img(
        "build",
        str(app),
        "-t",
        reference,
        "-o",
        str(tarball),
        "--load",
        smoke,
        "--metadata-file",
        str(meta),
        *extra,
    )
    return Example(reference, tarball, json.loads(meta.read_text()))


@pytest.fixture(scope="session")
def example_images(docker_engine: Any, build_dir: Path) -> Iterator[dict[str, Example]]:
    """Every example but hello (built by its own fixture), built once per run, lazily."""
    built: dict[str, Example] = {}
    yield built
    for example in built.values():
        docker_engine.images.remove(example.reference, force=True)


def _example(images: dict[str, Example], build_dir: Path, name: str) -> Example:
    if name not in images:
        specs: dict[str, tuple[Path, tuple[str, ...]]] = {
            "threads": (EXAMPLES / "threads" / "threads.py", ()),
            "data": (EXAMPLES / "data" / "greeter", ()),
            "https-client": (EXAMPLES / "https-client" / "client.py", ()),
            "numeric": (
                EXAMPLES / "numeric" / "numeric.py",
                ("-r", str(EXAMPLES / "numeric" / "requirements.txt")),
            ),
            "web": (
                EXAMPLES / "web" / "app.py",
                (
                    "-r",
                    str(EXAMPLES / "web" / "requirements.txt"),
                    "--port",
                    "8080",
                    "--smoke-timeout",
                    "3",
                ),
            ),
        }
        app, extra = specs[name]
        images[name] = _build(name, app, build_dir, *extra)
    return images[name]


@pytest.fixture
def examples(example_images: dict[str, Example], build_dir: Path) -> Any:
    return lambda name: _example(example_images, build_dir, name)


def _host(example: Example, *args: str, cwd: Path | None = None, **env: str) -> str:
    proc = subprocess.run(
        [example.python, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_threads_exit_cleanly_with_daemon_threads_running(examples: Any) -> None:
    example = examples("threads")
    proc = docker("run", *LOCKED, example.reference, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "libgcc_s" not in proc.stderr
    assert proc.stdout == _host(example, str(EXAMPLES / "threads" / "threads.py"))


def test_data_package_reads_its_own_files(examples: Any) -> None:
    example = examples("data")
    proc = docker("run", *LOCKED, example.reference, "Zoé")
    host = _host(example, "-m", "greeter", "Zoé", cwd=EXAMPLES / "data")
    assert proc.stdout == host
    assert "Grüß dich, Zoé!" in proc.stdout


def test_numeric_runs_numpy_with_its_bundled_blas(examples: Any) -> None:
    example = examples("numeric")
    proc = docker("run", *LOCKED, example.reference)
    assert proc.stdout == _host(example, str(EXAMPLES / "numeric" / "numeric.py"))
    assert "is identity: True" in proc.stdout
    assert any(d["name"] == "numpy" for d in example.metadata["distributions"])


def test_https_client_loads_the_default_ca_store(examples: Any) -> None:
    example = examples("https-client")
    proc = docker("run", *LOCKED, example.reference)
    count = int(proc.stdout.split("ca certificates:")[1].split()[0])
    assert count > 100
    assert proc.stdout == _host(example, str(EXAMPLES / "https-client" / "client.py"))


def test_https_client_verifies_a_local_tls_server(examples: Any, certificates: Path) -> None:
    example = examples("https-client")
    mount = ["-v", f"{certificates}:/certs:ro"]
    serve = ["--serve", "/certs/server.pem", "/certs/server.key"]
    proc = docker(
        "run", *LOCKED, *mount, "-e", "SSL_CERT_FILE=/certs/ca.pem", example.reference, *serve
    )
    assert "fetched: verified hello over TLS" in proc.stdout
    # With the image's own bundle the private CA is unknown: verification must fail.
    refused = docker("run", *LOCKED, *mount, example.reference, *serve, check=False)
    assert refused.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, deadline: float) -> bytes:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return bytes(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_web_serves_json_and_stops_cleanly_on_sigterm(examples: Any) -> None:
    example = examples("web")
    port = _free_port()
    locked = [a for a in LOCKED if a not in ("--rm", "--network", "none")]
    name = f"pybin2img-web-{RUN_ID}"
    docker("run", "-d", "--name", name, *locked, "-p", f"127.0.0.1:{port}:8080", example.reference)
    try:
        deadline = time.monotonic() + 30
        index = json.loads(_get(f"http://127.0.0.1:{port}/", deadline))
        total = json.loads(_get(f"http://127.0.0.1:{port}/add?a=2&b=40", deadline))
        docker("stop", "--time", "10", name)
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        logs = docker("logs", name)
    finally:
        docker("rm", "-f", name, check=False)
    assert index == {
        "service": "web",
        "python": example.metadata["python"]["version"],
        "compiled": True,
    }
    assert total == {"sum": 42}
    assert state["ExitCode"] == 0, logs.stdout + logs.stderr
    assert "web: stopping" in logs.stdout

    # The same app on the host answers the same (except "compiled").
    host_port = _free_port()
    server = subprocess.Popen(
        [example.python, str(EXAMPLES / "web" / "app.py")],
        env={**os.environ, "PORT": str(host_port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        host = json.loads(_get(f"http://127.0.0.1:{host_port}/", time.monotonic() + 30))
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert host == {**index, "compiled": False}


def test_web_sbom_names_flask_python_and_libc6(examples: Any, build_dir: Path) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    example = examples("web")
    sbom_file = Path(example.metadata["sbom"])
    text = sbom_file.read_text()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    sbom = json.loads(text)
    components = {c["name"]: c for c in sbom["components"]}
    flask = components.get("flask") or components["Flask"]
    assert flask["purl"].startswith("pkg:pypi/flask@")
    assert components["python"]["version"] == example.metadata["python"]["version"]
    libc_version = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "libc6"], capture_output=True, text=True, check=True
    ).stdout
    assert components["libc6"]["version"] == libc_version
    # The copy inside the image is the same document without the image's digest.
    container = f"pybin2img-sbom-{RUN_ID}"
    docker("create", "--name", container, example.reference)
    try:
        inside = build_dir / "web-sbom-inside"
        docker("cp", f"{container}:/usr/share/pybin2img/sbom.cdx.json", str(inside))
        docker("cp", f"{container}:/var/lib/dpkg/status.d/libc6", str(build_dir / "libc6"))
    finally:
        docker("rm", container, check=False)
    assert {c["name"] for c in json.loads(inside.read_text())["components"]} == set(components)
    # status.d entries are dpkg control files: dpkg-query reads them as an admin directory.
    admin = build_dir / "dpkg-admin"
    (admin / "status.d").mkdir(parents=True, exist_ok=True)
    shutil.copy(build_dir / "libc6", admin / "status.d" / "libc6")
    (admin / "status").write_text((build_dir / "libc6").read_text())
    query = subprocess.run(
        ["dpkg-query", f"--admindir={admin}", "-W", "-f=${Package} ${Version} ${Status}", "libc6"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert query.stdout == f"libc6 {libc_version} install ok installed"
