"""The libpython a program links with Debian's own Python (compile/libpython.py), against this
machine's /usr/bin/python3 and python3-dev (installed by ci/install-system-packages.sh)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pybin2img.compile.libpython import interpreter_libpython
from pybin2img.compile.probe import Interpreter, probe_interpreter
from tests.conftest import require

pytestmark = pytest.mark.integration

SYSTEM_PYTHON = Path("/usr/bin/python3")


def test_debians_python3_is_made_of_its_pgo_archive() -> None:
    require(SYSTEM_PYTHON.is_file(), f"{SYSTEM_PYTHON} is missing")
    code = (
        "import platform, sysconfig; "
        "print(*map(sysconfig.get_config_var, ('LIBPL', 'LDVERSION')), platform.python_version())"
    )
    libpl, ldversion, version = subprocess.run(
        [str(SYSTEM_PYTHON), "-I", "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    real = os.path.realpath(SYSTEM_PYTHON)
    interpreter = Interpreter(
        executable=SYSTEM_PYTHON,
        python_version=version,
        nuitka_version="4.3.5",
        identity=(real, os.stat(real).st_size, 0),
        libpl=libpl,
        ldversion=ldversion,
    )
    libpython, why = interpreter_libpython(interpreter, ())
    assert why is None, why
    assert libpython is not None
    assert libpython.archive == Path(libpl) / f"libpython{ldversion}.a"
    # The objects of Debian's executable: compiled with a profile (hot and cold code apart).
    members = libpython.archive.read_bytes()
    assert b".text.hot" in members
    assert b".text.unlikely" in members


def test_the_build_interpreter_of_this_suite_is_probed_too(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text("print('hello')\n")
    interpreter = probe_interpreter(Path(sys.executable), [app], cwd=tmp_path)
    assert interpreter.ldversion == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert interpreter.libpl
