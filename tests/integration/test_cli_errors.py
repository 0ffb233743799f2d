"""Bad input found once the build is under way: one line on stderr, a documented non-zero exit
code, no traceback, no tarball.

These run the interpreter's probe, Nuitka, a C compiler, the Docker SDK or mount(8). Bad input
found before any of that (unknown options, bad tags, bad configuration keys, missing apps) is
tested in process, in tests/unit/test_cli.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pybin2img.errors import (
    CompileError,
    ConfigError,
    EngineError,
    HostError,
    ImageWriteError,
    Interrupted,
    UsageError,
)
from tests.integration.conftest import EXAMPLES, pybin2img

pytestmark = pytest.mark.integration

HELLO = str(EXAMPLES / "hello" / "hello.py")


def _fails(
    out_dir: Path, *args: str, code: int, pattern: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``pybin2img ARGS``, run in ``out_dir`` (where a tarball without ``-o`` would go): one
    error line (after any progress lines), the documented code, nothing written in ``out_dir``."""
    proc = pybin2img(*args, check=False, cwd=out_dir, **kwargs)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("pybin2img: error: ")]
    assert len(errors) == 1, proc.stderr
    assert errors[0] == lines[-1], proc.stderr
    assert pattern in errors[0]
    assert not list(out_dir.glob("*.tar*")), list(out_dir.iterdir())
    return proc


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text("print('ok')\n\ndef f(:\n    pass\n")
    _fails(
        tmp_path,
        *("build", str(app), "-t", "x", "-o", str(tmp_path / "x.tar")),
        code=CompileError.exit_code,
        pattern=f"syntax error in {app}, line 3",
    )


@pytest.mark.parametrize(
    ("lock", "said"),
    [
        (
            'version = 1\n[[package]]\nname = "humanize"\nversion = "4.8.0"\n'
            'source = { registry = "https://pypi.org/simple" }\n',
            "uv.lock is out of date: it pins humanize 4.8.0, which humanize>=4.9 excludes",
        ),
        ("version = \n", "cannot read the lock file"),
    ],
)
def test_a_lock_file_that_cannot_pin_the_dependencies(tmp_path: Path, lock: str, said: str) -> None:
    """A project whose lock was made before its dependencies last changed (or does not parse),
    built without a venv that has them: a configuration error before anything is installed."""
    project = tmp_path / "locked"
    shutil.copytree(Path(__file__).resolve().parents[1] / "apps" / "locked", project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"humanize>=4"', '"humanize>=4.9"'))
    (project / "uv.lock").write_text(lock)
    _fails(
        tmp_path,
        *("build", str(project), "-t", "x", "-o", str(tmp_path / "x.tar")),
        code=ConfigError.exit_code,
        pattern=said,
    )


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody, not even root, can write to (a read-only tmpfs when root)."""
    path = tmp_path / "ro"
    path.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True)
        try:
            yield path
        finally:
            subprocess.run(["umount", str(path)], check=True)
    else:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("cpython 3.15.0 3 15", "Python 3.15.0"),
        ("cpython 3.9.2 3 9", "Python 3.9.2"),
        ("pypy 3.10.14 3 10", "pypy 3.10.14"),
    ],
)
def test_an_interpreter_nuitka_does_not_compile_for(tmp_path: Path, answer: str, said: str) -> None:
    """Refused in a second, before a build environment is made, naming the supported range."""
    python = tmp_path / "python3"
    python.write_text(f"#!/bin/sh\necho {answer}\n")
    python.chmod(0o755)
    proc = _fails(
        tmp_path,
        *("build", HELLO, "-t", "x", "-o", str(tmp_path / "x.tar"), "--python", str(python)),
        *("-r", str(EXAMPLES / "web" / "requirements.txt")),
        code=HostError.exit_code,
        pattern=f"{said} ({python}) is not supported: pybin2img builds with CPython 3.10 to 3.14",
    )
    assert "creating build environment" not in proc.stderr


def test_output_directory_not_writable(readonly_dir: Path) -> None:
    out = readonly_dir / "x.tar"
    _fails(
        readonly_dir,
        *("build", HELLO, "-t", "x", "-o", str(out)),
        code=ImageWriteError.exit_code,
        pattern="is not writable",
    )


def test_missing_directory_below_a_read_only_one(readonly_dir: Path) -> None:
    out = readonly_dir / "sub" / "x.tar"
    _fails(
        readonly_dir,
        *("build", HELLO, "-t", "x", "-o", str(out)),
        code=ImageWriteError.exit_code,
        pattern="is not writable",
    )


def test_import_that_is_not_installed(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("import json\nimport no_such_module_here\n")
    proc = _fails(
        tmp_path,
        *("build", str(app), "-t", "x", "-o", str(tmp_path / "x.tar")),
        code=CompileError.exit_code,
        pattern="module 'no_such_module_here' is not installed for",
    )
    assert sys.executable in proc.stderr


def test_own_module_named_like_the_standard_library(tmp_path: Path) -> None:
    """On the build machine ``import secrets`` gets the app's own file; the compiled program
    would get the standard library's, so the build stops and says so."""
    app = tmp_path / "app.py"
    app.write_text("import secrets\n\nprint(secrets.API_KEY)\n")
    (tmp_path / "secrets.py").write_text("API_KEY = 'k'\n")
    _fails(
        tmp_path,
        *("build", str(app), "-t", "x", "-o", str(tmp_path / "x.tar")),
        code=CompileError.exit_code,
        pattern=f"app.py, line 1: 'secrets' is the app's own {tmp_path / 'secrets.py'}",
    )


def test_engine_unreachable_on_load(tmp_path: Path) -> None:
    _fails(
        tmp_path,
        *("build", HELLO, "-t", "x", "-o", str(tmp_path / "x.tar"), "--load"),
        code=EngineError.exit_code,
        pattern="is not reachable",
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"},
    )


def _fresh_app(tmp_path: Path) -> Path:
    """A copy of hello that no earlier build has compiled (so the compile really runs)."""
    app = tmp_path / "fresh.py"
    app.write_text((EXAMPLES / "hello" / "hello.py").read_text() + f"# {uuid.uuid4()}\n")
    return app


def test_no_c_compiler(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(shutil.which("patchelf") or "/usr/bin/patchelf", bin_dir / "patchelf")
    _fails(
        tmp_path,
        *("build", str(_fresh_app(tmp_path)), "-t", "x", "-o", str(tmp_path / "x.tar")),
        code=CompileError.exit_code,
        pattern="no C compiler found",
        env={**os.environ, "PATH": str(bin_dir)},
    )


def test_nuitka_failing_shows_its_log(tmp_path: Path) -> None:
    proc = pybin2img(
        "build",
        str(_fresh_app(tmp_path)),
        "-t",
        "x",
        "-o",
        str(tmp_path / "x.tar"),
        "--nuitka-arg=--no-such-nuitka-option",
        check=False,
    )
    assert proc.returncode == CompileError.exit_code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("pybin2img: error: "))
    first, tail = lines[index], lines[index + 1 :]
    assert first.startswith("pybin2img: error: Nuitka compiling")
    log = Path(first.rsplit("full log: ", 1)[1])
    assert log.is_file()
    assert any("no-such-nuitka-option" in line for line in tail)
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.glob("*.tar*"))


def test_nuitka_arg_pybin2img_gives_itself_is_refused_before_compiling(tmp_path: Path) -> None:
    """Nuitka takes the last of an option given twice: a report of the user's would leave
    pybin2img's unwritten, after the whole compile."""
    report = tmp_path / "r.xml"
    proc = _fails(
        tmp_path,
        *("build", str(_fresh_app(tmp_path)), "-t", "x", "-o", str(tmp_path / "x.tar")),
        f"--nuitka-arg=--report={report}",
        code=UsageError.exit_code,
        pattern=f"--nuitka-arg '--report={report}' cannot be given",
        env={**os.environ, "PYBIN2IMG_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.stderr.strip().splitlines() == [
        f"pybin2img: error: --nuitka-arg '--report={report}' cannot be given: "
        "pybin2img reads Nuitka's report from where it asks for it; --metadata-file has what "
        "it found there"
    ]
    assert not (tmp_path / "cache").exists()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_the_compile_leaves_nothing_behind(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "PYBIN2IMG_CACHE_DIR": str(cache)}
    app = _fresh_app(tmp_path)
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "pybin2img",
        "build",
        str(app),
        "-t",
        "x",
        "-o",
        str(out / "x.tar"),
    ]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that runs the suite in the background ignores SIGINT for its children, and
        # Python then installs no handler: give the build the disposition a terminal gives.
        preexec_fn=_default_sigint,  # noqa: PLW1509 - only sets a signal disposition
    )
    deadline = time.monotonic() + 60
    # Wait until Nuitka runs (its work directory exists), then interrupt as a terminal would.
    while not list((cache / "tmp").glob("build-*/nuitka")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == Interrupted.exit_code, stderr
    assert stdout == ""
    assert stderr.strip().splitlines()[-1] == "pybin2img: error: interrupted"
    assert not out.exists() or not list(out.iterdir())
    assert not list((cache / "tmp").iterdir()), "the work directory was left behind"
    assert not list((cache / "dists").glob("*/")) or all(
        (entry / "contents.json").exists()
        for entry in (cache / "dists").iterdir()
        if entry.is_dir()
    )
    # Nothing of Nuitka is still running, and the next build works from the same cache.
    leftover = subprocess.run(["pgrep", "-f", str(app)], capture_output=True, text=True)
    assert leftover.stdout == ""
    again = pybin2img("build", str(app), "-t", "x", "-o", str(out / "x.tar"), env=env)
    assert again.stdout.startswith("x:latest@sha256:")
