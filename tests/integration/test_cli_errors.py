"""Bad input: one line on stderr, a documented non-zero exit code, no traceback, no tarball."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pybin2img.errors import CompileError, ImageWriteError, UsageError
from tests.integration.conftest import EXAMPLES, pybin2img

pytestmark = pytest.mark.integration

HELLO = str(EXAMPLES / "hello" / "hello.py")


def _assert_clean_failure(
    proc: subprocess.CompletedProcess[str], code: int, out_dir: Path, pattern: str
) -> None:
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("pybin2img: error: ")
    assert pattern in lines[0]
    assert not list(out_dir.glob("*.tar*")), list(out_dir.iterdir())


def test_app_that_does_not_exist(tmp_path: Path) -> None:
    proc = pybin2img(
        "build", str(tmp_path / "nope.py"), "-t", "x", "-o", str(tmp_path / "x.tar"), check=False
    )
    _assert_clean_failure(proc, UsageError.exit_code, tmp_path, "does not exist")


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    app = tmp_path / "broken.py"
    app.write_text("print('ok')\n\ndef f(:\n    pass\n")
    proc = pybin2img("build", str(app), "-t", "x", "-o", str(tmp_path / "x.tar"), check=False)
    _assert_clean_failure(proc, CompileError.exit_code, tmp_path, f"syntax error in {app}, line 3")


def test_invalid_tag(tmp_path: Path) -> None:
    proc = pybin2img("build", HELLO, "-t", "My Image", "-o", str(tmp_path / "x.tar"), check=False)
    _assert_clean_failure(
        proc, UsageError.exit_code, tmp_path, "invalid image reference 'My Image'"
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


def test_output_directory_not_writable(readonly_dir: Path) -> None:
    out = readonly_dir / "x.tar"
    proc = pybin2img("build", HELLO, "-t", "x", "-o", str(out), check=False)
    _assert_clean_failure(proc, ImageWriteError.exit_code, readonly_dir, "is not writable")


def test_output_below_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    out = tmp_path / "file" / "sub" / "x.tar"
    proc = pybin2img("build", HELLO, "-t", "x", "-o", str(out), check=False)
    _assert_clean_failure(proc, ImageWriteError.exit_code, tmp_path, "is not a directory")


def test_missing_directory_below_a_read_only_one(readonly_dir: Path) -> None:
    out = readonly_dir / "sub" / "x.tar"
    proc = pybin2img("build", HELLO, "-t", "x", "-o", str(out), check=False)
    _assert_clean_failure(proc, ImageWriteError.exit_code, readonly_dir, "is not writable")


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    proc = pybin2img("build", HELLO, "-t", "x", "--no-such-option", check=False)
    _assert_clean_failure(proc, UsageError.exit_code, tmp_path, "No such option")
