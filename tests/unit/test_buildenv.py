"""The build environment made for an interpreter without Nuitka: a virtual environment's own
site directories are given to it by a ``.pth`` file (compile/buildenv.py)."""

from __future__ import annotations

import subprocess
import sys
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


def test_the_pth_file_appends_the_editable_roots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / "env"
    (env / "lib" / "python3.11" / "site-packages").mkdir(parents=True)
    buildenv._add_venv_sites(env, [], ["/project/src", "/already"])
    (pth,) = (env / "lib" / "python3.11" / "site-packages").glob("*.pth")
    monkeypatch.setattr(sys, "path", ["/stdlib", "/already"])
    site, added = _site(tmp_path)
    exec(pth.read_text()[len("import site; ") :], {"site": site})
    assert added == []
    assert sys.path == ["/stdlib", "/already", "/project/src"]


@pytest.mark.allow_programs("site runs the venv's .pth files in a fresh interpreter")
def test_an_interpreter_reports_the_editable_roots_nuitka_misses(tmp_path: Path) -> None:
    """A venv with three editable hooks, as the ``editables`` library and setuptools install
    them: a package through the editables finder and one below a namespace are roots Nuitka
    misses; a top-level package in setuptools' ``MAPPING`` it finds by itself."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site_packages,) = venv.glob("lib/python3*/site-packages")
    project = tmp_path / "project"
    for package in ("src/hexa", "acme/gadgets", "flat/greeter"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text("")
    (site_packages / "editables").mkdir()
    (site_packages / "editables" / "__init__.py").write_text("")
    (site_packages / "editables" / "redirector.py").write_text(
        "import sys\n"
        "class RedirectingFinder:\n"
        "    _redirections = {}\n"
        "    @classmethod\n"
        "    def map_module(cls, name, path):\n"
        "        cls._redirections[name] = path\n"
        "    @classmethod\n"
        "    def find_spec(cls, *args):\n"
        "        return None\n"
        "    @classmethod\n"
        "    def install(cls):\n"
        "        sys.meta_path.append(cls)\n"
    )
    (site_packages / "_editable_impl_hexa.pth").write_text("import _editable_impl_hexa\n")
    (site_packages / "_editable_impl_hexa.py").write_text(
        "from editables.redirector import RedirectingFinder as F\n"
        "F.install()\n"
        f"F.map_module('hexa', {str(project / 'src' / 'hexa' / '__init__.py')!r})\n"
    )
    (site_packages / "__editable__.parts-1.0.pth").write_text(
        "import __editable___parts_1_0_finder; __editable___parts_1_0_finder.install()\n"
    )
    (site_packages / "__editable___parts_1_0_finder.py").write_text(
        "import sys\n"
        f"MAPPING = {{'acme.gadgets': {str(project / 'acme' / 'gadgets')!r},\n"
        f"           'greeter': {str(project / 'flat' / 'greeter')!r}}}\n"
        "class _EditableFinder:\n"
        "    @classmethod\n"
        "    def find_spec(cls, *args):\n"
        "        return None\n"
        "def install():\n"
        "    sys.meta_path.append(_EditableFinder)\n"
    )
    sites = buildenv.interpreter_sites(venv / "bin" / "python")
    assert sites["venv"] is True
    # Debian's interpreters name their dist-packages directories too.
    assert str(site_packages) in sites["own"]
    assert sorted(sites["roots"]) == sorted(
        [str(project / "src"), str(project), str(project / "flat")]
    )
    assert sites["unfollowed"] is True
    # Without the editables hook, and with the namespace's package mapped as a top-level one:
    # Nuitka finds them all by itself.
    (site_packages / "_editable_impl_hexa.pth").unlink()
    finder = site_packages / "__editable___parts_1_0_finder.py"
    finder.write_text(finder.read_text().replace("'acme.gadgets'", "'gadgets'"))
    assert buildenv.interpreter_sites(venv / "bin" / "python")["unfollowed"] is False


def test_the_compile_key_holds_the_import_path_but_not_where_the_environment_is() -> None:
    """An editable install's root on ``sys.path`` is a new dist (compile/distcache.py); the
    path of a build environment in the cache, which differs between machines, is not."""
    from pybin2img.compile.distcache import _import_path
    from pybin2img.compile.probe import Interpreter

    def interpreter(env: str, path: list[str]) -> Interpreter:
        return Interpreter(
            executable=Path(env) / "bin" / "python",
            python_version="3.11.7",
            nuitka_version="4.3.5",
            sys_path=tuple(path),
        )

    def key(env: str, *extra: str) -> list[str]:
        path = ["/usr/lib/python3.11", f"{env}/lib/python3.11/site-packages", *extra]
        return _import_path(interpreter(env, path))

    assert key("/home/a/.cache/pybin2img/envs/k") == key("/root/.cache/pybin2img/envs/k")
    assert key("/e", "/project/src") != key("/e")
    assert key("/e") == ["/usr/lib/python3.11", "{prefix}/lib/python3.11/site-packages"]
