"""examples/hello end to end: built once, loaded into a real engine, run."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path, PurePosixPath

import pytest

from tests.conftest import require
from tests.integration.conftest import EXAMPLES, BuiltImage, docker, run_closed, unpack_image

pytestmark = pytest.mark.integration

RUN = ["run", "--rm", "--network", "none", "--read-only", "--user", "65532"]


def test_stdout_is_exactly_the_pinned_reference(hello_image: BuiltImage) -> None:
    assert re.fullmatch(
        rf"{re.escape(hello_image.reference)}@sha256:[0-9a-f]{{64}}", hello_image.pinned
    )
    index = json.loads(_member(hello_image.tarball, "index.json"))
    assert hello_image.pinned.endswith(index["manifests"][0]["digest"])


def test_runs_and_passes_arguments(hello_image: BuiltImage) -> None:
    proc = docker(*RUN, hello_image.reference, "a", "b")
    assert "Hello from a pybin2img image!" in proc.stdout
    assert "args: a b" in proc.stdout


def test_exit_code_is_the_apps(hello_image: BuiltImage) -> None:
    proc = docker(*RUN, hello_image.reference, "x", "--exit", "3", check=False)
    assert proc.returncode == 3, proc.stderr
    assert "args: x" in proc.stdout


def test_runs_as_nonroot_by_default(hello_image: BuiltImage) -> None:
    config = json.loads(docker("image", "inspect", hello_image.reference).stdout)[0]["Config"]
    assert config["User"] == "65532"
    assert config["Entrypoint"] == ["/usr/bin/tini", "-s", "--", "/app/hello"]


def _member(tarball: Path, name: str) -> bytes:
    with tarfile.open(tarball) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def _image_files(tarball: Path) -> dict[str, tarfile.TarInfo]:
    (manifest,) = json.loads(_member(tarball, "manifest.json"))
    files: dict[str, tarfile.TarInfo] = {}
    for layer in manifest["Layers"]:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(_member(tarball, layer)))) as tar:
            for member in tar.getmembers():
                files[member.name] = member
    return files


def test_no_interpreter_pip_or_shell(hello_image: BuiltImage) -> None:
    files = _image_files(hello_image.tarball)
    names = {PurePosixPath(p).name for p in files}
    assert not [n for n in names if re.match(r"python[0-9.]*$", n)]
    assert not [n for n in names if n.startswith("pip")]
    assert not {"sh", "bash", "dash", "busybox"} & names
    assert "bin/sh" not in files
    assert "usr/bin/sh" not in files


def test_runtime_essentials(hello_image: BuiltImage) -> None:
    files = _image_files(hello_image.tarball)
    assert files["tmp"].mode == 0o1777
    assert files["home/nonroot"].mode == 0o700
    assert files["home/nonroot"].uid == 65532
    assert {"etc/passwd", "etc/group", "app/hello"} <= set(files)
    # The loader at its PT_INTERP path, through the host's usr-merge symlinks.
    assert "lib64" in files or "lib64/ld-linux-x86-64.so.2" in files
    assert any(PurePosixPath(p).name.startswith("libgcc_s.so") for p in files)


def test_podman_loads_and_runs_it(hello_image: BuiltImage) -> None:
    require(shutil.which("podman"), "podman not installed")
    name = "docker.io/" + hello_image.reference
    proc = subprocess.run(
        ["podman", "load", "-i", str(hello_image.tarball)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert name in proc.stdout + proc.stderr
    # Some sandboxes refuse podman's default of raising these limits to the host's maximum.
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    try:
        run = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", *limits, name, "p"],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert "args: p" in run.stdout
    finally:
        subprocess.run(["podman", "rmi", "-f", name], capture_output=True)


def test_skopeo_inspects_oci_archive(hello_image: BuiltImage) -> None:
    require(shutil.which("skopeo"), "skopeo not installed")
    proc = subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{hello_image.tarball}"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert hello_image.pinned.endswith(info["Digest"])
    assert info["Architecture"] == "amd64"
    assert info["Os"] == "linux"
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"docker-archive:{hello_image.tarball}"],
        capture_output=True,
        text=True,
    )
    assert raw.returncode == 0, raw.stderr


def test_umoci_unpacks_it(hello_image: BuiltImage, tmp_path: Path) -> None:
    require(shutil.which("umoci"), "umoci not installed")
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(hello_image.tarball) as tar:
        tar.extractall(layout, filter="data")
    tag = hello_image.reference.rsplit(":", 1)[1]
    proc = subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "app" / "hello").is_file()
    assert (rootfs / "tmp").stat().st_mode & 0o7777 == 0o1777
    config = json.loads((tmp_path / "bundle" / "config.json").read_text())
    assert config["process"]["user"]["uid"] == 65532
    assert config["process"]["args"][-1:] == ["/app/hello"]


def test_smoke_test_without_an_engine_runs_in_private_namespaces(hello_image: BuiltImage) -> None:
    """The fallback when no engine is reachable: the image's files, a read-only root, its user."""
    require(os.geteuid() == 0, "private mount namespaces need root")
    from pybin2img.errors import SmokeTestError
    from pybin2img.ship.smoke import smoke_test

    result = smoke_test(
        tarball=hello_image.tarball,
        image_ids=(),
        args=["n", "s"],
        timeout=60,
        docker_env={},
        engine=False,
    )
    assert result.where == "private namespaces"
    assert result.exit_code == 0
    assert "args: n s" in result.output
    with pytest.raises(SmokeTestError, match="exited with code 5"):
        smoke_test(
            tarball=hello_image.tarball,
            image_ids=(),
            args=["--exit", "5"],
            timeout=60,
            docker_env={},
            engine=False,
        )


@pytest.mark.parametrize(
    "closed", [("stdin",), ("stdout",), ("stderr",), ("stdin", "stdout", "stderr")]
)
def test_closed_standard_streams_where_there_is_no_dev_null(
    hello_image: BuiltImage, tmp_path: Path, closed: tuple[str, ...]
) -> None:
    """Started with a standard stream closed, in the image's files without /dev (a plain
    chroot), the program makes the stream None as the interpreter does, where Nuitka's start
    would go on with the error of opening /dev/null set (compile/_startup.c)."""
    rootfs = unpack_image(hello_image.tarball, tmp_path / "rootfs")
    assert not (rootfs / "dev" / "null").exists()
    image = run_closed(["/app/hello", "a"], closed, rootfs=rootfs)
    python = run_closed([sys.executable, "-I", str(EXAMPLES / "hello" / "hello.py"), "a"], closed)
    assert (image.returncode, image.stdout, image.stderr) == (
        python.returncode,
        python.stdout,
        python.stderr,
    )
    assert image.returncode == 0


def test_the_program_exports_what_its_extension_modules_call(
    hello_image: BuiltImage, tmp_path: Path
) -> None:
    """The link leaves out what nothing in the program refers to (``--gc-sections``); what an
    extension module calls of the interpreter's C API is looked up in the program when the
    module is loaded: every such symbol of every extension module shipped, and of every one in
    the build interpreter's ``lib-dynload``, is the program's."""
    import _ctypes  # an extension module in every interpreter: lib-dynload's directory

    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    def symbols(path: Path, defined: bool) -> set[str]:
        with path.open("rb") as f:
            dynsym = ELFFile(f).get_section_by_name(".dynsym")
            assert isinstance(dynsym, SymbolTableSection)
            return {
                s.name
                for s in dynsym.iter_symbols()
                if (s["st_shndx"] != "SHN_UNDEF") is defined and s.name.startswith(("Py", "_Py"))
            }

    root = unpack_image(hello_image.tarball, tmp_path / "root")
    exported = symbols(root / "app" / "hello", defined=True)
    dynload = Path(_ctypes.__file__).parent
    modules = [*(root / "app").glob("*.so"), *dynload.glob("*.so")]
    assert len(modules) > 40
    called = {name: module.name for module in modules for name in symbols(module, defined=False)}
    assert len(called) > 500
    assert {name: module for name, module in called.items() if name not in exported} == {}


@pytest.mark.parametrize("lang", ["C.UTF-8", "C"])
def test_arguments_beyond_ascii_are_decoded_as_by_the_interpreter(
    hello_image: BuiltImage, tmp_path: Path, lang: str
) -> None:
    """The program decodes its command line as the interpreter that built it does, in the
    locale the environment names (it sets ``LC_CTYPE`` from it for that, as the interpreter
    does, and no other category: ``_startup.c``)."""
    root = unpack_image(hello_image.tarball, tmp_path / "root")
    args = ["café", "naïve ☃", "日本"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": lang}
    program = subprocess.run(
        [str(root / "app" / "hello"), *args], capture_output=True, env=env, check=False
    )
    python = subprocess.run(
        [sys.executable, "-I", "-S", str(EXAMPLES / "hello" / "hello.py"), *args],
        capture_output=True,
        env=env,
        check=False,
    )
    assert (program.returncode, program.stderr) == (0, b"")
    assert program.stdout == python.stdout
    assert "args: café naïve ☃ 日本".encode() in program.stdout
