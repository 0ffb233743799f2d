"""What pybin2img asks of Nuitka: the packages shipped as bytecode (``--bytecode``,
``--compile``) and the link flags."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest

from pybin2img.compile import nuitka
from pybin2img.compile.bytecode import bytecode_packages, metadata_config, third_party_packages
from pybin2img.compile.probe import Interpreter
from pybin2img.options import BuildOptions, build_options
from pybin2img.settings import Project, merge


def _tree(root: Path, *names: str) -> Path:
    for name in names:
        path = root / name
        if name.endswith("/"):
            path.mkdir(parents=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")
    return root


def _interpreter(tmp_path: Path) -> Interpreter:
    site = _tree(
        tmp_path / "venv/lib/python3.11/site-packages",
        "flask/__init__.py",
        "google/",  # a namespace package
        "typing_extensions.py",
        "six.py",
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so",  # nothing for bytecode to change
        "Flask-3.1.3.dist-info/METADATA",
        "numpy.libs/",
        "__pycache__/",
        "distutils-precedence.pth",
        "utils/__init__.py",
        "enum.py",  # an old backport, named like the standard library
    )
    stdlib = _tree(tmp_path / "lib/python3.11", "os.py")
    return Interpreter(
        executable=tmp_path / "venv/bin/python",
        python_version="3.11.7",
        nuitka_version="4.3.5",
        sys_path=(str(tmp_path / "lib/python311.zip"), str(stdlib), str(site)),
        stdlib_modules=frozenset({"os", "enum"}),
    )


def test_third_party_is_what_site_packages_holds(tmp_path: Path) -> None:
    interpreter = _interpreter(tmp_path)
    assert third_party_packages(interpreter) == [
        "flask", "google", "six", "typing_extensions", "utils",
    ]  # fmt: skip
    assert "utils" not in third_party_packages(interpreter, own={"utils"})


def test_the_apps_own_modules_are_compiled(tmp_path: Path) -> None:
    interpreter = _interpreter(tmp_path)
    app = _tree(tmp_path / "app", "app.py", "utils/__init__.py", "README.md")
    options = dataclasses.replace(_options(), bytecode=("third-party",))
    assert bytecode_packages(options, interpreter, [app]) == (
        "flask", "google", "six", "typing_extensions",
    )  # fmt: skip


def test_compile_wins_over_bytecode(tmp_path: Path) -> None:
    interpreter = _interpreter(tmp_path)
    options = dataclasses.replace(
        _options(), bytecode=("third-party", "django.contrib", "mylib"), compile=("flask", "django")
    )
    assert bytecode_packages(options, interpreter, []) == (
        "google", "mylib", "six", "typing_extensions", "utils",
    )  # fmt: skip
    assert bytecode_packages(dataclasses.replace(options, bytecode=()), interpreter, []) == ()


def test_packages_nuitka_runs_code_for_at_import_are_named_part_by_part(tmp_path: Path) -> None:
    # Nuitka 4.3 cannot ship the code it runs after anyio.to_process or before
    # scipy.optimize._cobyla_py is imported as bytecode, and that code falls under the
    # package's mode: the package is named part by part, the path down to it left compiled.
    interpreter = _interpreter(tmp_path)
    site = _tree(
        Path(interpreter.sys_path[-1]),
        "anyio/__init__.py", "anyio/to_process.py", "anyio/to_thread.py", "anyio/_core/__init__.py",
        "scipy/__init__.py", "scipy/linalg/__init__.py", "scipy/optimize/__init__.py",
        "scipy/optimize/_cobyla_py.py", "scipy/optimize/_minimize.py",
        "nuitka/plugins/standard/standard.nuitka-package.config.yml",
    )  # fmt: skip
    (site / "nuitka/plugins/standard/standard.nuitka-package.config.yml").write_text(
        "- module-name: 'scipy.optimize._cobyla_py' # checksum: 37a1223f\n"
        "  import-hacks:\n"
        "    - post-import-code:\n"
        "        - 'x = 1'\n"
        "- module-name: 'cv2'\n"
        "  import-hacks:\n"
        "    - pre-import-code:\n"
    )
    options = dataclasses.replace(
        _options(), bytecode=("anyio", "scipy", "six", "cv2", "anyio.to_process")
    )
    assert bytecode_packages(options, interpreter, []) == (
        "anyio._core", "anyio.to_thread", "cv2",  # cv2-preLoad is not inside cv2
        "scipy.linalg", "scipy.optimize._minimize", "six",
    )  # fmt: skip


def test_packages_shipped_as_bytecode_bring_their_distributions_metadata(
    tmp_path: Path,
) -> None:
    interpreter = _interpreter(tmp_path)
    site = Path(interpreter.sys_path[-1])
    (site / "Flask-3.1.3.dist-info/METADATA").write_text("Metadata-Version: 2.1\nName: Flask\n")
    (site / "Flask-3.1.3.dist-info/top_level.txt").write_text("flask\n")
    six = site / "six-1.16.0.dist-info"
    six.mkdir()
    (six / "METADATA").write_text("Name: six\n\nName: not this\n")
    record = "six.py,sha256=x,1\n__pycache__/six.pyc,,\nsix-1.16.0.dist-info/RECORD,,\n"
    (six / "RECORD").write_text(record)  # no top_level.txt: the files' first components
    assert metadata_config(["flask", "six", "google", "six.moves"], interpreter) == [
        {"module-name": "flask", "data-files": [{"include-metadata": ["Flask"]}]},
        {"module-name": "six", "data-files": [{"include-metadata": ["six"]}]},
    ]  # google: a namespace package no distribution here names


def test_relative_relocations_packed_where_the_image_has_the_hosts_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(nuitka, "_host_glibc", lambda: (2, 36))
    gc = "-Wl,--gc-sections"  # always: what nothing refers to is left out
    assert nuitka.link_flags("scratch") == (gc, "-Wl,-z,pack-relative-relocs")
    assert nuitka.link_flags("distroless") == (gc, "-Wl,-z,pack-relative-relocs")
    assert nuitka.link_flags("/images/base.tar") == (gc,)  # its own loader, maybe older
    monkeypatch.setattr(nuitka, "_host_glibc", lambda: (2, 35))
    assert nuitka.link_flags("scratch") == (gc,)


def _options() -> BuildOptions:
    values, sources = merge({"tag": ("x", "flag")}, Project())
    return build_options(
        values,
        sources=sources,
        app=Path(__file__),
        project=Project(),
        environ={},
        default_python=Path("/usr/bin/python3"),
    )


def test_every_accelerator_nuitka_leaves_out_is_included() -> None:
    """Nuitka's configuration of the standard library leaves out C accelerators that are not
    built into the interpreter ("may slow down by using fallback implementation"): each one it
    names is one the probe looks for and pybin2img includes. Fails when a Nuitka release names
    another."""
    from pybin2img.compile import _probe_main

    spec = importlib.util.find_spec("nuitka")
    assert spec is not None
    assert spec.origin is not None
    config = Path(spec.origin).parent / "plugins/standard/stdlib3.nuitka-package.config.yml"
    left_out = set(re.findall(r"'(\w+)': 'may slow down by using fallback", config.read_text()))
    assert left_out
    assert left_out <= set(_probe_main.ACCELERATORS)
    interpreter = Interpreter(
        executable=Path("/usr/bin/python3"),
        python_version="3.11.2",
        nuitka_version="4.3.5",
        accelerators=("_json",),
    )
    assert nuitka._accelerator_args(interpreter) == ("--include-module=_json",)


SHAPELY_STOPS = """\
  |   File "/env/nuitka/freezer/IncludedEntryPoints.py", line 181, in _makeDllOrExeEntryPoint
  |     assert isRelativePath(dest_path), dest_path
  | AssertionError: ../../../../root/.cache/pybin2img/tmp/build-ai29p2yb/imports/0/libgeos_c.so.1
  | FATAL: dll-files: Plugin issue while working on 'module 'shapely.geos''. Please report \
the bug with the above traceback included.
  | Nuitka-Reports: Compilation report written to file '/root/.cache/build/nuitka/report.xml'.
"""


def test_a_library_nuitkas_configuration_gives_by_its_bare_name_says_what_works() -> None:
    """Debian's python3-shapely 1.8 loads the system's GEOS by its soname; Nuitka's
    configuration for shapely < 2 takes that name for a path and its DLL plugin stops."""
    assert nuitka.known_failure(SHAPELY_STOPS) == (
        "Nuitka's configuration for shapely.geos names the library libgeos_c.so.1 by its bare "
        "name, as the package installed here loads it from the system (Debian's packages do), "
        "and Nuitka's DLL plugin cannot place a library given so (it stops with an "
        "AssertionError); build with shapely from PyPI, whose wheel brings its own copy (a venv "
        "with it: --python VENV/bin/python, or -r)"
    )
    assert (
        nuitka.known_failure("  | FATAL: gi: Plugin issue while working on 'module 'x''.\n") is None
    )
    assert nuitka.known_failure("") is None
