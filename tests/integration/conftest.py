"""Fixtures for the integration tier: real Nuitka, a real Docker engine, podman, skopeo.

Each example app is compiled once per test run (session fixtures); tests share the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import roots
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RUN_ID = uuid.uuid4().hex[:8]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start making the Debian roots the selected tests need (``@pytest.mark.debian_roots``)
    in the background now: debootstrap is mostly downloads, which overlap with the compiles
    of the tests before them."""
    if os.geteuid() != 0 or session.config.option.collectonly:
        return
    names = {
        name
        for item in session.items
        for marker in item.iter_markers("debian_roots")
        for name in marker.args
    }
    roots.prepare(sorted(names))


def pybin2img(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI the way a user would (``python -m pybin2img`` of this interpreter)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pybin2img", *args], capture_output=True, text=True, **kwargs
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"pybin2img {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}"
        )
    return proc


@dataclass(frozen=True)
class BuiltImage:
    tarball: Path
    reference: str  # name:tag
    pinned: str  # name:tag@sha256:…
    stderr: str


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        client = None
        reason = f"no Docker engine: {exc}"
    require(client is not None, reason if client is None else "")
    yield client
    client.close()


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    require(shutil.which("docker"), "docker CLI not installed")
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def elf_type_in_image(tarball: Path, path: str) -> int:
    """``e_type`` of the ELF file at ``path`` (``app/hello``) in the image ``tarball``: 2 for
    a fixed-address program, 3 for a position-independent one."""
    from pybin2img.oci.archive import open_archive

    with open_archive(tarball) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                tar = stream.tar()
                for member in tar:
                    if member.name == path and member.isfile():
                        header = tar.extractfile(member)
                        assert header is not None
                        ident = header.read(18)
                        assert ident[:4] == b"\x7fELF", path
                        return int.from_bytes(ident[16:18], "little")
    raise AssertionError(f"{path} is not in {tarball}")


def unpack_image(tarball: Path, into: Path) -> Path:
    """The image ``tarball``'s files, unpacked into ``into`` (with an empty ``proc``)."""
    from pybin2img.oci.archive import open_archive

    with open_archive(tarball) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                # The image's own files: absolute symbolic links (lib64) stay as they are.
                stream.tar().extractall(into, filter="tar")
    (into / "proc").mkdir(exist_ok=True)
    return into


#: How ``sh`` closes each standard stream.
_CLOSE = {"stdin": "<&-", "stdout": ">&-", "stderr": "2>&-"}


def run_closed(
    argv: list[str], closed: tuple[str, ...], *, rootfs: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with the standard streams ``closed`` closed (as a shell's ``>&-`` does),
    the rest captured; with ``rootfs``, inside those files through a plain ``chroot`` (its own
    ``/proc``, no ``/dev``)."""
    inside = []
    if rootfs is not None:
        inside = ["unshare", "--mount", "--pid", "--fork", f"--mount-proc={rootfs}/proc"]
        inside += ["chroot", str(rootfs)]
    script = 'exec "$@" ' + " ".join(_CLOSE[name] for name in closed)
    return subprocess.run(
        ["sh", "-c", script, "sh", *inside, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("images")


@pytest.fixture(scope="session")
def hello_image(docker_engine: Any, build_dir: Path) -> Iterator[BuiltImage]:
    """examples/hello, compiled once, written to a tarball and loaded into the engine."""
    reference = f"pybin2img-test/hello:{RUN_ID}"
    tarball = build_dir / "hello.tar"
    proc = pybin2img(
        "build", str(EXAMPLES / "hello" / "hello.py"), "-t", reference, "-o", str(tarball), "--load"
    )
    image = BuiltImage(
        tarball=tarball, reference=reference, pinned=proc.stdout.strip(), stderr=proc.stderr
    )
    try:
        yield image
    finally:
        docker_engine.images.remove(reference, force=True)


#: The registry ci/start-registry.sh serves without authentication.
OPEN_REGISTRY = "127.0.0.1:5000"


@pytest.fixture(scope="session")
def open_registry() -> str:
    """The open registry's address, once it answers."""
    import requests

    try:
        status = requests.get(f"http://{OPEN_REGISTRY}/v2/", timeout=3).status_code
    except requests.RequestException:
        status = None
    require(status == 200, f"no open registry on {OPEN_REGISTRY} (run ci/start-registry.sh)")
    return OPEN_REGISTRY


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private CA and a server certificate for localhost, made with openssl, valid under
    the strict verification of Python 3.13 and later."""
    require(shutil.which("openssl"), "openssl not installed")
    d = tmp_path_factory.mktemp("certs")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=pybin2img test CA",
        # Python 3.13 verifies strictly (VERIFY_X509_STRICT): a CA needs its key usage.
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    )
    (d / "ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
    )
    for f in d.iterdir():
        f.chmod(0o644)
    d.chmod(0o755)
    return d


# --- Debian 13's Docker, with either image store ------------------------------------------------


@dataclass(frozen=True)
class RootEngine:
    host: str  # DOCKER_HOST
    version: str
    #: ``docker``: Docker's own image store (an image's ID is its config's digest);
    #: ``containerd``: the containerd image store (its manifest's), Docker 29's default.
    store: str


@pytest.fixture(scope="session", params=["docker", "containerd"])
def debian13_engine(request: pytest.FixtureRequest) -> Iterator[RootEngine]:
    """Debian 13's dockerd (26.1) with Docker's own image store or with containerd's, run from
    the Debian 13 root (``pytest.mark.debian_roots("trixie")``) with a data root, socket and
    network namespace of its own; stopped, and its files removed, at the end."""
    store = request.param
    require(os.geteuid() == 0, "debootstrap roots need root")
    try:
        root = roots.debian_root("trixie")
    except roots.RootError as exc:
        pytest.fail(f"the trixie root could not be made: {exc}")
    directory = Path(tempfile.mkdtemp(prefix="p2i-docker13-", dir="/var/tmp"))
    (directory / "srv").mkdir()
    (directory / "run").mkdir()
    features = {"containerd-snapshotter": store == "containerd"}
    (directory / "srv" / "daemon.json").write_text(json.dumps({"features": features}))
    argv = roots.run_in_root_argv(
        root,
        ["dockerd", "--config-file=/srv/daemon.json", "--host=unix:///srv/docker.sock",
         "--data-root=/srv/data", "--exec-root=/srv/exec", "--pidfile=/srv/docker.pid",
         "--bridge=none", "--iptables=false", "--ip6tables=false"],
        binds={str(directory / "srv"): "/srv", str(directory / "run"): "/run"},
        # /sys: its cgroups, for the containers it runs; a network namespace of its own: a
        # dockerd without a bridge deletes the host's docker0.
        sysfs=True,
        own_network=True,
    )  # fmt: skip
    with (directory / "log").open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import docker

        path = directory / "srv" / "docker.sock"
        deadline = time.monotonic() + 90
        while not _answers(path):
            assert proc.poll() is None, (directory / "log").read_text()[-2000:]
            assert time.monotonic() < deadline, (directory / "log").read_text()[-2000:]
            time.sleep(0.5)
        host = f"unix://{path}"
        with contextlib.closing(docker.DockerClient(base_url=host)) as client:
            version = client.version()["Version"]
            driver = client.info()["Driver"]
        assert (driver == "overlayfs") == (store == "containerd"), driver
        yield RootEngine(host=host, version=version, store=store)
    finally:
        # The group is dockerd's and its containerd's, started here.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for _ in range(50):  # containerd, its shims: the rest of the group
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        shutil.rmtree(directory, ignore_errors=True)


def _answers(path: Path) -> bool:
    """Whether an engine answers ``/_ping`` on the socket ``path``."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(path))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"200 OK" in s.recv(100)
    except OSError:
        return False
