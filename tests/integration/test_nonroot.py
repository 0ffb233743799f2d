"""pybin2img as users install it: in a venv made from Debian 12's /usr/bin/python3 (3.11.2),
run by an unprivileged user (nobody) who has no Docker engine.

The second leg of CI: the unit tests under that interpreter, and examples/hello built with
``--python /usr/bin/python3`` (which has no Nuitka: pybin2img makes the build environment) and
``--smoke-test``, which then runs in private namespaces made inside a user namespace. The caches
of pip, ccache and Nuitka's modules are kept in /var/cache/pybin2img-nonroot between runs; the
rest (the venv, pybin2img's cache) is made fresh.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pybin2img.errors import HostError
from tests.conftest import require
from tests.integration.conftest import ROOT, elf_type_in_image

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = Path("/usr/bin/python3")
NOBODY = 65534
KEPT = Path(os.environ.get("PYBIN2IMG_NONROOT_CACHE", "/var/cache/pybin2img-nonroot"))


@dataclass(frozen=True)
class Leg:
    dir: Path
    src: Path
    venv: Path

    def run(
        self, *argv: str, cwd: Path | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` as nobody, with a home of its own and nothing of root's environment."""
        return subprocess.run(
            argv,
            cwd=cwd or self.dir,
            env={
                "HOME": str(self.dir / "home"),
                "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "C.UTF-8",
                "PIP_CACHE_DIR": str(KEPT / "pip"),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                **env,
            },
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )


def _give(path: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, NOBODY, NOBODY)
        for name in (*dirnames, *filenames):
            os.chown(os.path.join(dirpath, name), NOBODY, NOBODY, follow_symlinks=False)


@pytest.fixture(scope="module")
def leg() -> Iterator[Leg]:
    require(os.geteuid() == 0, "running as another user needs root")
    require(SYSTEM_PYTHON.is_file(), f"{SYSTEM_PYTHON} is missing")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    base = Path(tempfile.mkdtemp(prefix="pybin2img-nonroot-", dir="/tmp"))
    # On a tmpfs: the venv and the build's cache are thousands of files, slow to delete on disk.
    mount = ["mount", "-t", "tmpfs", "-o", "size=4g,mode=755", "tmpfs", str(base)]
    subprocess.run(mount, check=True)
    try:
        src = base / "src"
        for name in filter(None, (f.decode() for f in files)):
            if (ROOT / name).is_file() and not name.startswith(("build/", ".venv")):
                (src / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, src / name)
        (base / "home").mkdir()
        for kept in (KEPT / "pip", KEPT / "ccache", KEPT / "module-cache"):
            kept.mkdir(parents=True, exist_ok=True)
        _give(base)
        _give(KEPT)
        leg = Leg(dir=base, src=src, venv=base / "venv")
        made = leg.run(str(SYSTEM_PYTHON), "-m", "venv", str(leg.venv))
        require(made.returncode == 0, f"no venv from {SYSTEM_PYTHON}: {made.stderr[-500:]}")
        pip = leg.run(str(leg.venv / "bin" / "python"), "-m", "pip", "install", f"{src}[test]")
        assert pip.returncode == 0, pip.stderr[-3000:]
        yield leg
    finally:
        subprocess.run(["umount", "-l", str(base)], check=False)
        base.rmdir()


def test_unit_tests_pass_on_debian_python_as_nobody(leg: Leg) -> None:
    python = leg.venv / "bin" / "python"
    proc = leg.run(
        str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit", cwd=leg.src
    )
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]


def test_hello_with_smoke_test_in_namespaces_as_nobody(leg: Leg) -> None:
    version = subprocess.run(
        [str(SYSTEM_PYTHON), "--version"], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    out = leg.dir / "out"
    proc = leg.run(
        "pybin2img",
        "build",
        str(leg.src / "examples" / "hello" / "hello.py"),
        "--python",
        str(SYSTEM_PYTHON),
        "-t",
        "hello:nonroot",
        "-o",
        str(out / "hello.tar"),
        "--smoke-test=from nobody",
        DOCKER_HOST=f"unix://{leg.dir}/no-engine.sock",
        NUITKA_CACHE_DIR_CCACHE=str(KEPT / "ccache"),
        NUITKA_CACHE_DIR_MODULE_CACHE=str(KEPT / "module-cache"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("hello:nonroot@sha256:")
    lines = proc.stderr.splitlines()
    assert any(line.startswith("creating build environment for Nuitka for") for line in lines)
    assert any(line.startswith("check") and f"Python {version}," in line for line in lines)
    smoke = next(line for line in lines if line.startswith("smoke"))
    assert smoke.endswith("private namespaces: exit code 0"), proc.stderr
    assert (out / "hello.tar").stat().st_uid == NOBODY
    inspect = leg.run("pybin2img", "inspect", str(out / "hello.tar"))
    assert inspect.returncode == 0, inspect.stderr
    # Linked as Debian's python3 is: its PGO-built libpython3.11.a, at fixed addresses.
    assert elf_type_in_image(out / "hello.tar", "app/hello") == 2


def test_a_cache_of_root_is_refused_to_nobody(leg: Leg) -> None:
    shared = leg.dir / "roots-cache"
    shared.mkdir(mode=0o755)
    proc = leg.run(
        "pybin2img",
        "build",
        str(leg.src / "examples" / "hello" / "hello.py"),
        "-t",
        "x",
        "-o",
        str(leg.dir / "x.tar"),
        PYBIN2IMG_CACHE_DIR=str(shared),
    )
    assert proc.returncode == HostError.exit_code, proc.stderr
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"pybin2img: error: cache directory {shared} belongs to user root (0)")
    )
