"""How images run as people run them: a read-only root, PID 1, libraries found at run time,
files beside the app named like standard library modules, and process pools.

tests/apps/runtime is compiled once and written twice: with the defaults (tini as PID 1, /tmp a
volume, ldconfig and ld.so.cache since the app uses ctypes.util) and without any of them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pybin2img.plan.sbom import sbom_path
from tests.integration.conftest import ROOT, RUN_ID, BuiltImage, docker, pybin2img

pytestmark = pytest.mark.integration

APP = ROOT / "tests" / "apps" / "runtime" / "runtime.py"
LOCKED = ["--rm", "--read-only", "--user", "65532", "--cap-drop", "ALL", "--network", "none"]
TINI = "/usr/bin/tini"


def _build(build_dir: Path, name: str, *extra: str) -> BuiltImage:
    reference = f"pybin2img-test/runtime:{name}-{RUN_ID}"
    tarball = build_dir / f"runtime-{name}.tar"
    proc = pybin2img("build", str(APP), "-t", reference, "-o", str(tarball), "--load", *extra)
    return BuiltImage(
        tarball=tarball, reference=reference, pinned=proc.stdout.strip(), stderr=proc.stderr
    )


@pytest.fixture(scope="session")
def runtime_image(docker_engine: Any, build_dir: Path) -> Iterator[BuiltImage]:
    image = _build(build_dir, "default")
    try:
        yield image
    finally:
        docker_engine.images.remove(image.reference, force=True)


@pytest.fixture(scope="session")
def bare_image(
    docker_engine: Any, build_dir: Path, runtime_image: BuiltImage
) -> Iterator[BuiltImage]:
    """The same app (its compile is cached) with no init, no /tmp volume and no ldconfig."""
    image = _build(
        build_dir,
        "bare",
        *("--init", "none", "--no-tmp-volume", "--ldconfig", "never", "--no-start-check"),
    )
    try:
        yield image
    finally:
        docker_engine.images.remove(image.reference, force=True)


def _config(image: BuiltImage) -> dict[str, Any]:
    return json.loads(docker("image", "inspect", image.reference).stdout)[0]["Config"]


def test_files_named_like_the_standard_library_beside_the_app(runtime_image: BuiltImage) -> None:
    """types.py, inspect.py, imp.py and logging.py beside the app raise when imported: the
    compile and the program both get the standard library's, and the app's own module."""
    proc = docker("run", *LOCKED, runtime_image.reference)
    assert "hello from the app's own module" in proc.stdout
    assert "instead of the standard library" not in proc.stdout + proc.stderr


def test_temp_files_on_a_read_only_root(runtime_image: BuiltImage, bare_image: BuiltImage) -> None:
    assert _config(runtime_image)["Volumes"] == {"/tmp": {}}
    proc = docker("run", *LOCKED, runtime_image.reference)
    assert "tempfile /tmp" in proc.stdout
    assert "Volumes" not in _config(bare_image) or not _config(bare_image)["Volumes"]
    bare = docker("run", *LOCKED, bare_image.reference, check=False)
    assert "No usable temporary directory" in bare.stderr


def test_find_library_finds_the_images_libraries(
    runtime_image: BuiltImage, bare_image: BuiltImage
) -> None:
    proc = docker("run", *LOCKED, runtime_image.reference)
    assert "find_library z libz.so.1" in proc.stdout
    assert "find_library c libc.so.6" in proc.stdout
    assert "zlib 1." in proc.stdout  # loaded by the name find_library gave
    files = _image_files(runtime_image.tarball)
    assert "etc/ld.so.cache" in files
    assert {"sbin/ldconfig", "usr/sbin/ldconfig"} & files.keys()  # as the host has it
    assert "etc/ld.so.cache" not in _image_files(bare_image.tarball)


def test_openssl_loads_its_legacy_provider(runtime_image: BuiltImage) -> None:
    """The build machine's libcrypto.so.3 dlopens its provider modules from the directory built
    into it (Debian's ossl-modules): they ship with it, as with the interpreter on the host."""
    proc = docker("run", *LOCKED, runtime_image.reference, "openssl")
    assert "provider legacy True" in proc.stdout, proc.stdout + proc.stderr
    assert "md4 a448017aaf21d8525fc10ae87aa6729d" in proc.stdout
    assert any(p.endswith("/ossl-modules/legacy.so") for p in _image_files(runtime_image.tarball))


def test_the_ld_so_cache_is_the_same_bytes_on_a_rebuild(
    runtime_image: BuiltImage, build_dir: Path
) -> None:
    again = _build(build_dir, "again", "--no-start-check")
    try:
        # All but the top one, the SBOM's, which names the tag.
        assert _layers(again.tarball)[:-1] == _layers(runtime_image.tarball)[:-1]
    finally:
        docker("rmi", "-f", again.reference, check=False)


def test_tini_is_pid_1_and_recorded(runtime_image: BuiltImage, bare_image: BuiltImage) -> None:
    assert _config(runtime_image)["Entrypoint"] == [TINI, "-s", "--", "/app/runtime"]
    assert _config(bare_image)["Entrypoint"] == ["/app/runtime"]
    files = _image_files(runtime_image.tarball)
    assert TINI.lstrip("/") in files
    assert "usr/bin/tini-static" not in files  # the dynamic build: glibc is in the image anyway
    assert "var/lib/dpkg/status.d/tini" in files
    assert "var/lib/dpkg/status.d/libc-bin" in files  # the package of ldconfig
    sbom = json.loads(sbom_path(runtime_image.tarball).read_text())
    names = {component["name"] for component in sbom["components"]}
    assert {"tini", "libc-bin"} <= names


def test_exit_code_passes_through_tini(runtime_image: BuiltImage) -> None:
    proc = docker("run", *LOCKED, runtime_image.reference, "exit", "7", check=False)
    assert proc.returncode == 7, proc.stderr


def test_orphans_are_reaped(runtime_image: BuiltImage, bare_image: BuiltImage) -> None:
    assert "zombies 0" in docker("run", *LOCKED, runtime_image.reference, "orphans").stdout
    # The app as PID 1 does not wait for the orphan it inherits.
    assert "pid 1 zombies 1" in docker("run", *LOCKED, bare_image.reference, "orphans").stdout


def test_programs_the_image_lacks_are_named_at_build_time(
    runtime_image: BuiltImage, bare_image: BuiltImage
) -> None:
    """The app runs a command through the shell, tini by its name and sys.executable: each
    build warns of what its image lacks (a shell and an interpreter always; tini without an
    init), and the image then does as warned."""
    warned = [line for line in runtime_image.stderr.splitlines() if "warning:" in line]
    shell = [line for line in warned if "/bin/sh" in line]
    assert len(shell) == 1, warned
    assert f"{APP}, line " in shell[0]
    assert "os.system runs its command through /bin/sh, which the image does not have" in shell[0]
    assert not [line for line in warned if "'tini'" in line], warned  # /usr/bin/tini is there
    missing = "subprocess.run runs 'tini', which the image does not have on its PATH"
    assert missing in bare_image.stderr
    # sys.executable: no interpreter, and without multiprocessing not the program either
    itself = [line for line in warned if "runs sys.executable" in line]
    assert len(itself) == 1, warned
    assert "a file beside the program that does not exist (FileNotFoundError)" in itself[0]
    ran = docker("run", *LOCKED, runtime_image.reference, "programs").stdout.split("\n")
    assert ran[:2] == ["shell 127", "tini 0"]  # sh: not found, as system(3) says it
    assert ran[2] == "sys.executable FileNotFoundError /app/python"
    ran = docker("run", *LOCKED, bare_image.reference, "programs").stdout.split("\n")
    assert ran[:2] == ["shell 127", "tini -1"]


def test_a_time_zone_given_at_run_time(runtime_image: BuiltImage) -> None:
    """The app never imports zoneinfo, but ``docker run -e TZ=…`` names a zone that its local
    time comes from, as under the interpreter (the image used to have no zone files: UTC,
    named "Europe")."""
    # (The app's directory holds files named like the standard library's: not run from it.)
    here = subprocess.run(
        [sys.executable, "-c", "import time; print(time.strftime('%Z %z', time.localtime(0)))"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "Europe/Paris"},
    ).stdout
    assert here == "CET +0100\n"
    there = docker("run", *LOCKED, "-e", "TZ=Europe/Paris", runtime_image.reference, "localtime")
    assert there.stdout == here
    assert docker("run", *LOCKED, runtime_image.reference, "localtime").stdout == "UTC +0000\n"


def _stop(image: BuiltImage, grace: int) -> tuple[float, int]:
    """Seconds ``docker stop`` took on the app waiting without a signal handler, and the exit
    code of the container."""
    name = f"pybin2img-test-stop-{image.reference.rsplit(':', 1)[1]}"
    docker("run", "-d", "--name", name, *LOCKED[1:], image.reference, "wait")
    try:
        deadline = time.monotonic() + 30
        while "waiting" not in docker("logs", name).stdout:
            assert time.monotonic() < deadline, "the app did not start"
            time.sleep(0.1)
        start = time.monotonic()
        docker("stop", "-t", str(grace), name)
        took = time.monotonic() - start
        code = int(docker("inspect", name, "--format", "{{.State.ExitCode}}").stdout)
        return took, code
    finally:
        docker("rm", "-f", "-v", name, check=False)


def test_docker_stop_is_quick_with_tini(runtime_image: BuiltImage) -> None:
    took, code = _stop(runtime_image, grace=10)
    assert code == 143  # 128 + SIGTERM: the app got the signal and died of it
    assert took < 3, f"docker stop took {took:.1f}s"


def test_without_an_init_sigterm_is_ignored(bare_image: BuiltImage) -> None:
    took, code = _stop(bare_image, grace=2)
    assert code == 137  # killed once the grace period was over
    assert took >= 2


def _image_files(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as outer:
        manifest = outer.extractfile("manifest.json")
        assert manifest is not None
        (entry,) = json.load(manifest)
        files: dict[str, tarfile.TarInfo] = {}
        for layer in entry["Layers"]:
            blob = outer.extractfile(layer)
            assert blob is not None
            data = gzip.decompress(blob.read())
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                files.update({member.name: member for member in tar.getmembers()})
    return files


def _layers(tarball: Path) -> list[str]:
    """The digests of the image's layers (the tag, in the index, differs between the builds)."""
    with tarfile.open(tarball) as outer:
        manifest = outer.extractfile("manifest.json")
        assert manifest is not None
        (entry,) = json.load(manifest)
        return list(entry["Layers"])


def test_process_pools_under_every_start_method(build_dir: Path) -> None:
    """multiprocessing starts the program again as its workers, under each start method: the
    image prints what the interpreter prints (``--compare``, locked down: read-only root)."""
    app = ROOT / "tests" / "apps" / "processes" / "processes.py"
    proc = pybin2img(
        "build",
        str(app),
        "-t",
        f"pybin2img-test/processes:{RUN_ID}",
        "-o",
        str(build_dir / "processes.tar"),
        "--compare",
    )
    assert "same exit code (0) and stdout (5 lines)" in proc.stderr, proc.stderr
