"""pybin2img on the build machines users have: Debian 13 (Python 3.13) and sid (Python 3.14).

Each leg is a cached debootstrap root (tests/roots.py) where pybin2img is installed with the
root's own ``python3`` and builds examples/hello, examples/https-client and examples/native
(third-party extension modules from wheels, with ``-r``). The build's start check runs in
private namespaces inside the root (no engine there); the images then run in the host's engine,
locked down, and print what the root's interpreter prints. pip's wheels, ccache and Nuitka's
module cache are kept beside each root between runs; the venv and pybin2img's cache are fresh.

The Debian 13 root is also where the project's setup scripts are tested: it was made by
``ci/install-system-packages.sh``, which must find everything present on a second run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require
from tests.integration.conftest import (
    ROOT,
    RUN_ID,
    docker,
    elf_type_in_image,
    run_closed,
    unpack_image,
)
from tests.roots import (
    CI_IN_ROOT,
    KEPT_IN_ROOT,
    SUITES,
    WORK_IN_ROOT,
    RootError,
    debian_root,
    kept_path,
    run_in_root,
)

pytestmark = [pytest.mark.integration, pytest.mark.debian_roots("trixie", "sid")]

#: What tests/apps/startup/patterns.py and generated.py print.
PATTERNS_LINES = 23
GENERATED_LINES = 13
#: What tests/apps/startup/environ.py prints (tests/integration/test_startup.py).
ENVIRON_LINES = 179
LOCKED = ["--rm", "--read-only", "--network", "none", "--user", "65532", "--cap-drop", "ALL"]
#: The leg's work directory (the source, the venv, outputs, pybin2img's cache) in the root.
WORK = WORK_IN_ROOT


@dataclass
class Leg:
    name: str
    python: str
    root: Path
    work: Path
    images: list[str]
    #: What each build made, written to build/platforms/<leg>.json for the README's table.
    figures: dict[str, Any]

    def run(
        self, *argv: str, timeout: float = 1800, cwd: str = WORK, **env: str | None
    ) -> subprocess.CompletedProcess[str]:
        kept = kept_path(SUITES[self.name])
        environment = {
            "PYBIN2IMG_CACHE_DIR": f"{WORK}/cache",
            "PIP_CACHE_DIR": f"{KEPT_IN_ROOT}/pip",
            "NUITKA_CACHE_DIR_CCACHE": f"{KEPT_IN_ROOT}/ccache",
            "NUITKA_CACHE_DIR_MODULE_CACHE": f"{KEPT_IN_ROOT}/module-cache",
            **env,
        }
        return run_in_root(
            self.root,
            argv,
            env=environment,
            binds={str(self.work): WORK, str(kept): KEPT_IN_ROOT},
            cwd=cwd,
            timeout=timeout,
        )

    def build(self, name: str, app: str, *extra: str, serves: bool = False) -> dict[str, Any]:
        """Build ``app`` (a path under examples/) in the root; return its metadata. ``serves``:
        the app is a server, which the smoke test leaves running and stops."""
        reference = f"pybin2img-test/{self.name}-{name}:{RUN_ID}"
        proc = self.run(
            f"{WORK}/venv/bin/pybin2img",
            "build",
            f"{WORK}/src/examples/{app}",
            "-t",
            reference,
            "-o",
            f"{WORK}/out/{name}.tar",
            "--metadata-file",
            f"{WORK}/out/{name}.json",
            *extra,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert proc.stdout.startswith(f"{reference}@sha256:"), proc.stdout
        check = next(line for line in proc.stderr.splitlines() if line.startswith("check"))
        assert f"Python {self.python}." in check, proc.stderr
        smoke = next(line for line in proc.stderr.splitlines() if line.startswith("smoke"))
        ran = "still running after" if serves else "exit code 0"
        assert f"private namespaces: {ran}" in smoke, proc.stderr
        metadata: dict[str, Any] = json.loads((self.work / "out" / f"{name}.json").read_text())
        metadata["stderr"] = proc.stderr
        docker("load", "-i", str(self.work / "out" / f"{name}.tar"))
        self.images.append(reference)
        self.figures[name] = _figures(self.work / "out" / f"{name}.tar", metadata)
        return metadata


@pytest.fixture(scope="module", params=["trixie", "sid"])
def leg(request: pytest.FixtureRequest, docker_engine: Any) -> Iterator[Leg]:
    name = request.param
    require(os.geteuid() == 0, "debootstrap roots need root")
    try:
        root = debian_root(name)
    except RootError as exc:
        pytest.fail(f"the {name} root could not be made: {exc}")
    suite = SUITES[name]
    kept_path(suite).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"pybin2img-{name}-", dir="/var/tmp"))
    leg = Leg(name=name, python=suite.python, root=root, work=work, images=[], figures={})
    try:
        files = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.split(b"\0")
        for rel in filter(None, (f.decode() for f in files)):
            if (ROOT / rel).is_file() and not rel.startswith(("build/", ".venv")):
                (work / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, work / "src" / rel)
        (work / "out").mkdir()
        made = leg.run("python3", "-m", "venv", f"{WORK}/venv")
        assert made.returncode == 0, made.stderr[-2000:]
        pip = leg.run(f"{WORK}/venv/bin/python", "-m", "pip", "install", "-q", f"{WORK}/src[test]")
        assert pip.returncode == 0, pip.stderr[-3000:]
        yield leg
    finally:
        for reference in leg.images:
            docker("rmi", "-f", reference, check=False)
        shutil.rmtree(work, ignore_errors=True)
        if leg.figures:
            report = ROOT / "build" / "platforms" / f"{name}.json"
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(leg.figures, indent=1, sort_keys=True))


def _figures(tarball: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Size, compile time, libpython and the components recorded, of one image."""
    files: list[str] = []
    with tarfile.open(tarball) as outer:
        manifest = outer.extractfile("manifest.json")
        assert manifest is not None
        for layer in json.load(manifest)[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as inner:
                files += [m.name for m in inner]
    # Written next to the tarball (metadata names it as the root sees it).
    sbom_file = tarball.parent / Path(metadata["sbom"]).name if metadata.get("sbom") else None
    sbom = json.loads(sbom_file.read_text()) if sbom_file else {}
    return {
        "python": metadata["python"]["version"],
        "nuitka": metadata["nuitka_version"],
        "compressed": metadata["size"],
        "uncompressed": metadata["uncompressed_size"],
        "compile_seconds": metadata["timings"].get("compile"),
        "libpython": sorted(f for f in files if "libpython" in f) or "static",
        "components": sorted(
            f"{c['name']} {c.get('version', '')}".strip() for c in sbom.get("components", ())
        ),
    }


def _in_engine(reference: str, *args: str, volume: str | None = None) -> str:
    extra = ["-v", volume] if volume else []
    proc = docker("run", *LOCKED, *extra, reference, *args, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _on_the_root(leg: Leg, python: str, app: str, *args: str) -> str:
    """What the root's interpreter prints, with the root's own CA bundle (not the host's,
    which pip is given)."""
    proc = leg.run(python, f"{WORK}/src/examples/{app}", *args, SSL_CERT_FILE=None)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_unit_tests(leg: Leg) -> None:
    """pybin2img's own code on the root's interpreter."""
    proc = leg.run(
        f"{WORK}/venv/bin/python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/unit",
        timeout=900,
        cwd=f"{WORK}/src",
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_hello(leg: Leg, tmp_path: Path) -> None:
    metadata = leg.build("hello", "hello/hello.py")
    assert metadata["python"]["version"].startswith(f"{leg.python}.")
    image = _in_engine(metadata["reference"].split("@")[0], "from", leg.name)
    assert image == _on_the_root(leg, "python3", "hello/hello.py", "from", leg.name)
    config = json.loads(docker("image", "inspect", metadata["image_id"]).stdout)[0]["Config"]
    # The root's own tini: the dynamic build, resolved with the app's glibc.
    assert config["Entrypoint"][0] == "/usr/bin/tini"
    # Debian 13's python3.13 is linked from its PGO-built libpython3.13.a at fixed addresses,
    # and so is the program; Nuitka 4.3 links sid's 3.14 with libpython3.14.so (PIE).
    kind = elf_type_in_image(leg.work / "out" / "hello.tar", "app/hello")
    assert kind == (2 if leg.name == "trixie" else 3)
    # Started with standard streams closed in the image's files without /dev: the streams are
    # None, as under the interpreter (from 3.12 on Nuitka's start went on to an endless import).
    rootfs = unpack_image(leg.work / "out" / "hello.tar", tmp_path / "rootfs")
    for closed in (("stdin",), ("stdout",), ("stdin", "stdout", "stderr")):
        proc = run_closed(["/app/hello"], closed, rootfs=rootfs)
        assert (proc.returncode, proc.stderr[-2000:]) == (0, ""), closed


@pytest.mark.parametrize("order", ["inspect-first", "types-first"])
def test_generators_and_coroutines_as_under_the_interpreter(leg: Leg, order: str) -> None:
    """From Python 3.12 on, Nuitka's inspect patch runs at start against a stand-in for
    inspect (compile/_startup_hook.py); the program behaves as the root's interpreter, and has
    not imported inspect before its first line. The second build reuses the compile."""
    metadata = leg.build(
        f"startup-{order}", "../tests/apps/startup/generators.py", f"--compare={order}"
    )
    assert metadata["compare"]["same"] is True


def test_os_typing_importlib_and_warnings_at_their_first_use(leg: Leg) -> None:
    """From Python 3.12 on, Nuitka's patch takes typing's type variables at start; they come
    from _typing, and typing executes at its first use (compile/_startup_hook.py); Nuitka's
    import of importlib._bootstrap gets _frozen_importlib (compile/_startup.c): the program has
    executed none of os, typing, the importlib package and warnings before its first line (the
    smoke test), and behaves as the root's interpreter (--compare)."""
    metadata = leg.build(
        "startup-lazy", "../tests/apps/startup/lazy.py", "--compare", "--smoke-test=start"
    )
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == 11


def test_patterns_compiled_at_build_time(leg: Leg) -> None:
    """The patterns modules compile as they execute come from the table the build wrote with
    the root's interpreter (compile/regex.py): the program parsed none of them (the smoke
    test), and they, the warning one left out and one made at run time are as under the
    root's interpreter (--compare)."""
    metadata = leg.build(
        "startup-patterns", "../tests/apps/startup/patterns.py", "--compare", "--smoke-test=table"
    )
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == PATTERNS_LINES


def test_generated_code_compiled_at_build_time(leg: Leg) -> None:
    """The source dataclasses, named tuples and string annotations generate as the standard
    library's modules and the app execute comes compiled from the table the build wrote with
    the root's interpreter (compile/generated.py): the program compiled none of it (the smoke
    test), and the classes, functions and annotations are as under the root's interpreter
    (--compare)."""
    metadata = leg.build(
        "startup-generated",
        "../tests/apps/startup/generated.py",
        "--compare",
        "--smoke-test=table",
    )
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == GENERATED_LINES


def test_the_interpreters_environment_variables(leg: Leg) -> None:
    """PYTHONDEVMODE, PYTHONMALLOC and the other variables of tests/apps/startup/environ.py do
    to the program what they do to the root's interpreter (--compare): the allocator is
    installed without the debug hooks Nuitka's allocations cannot take (compile/_startup.c)."""
    metadata = leg.build(
        "startup-environ", "../tests/apps/startup/environ.py", "--compare", "--smoke-test=show"
    )
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == ENVIRON_LINES


def test_start_check_in_a_plain_chroot_says_why(leg: Leg) -> None:
    """A chroot into a directory that is not a mount point: no private namespaces can be made
    there without mounts reaching the machine's own namespace, so the start check is not run,
    and the warning says why and what to do."""
    kept = kept_path(SUITES[leg.name])
    proc = run_in_root(
        leg.root,
        [
            f"{WORK}/venv/bin/pybin2img",
            "build",
            f"{WORK}/src/examples/hello/hello.py",
            "-t",
            "hello:plain-chroot",
            "-o",
            f"{WORK}/out/plain.tar",
            "--smoke-timeout",
            "4",  # not the verdict the leg's hello build recorded
        ],
        env={"PYBIN2IMG_CACHE_DIR": f"{WORK}/cache", "PIP_CACHE_DIR": f"{KEPT_IN_ROOT}/pip"},
        binds={str(leg.work): WORK, str(kept): KEPT_IN_ROOT},
        own_mount=False,
        cwd=WORK,
    )
    assert proc.returncode == 0, proc.stderr
    assert "(cached)" in proc.stderr  # the leg's hello dist: nothing compiled
    warning = next(line for line in proc.stderr.splitlines() if "was not started" in line)
    assert "cannot change root filesystem propagation" in warning, warning
    assert "bind-mount the root onto itself" in warning, warning


def test_https_client(leg: Leg, certificates: Path) -> None:
    metadata = leg.build("https-client", "https-client/client.py")
    reference = metadata["reference"].split("@")[0]
    image = _in_engine(reference)
    # The root's CA bundle, in the image: the same count as its interpreter finds.
    assert image == _on_the_root(leg, "python3", "https-client/client.py")
    # The root's OpenSSL verifies a TLS server in the image.
    served = docker(
        "run",
        *LOCKED,
        "-v",
        f"{certificates}:/certs:ro",
        "-e",
        "SSL_CERT_FILE=/certs/ca.pem",
        reference,
        "--serve",
        "/certs/server.pem",
        "/certs/server.key",
    )
    assert "fetched: verified hello over TLS" in served.stdout


@pytest.mark.parametrize("leg", ["trixie"], indirect=True)  # sid's root has no python3-gi
def test_gobject_introspection_with_debians_pygobject(leg: Leg) -> None:
    """Debian 13's python3-gi (PyGObject 3.50, GLib 2.84), built with its /usr/bin/python3:
    the program Nuitka's gi plugin made had a GObject without ``Object``; PyGObject makes the
    namespaces in the program from the typelibs pybin2img ships (tests/apps/gi), and it runs
    as the root's interpreter does (--compare)."""
    metadata = leg.build(
        "gi", "../tests/apps/gi/gtk_optional.py", "--python", "/usr/bin/python3", "--compare"
    )
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == 7
    handled = {
        n["namespace"]: n["handled"]
        for n in metadata["named_modules"]["introspection"]["namespaces"]
    }
    assert (handled["GLib"], handled["GObject"], handled["Gio"], handled["Gtk"]) == (
        "shipped",
        "shipped",
        "shipped",
        "absent",
    )


def test_native_extensions_from_wheels(leg: Leg) -> None:
    requirements = f"{WORK}/src/examples/native/requirements.txt"
    metadata = leg.build("native", "native/native.py", "-r", requirements)
    image = _in_engine(metadata["reference"].split("@")[0])
    host = _on_the_root(leg, metadata["python"]["executable"], "native/native.py")
    assert image == host
    assert f"python: {leg.python}\n" in image
    assert "packer msgpack._cmsgpack" in image
    assert "yaml: libyaml True" in image
    assert "libpq connect: refused" in image


def test_fastapi_from_wheels_answers(leg: Leg) -> None:
    """FastAPI, uvicorn and pydantic's Rust core from wheels for the root's interpreter, shipped
    as bytecode but for the path down to the module Nuitka adds code to (anyio.to_process)."""
    requirements = f"{WORK}/src/examples/fastapi/requirements.txt"
    metadata = leg.build(
        "fastapi", "fastapi/app.py", "-r", requirements, "--port", "8080", serves=True
    )
    assert {"fastapi", "pydantic", "uvicorn"} <= set(metadata["bytecode"])
    reference = metadata["reference"].split("@")[0]
    name = f"pybin2img-{leg.name}-fastapi-{RUN_ID}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    locked = ["--read-only", "--user", "65532", "--cap-drop", "ALL"]
    docker("run", "-d", "--name", name, *locked, "-p", f"127.0.0.1:{port}:8080", reference)
    try:
        body = _answer(f"http://127.0.0.1:{port}/items/7?q=x")
    finally:
        docker("rm", "-f", name, check=False)
    assert json.loads(body) == {"item_id": 7, "q": "x", "double": 14}


def _answer(url: str, seconds: float = 60) -> bytes:
    """The body of the first answer to ``url`` within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body: bytes = response.read()
                return body
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_what_the_images_hold(leg: Leg) -> None:
    """The root's glibc and packages, recorded for scanners."""
    meta = json.loads((leg.work / "out" / "https-client.json").read_text())
    sbom = json.loads(Path(leg.work / "out" / Path(meta["sbom"]).name).read_text())
    names = {component["name"]: component.get("version") for component in sbom["components"]}
    glibc = leg.run("dpkg-query", "-W", "-f=${Version}", "libc6").stdout
    assert names.get("libc6") == glibc, names
    assert "tini" in names


def test_setup_scripts_on_debian_13(docker_engine: Any) -> None:
    """In the Debian 13 root made by ci/install-system-packages.sh: a second run finds
    everything (libmagic1 is provided by libmagic1t64, the docker client is docker-cli), as
    root and as an unprivileged user; ci/start-dockerd.sh leaves the running engine alone."""
    require(os.geteuid() == 0, "debootstrap roots need root")
    try:
        root = debian_root("trixie")
    except RootError as exc:
        pytest.fail(f"the trixie root could not be made: {exc}")
    ci = {str(ROOT / "ci"): CI_IN_ROOT}
    for user in ([], ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]):
        again = run_in_root(root, [*user, f"{CI_IN_ROOT}/install-system-packages.sh"], binds=ci)
        assert again.returncode == 0, again.stderr
        assert again.stderr.strip() == "ci/install-system-packages: all present", again.stderr
    engine_pid = Path("/var/run/docker.pid").read_text().strip()
    socket = "/var/run/docker.sock"
    proc = run_in_root(root, [f"{CI_IN_ROOT}/start-dockerd.sh"], binds={**ci, socket: socket})
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"engine already running \(.+\) on /var/run/docker.sock", proc.stderr)
    assert Path("/var/run/docker.pid").read_text().strip() == engine_pid
    assert os.path.exists(f"/proc/{engine_pid}")
