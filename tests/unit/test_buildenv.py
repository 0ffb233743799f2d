"""The build environment made for an interpreter without Nuitka: a virtual environment's own
site directories are given to it by a ``.pth`` file (compile/buildenv.py)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from pybin2img.compile import buildenv
from pybin2img.errors import CompileError


def _site(tmp_path: Path) -> tuple[types.SimpleNamespace, list[str]]:
    """A stand-in for the ``site`` module the ``.pth`` line runs with."""
    added: list[str] = []
    site = types.SimpleNamespace(
        addsitedir=added.append,
        getsitepackages=lambda prefixes=None: (
            [str(tmp_path / "env" / "site-packages")] if prefixes is None else ["/base"]
        ),
    )
    return site, added


def test_the_pth_file_adds_the_venvs_site_directories(tmp_path: Path) -> None:
    env = tmp_path / "env"
    (env / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    buildenv._add_venv_sites(env, ["/project/.venv/lib/python3.11/site-packages"])
    (pth,) = (env / "lib" / "python3.11" / "site-packages").glob("*.pth")
    line = pth.read_text()
    # One line, run by site as an "import" line of a .pth file.
    assert line.startswith("import site; ")
    assert line.count("\n") == 1
    site, added = _site(tmp_path)
    exec(line[len("import site; ") :], {"site": site})  # as site.py runs the line
    assert added == ["/project/.venv/lib/python3.11/site-packages"]
    # Nuitka looks for editable installs' .pth files in site.getsitepackages().
    assert site.getsitepackages() == [
        str(tmp_path / "env" / "site-packages"),
        "/project/.venv/lib/python3.11/site-packages",
    ]
    assert site.getsitepackages(["/usr"]) == ["/base"]


def test_an_environment_without_one_site_packages_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CompileError, match="no single site-packages"):
        buildenv._add_venv_sites(tmp_path / "env", ["/x"])
