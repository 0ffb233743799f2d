"""Packages as they are: distribution metadata and entry-point plugins, and modules named inside
installed packages (README "Distribution metadata and entry points" and "Modules named inside
installed packages").

Two builds, each made once and shared by the tests of this module: examples/plugins, a
src-layout project whose CLI prints its own version and loads its own entry points, flake8's
plugins and charset-normalizer's console script; and examples/dynamic (boto3, dateparser,
pyarrow, python-magic). Each image runs locked down and prints what the same code prints under
the build environment's interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID, docker, pybin2img, unpack_image
from tests.integration.test_examples import LOCKED, Example, _build, _host

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plugins(docker_engine: Any, build_dir: Any) -> Iterator[Example]:
    example = _build("packages-plugins", EXAMPLES / "plugins", build_dir)
    yield example
    docker_engine.images.remove(example.reference, force=True)


@pytest.fixture(scope="module")
def dynamic(docker_engine: Any, build_dir: Any) -> Iterator[Example]:
    app = EXAMPLES / "dynamic" / "app.py"
    example = _build("packages-dynamic", app, build_dir, "-r", str(app.parent / "requirements.txt"))
    yield example
    docker_engine.images.remove(example.reference, force=True)


def _entry_points(example: Example) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in example.metadata["named_modules"]["entry_points"]}


def _modules(example: Example, kind: str) -> dict[str, str]:
    return {
        m["module"]: m["where"]
        for m in example.metadata["named_modules"]["modules"]
        if m["kind"] == kind
    }


def test_project_metadata_and_entry_point_plugins_as_on_the_host(plugins: Example) -> None:
    lines = docker("run", *LOCKED, plugins.reference).stdout.splitlines()
    # The project's own metadata, made from its pyproject.toml, and its own plugins.
    assert lines[:4] == [
        "plugin-host 2.1.0: Finds plugins through entry points and prints its own version",
        "requires: flake8==7.5.0, charset-normalizer==3.5.3, importlib_metadata==8.7.0",
        "greeter plain from plugin-host: hello plugins",
        "greeter shout from plugin-host: HELLO PLUGINS!",
    ]
    # Its dependencies' plugins: the same lines as on the host.
    host = _host(
        plugins,
        "-c",
        "from pluginhost import checks; print(*checks.run(), sep='\\n')",
        cwd=EXAMPLES / "plugins" / "src",
    )
    assert lines[4:] == host.splitlines()
    assert "sample.py:1:1: F401 'os' imported but unused" in lines
    assert "sample.py:2:2: E225 missing whitespace around operator" in lines
    assert "normalizer = charset_normalizer.cli:cli_detect (charset-normalizer 3.5.3)" in lines
    assert lines[-1] == "backport: charset_normalizer.cli:cli_detect (charset-normalizer 3.5.3)"
    groups = _entry_points(plugins)
    assert {"flake8.extension", "flake8.report", "console_scripts", "pluginhost.greeters"} <= set(
        groups
    )
    assert groups["flake8.report"]["where"].endswith("flake8/plugins/finder.py, line 22")
    checks = EXAMPLES / "plugins" / "src" / "pluginhost" / "checks.py"
    line = next(
        number
        for number, text in enumerate(checks.read_text().splitlines(), start=1)
        if 'group="console_scripts"' in text
    )
    assert groups["console_scripts"]["where"] == f"{checks}, line {line}"


def test_modules_named_inside_installed_packages_as_on_the_host(dynamic: Example) -> None:
    proc = docker("run", *LOCKED, dynamic.reference)
    assert proc.stdout == _host(dynamic, str(EXAMPLES / "dynamic" / "app.py"))
    assert "le 3 janvier 2020 à 10h -> 2020-01-03 10:00:00" in proc.stdout
    assert "application/pdf | PDF document, version 1.4" in proc.stdout
    named = dynamic.metadata["named_modules"]
    strings = _modules(dynamic, "string")
    assert strings["boto3.dynamodb.transform"].endswith("boto3/session.py, line 536")
    computed = {c["package"]: c for c in named["computed_imports"]}
    translations = computed["dateparser.data.date_translation_data"]
    assert translations["added"]
    assert translations["modules"] > 100
    assert _modules(dynamic, "extension")["queue"].endswith("pyarrow/io.pxi, line 33")
    # python-magic's loader: find_library("magic"), "libmagic.so.1", and on Windows each name
    # of a list (looked up here too, found for "libmagic" only: the same library)
    names = [lib["name"] for lib in named["libraries"]]
    assert {"libmagic.so.1", "magic", "libmagic"} <= set(names), names


EDITABLE = Path(__file__).resolve().parents[1] / "apps" / "editable"


def _venv(venv: Path, *pip_args: str) -> None:
    """A venv of the test's interpreter at ``venv`` with ``pip install`` of ``pip_args``."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pip_args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]


def test_a_projects_venv_with_an_editable_install(docker_engine: Any, tmp_path: Path) -> None:
    """``--python`` names a project's venv without Nuitka, where the app's package is installed
    with ``pip install -e`` (setuptools' finder: importable only through the hook its ``.pth``
    installs, from a folder inside the app's): the build sees the venv's packages as its
    interpreter does, and the image has the package's data file, version and entry points
    (``--compare``). A changed data file makes a new compile; nothing changed, none."""
    # The paths are in the compile key: the run's own, so that a cache kept from an earlier run
    # of the suite (CI keeps it, and its /tmp repeats) cannot answer the changed data file.
    app = tmp_path / RUN_ID / "app"
    shutil.copytree(EDITABLE, app)
    venv = tmp_path / RUN_ID / "venv"
    _venv(
        venv,
        *("-e", str(app / "project"), str(app / "palette-dist")),
    )

    def build() -> tuple[str, str]:
        proc = pybin2img(
            "build",
            str(app / "app.py"),
            "--python",
            str(venv / "bin" / "python"),
            "-t",
            f"pybin2img-test/editable:{RUN_ID}",
            "-o",
            str(tmp_path / "editable.tar"),
            "--compare",
        )
        compiled = next(line for line in proc.stderr.splitlines() if line.startswith("compile"))
        compared = next(line for line in proc.stderr.splitlines() if line.startswith("compare"))
        return compiled, compared

    # The venv's setuptools answers for the files of a package installed there the usual
    # way: in the image too, where it is carried as bytecode (README "Package data").
    here = subprocess.run(
        [str(venv / "bin" / "python"), str(app / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert here[-1] == ("pkg_resources: True True ['green.txt', 'red.txt'] b'#ff0000\\n'")
    compiled, compared = build()
    assert "same exit code (0) and stdout (4 lines)" in compared
    (app / "project" / "greeter" / "greeting.txt").write_text("good day, {}\n")
    compiled, compared = build()
    assert "(cached)" not in compiled
    assert "same exit code (0) and stdout (4 lines)" in compared
    compiled, _compared = build()
    assert "(cached)" in compiled
    # The SBOM claims the editable package's data files for its distribution.
    inspected = pybin2img("inspect", str(tmp_path / "editable.tar")).stdout
    assert " 0 claimed by no component" in inspected, inspected


def test_editable_installs_nuitka_would_miss_in_a_venv_with_nuitka(
    docker_engine: Any, tmp_path: Path
) -> None:
    """A project's venv that has Nuitka itself (pybin2img installed there, the default
    ``--python``) and packages installed with ``pip install -e`` where Nuitka does not look by
    itself: below the namespace package ``acme`` (src layout, found through a ``.pth``
    directory; flat layout, setuptools' finder) and hatchling's exact mode (the ``editables``
    library's finder). The build runs that venv's Nuitka in an environment that has those
    packages on ``sys.path``; the image runs as the venv does (``--compare``), with each
    package's data file, and the SBOM claims every file."""
    # The run's own paths: the build environment for those roots is made in this run, even
    # with a cache kept from an earlier one.
    app = tmp_path / RUN_ID / "app"
    shutil.copytree(EDITABLE, app)
    venv = tmp_path / RUN_ID / "venv"
    _venv(
        venv,
        f"nuitka=={metadata.version('nuitka')}",
        *("-e", str(app / "acme-widgets"), "-e", str(app / "acme-gadgets")),
        *("-e", str(app / "hexa-dist")),
    )
    here = subprocess.run(
        [str(venv / "bin" / "python"), str(app / "parts.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert here == "round knob coil 0xff\n"
    proc = pybin2img(
        "build",
        str(app / "parts.py"),
        "--python",
        str(venv / "bin" / "python"),
        "-t",
        f"pybin2img-test/editable-parts:{RUN_ID}",
        "-o",
        str(tmp_path / "parts.tar"),
        "--compare",
    )
    assert "build environment for the editable installs of" in proc.stderr, proc.stderr
    assert "same exit code (0) and stdout (1 lines)" in proc.stderr, proc.stderr
    inspected = pybin2img("inspect", str(tmp_path / "parts.tar")).stdout
    assert " 0 claimed by no component" in inspected, inspected


LOCKED_PROJECT = Path(__file__).resolve().parents[1] / "apps" / "locked"


def test_a_project_built_with_the_versions_its_venv_has(docker_engine: Any, tmp_path: Path) -> None:
    """A project directory whose venv has its dependencies, at the versions its lock file
    pinned (humanize 4.8.0, older than the index's newest): the image has those versions, not a
    new resolution from the index, and runs as the venv does (``--compare``). Its script is
    named as its package (``uv init --package`` makes them so): the launcher pybin2img writes
    for the entry point must not hide the package from Nuitka."""
    project = tmp_path / "locked"
    shutil.copytree(LOCKED_PROJECT, project)
    venv = project / ".venv"
    _venv(
        venv,
        *("humanize==4.8.0", "-e", str(project)),
    )
    proc = pybin2img(
        "build",
        str(project),
        "--python",
        str(venv / "bin" / "python"),
        "-t",
        f"pybin2img-test/locked:{RUN_ID}",
        "-o",
        str(tmp_path / "locked.tar"),
        "--compare",
    )
    assert "[project.dependencies]: all 1 installed for" in proc.stderr, proc.stderr
    assert "same exit code (0) and stdout (1 lines)" in proc.stderr, proc.stderr
    # Scanners that read no SBOM (syft, grype) find the versions by core metadata files.
    root = unpack_image(tmp_path / "locked.tar", tmp_path / "root")
    records = root / "usr" / "share" / "pybin2img" / "python"
    metadata_file = records / "humanize-4.8.0.dist-info" / "METADATA"
    assert "Name: humanize\nVersion: 4.8.0\n" in metadata_file.read_text()
    image = proc.stdout.strip()
    docker("load", "-q", "-i", str(tmp_path / "locked.tar"))
    try:
        ran = docker("run", "--rm", image.split("@")[0])
        assert ran.stdout == "humanize 4.8.0 123.5 MB\n"
    finally:
        docker("rmi", "-f", image.split("@")[0], check=False)
    # Without that venv (the interpreter running pybin2img has no humanize), the build
    # environment installs what the lock file pins, not the index's newest.
    (project / "uv.lock").write_text(
        "version = 1\n"
        '[[package]]\nname = "humanize"\nversion = "4.8.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "locked"\nversion = "0.1.0"\nsource = { editable = "." }\n'
    )
    proc = pybin2img(
        "build",
        str(project),
        "-t",
        f"pybin2img-test/locked:{RUN_ID}",
        "-o",
        str(tmp_path / "pinned.tar"),
        "--compare",
    )
    assert "pinned by uv.lock (1 versions)" in proc.stderr, proc.stderr
    assert "same exit code (0) and stdout (1 lines)" in proc.stderr, proc.stderr
    root = unpack_image(tmp_path / "pinned.tar", tmp_path / "pinned")
    assert (root / metadata_file.relative_to(tmp_path / "root")).is_file()
