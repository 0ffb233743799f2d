"""Packages as they are installed, in one image (one compile, shared by the tests):

- a package's data files next to its code (tests/apps/pkgfiles/datademo, installed from its
  directory through -r, as wordcloud reads its ``stopwords``);
- ruamel.yaml, shipped as its files by default: ruamel.yaml.string's plugin is found by
  globbing ``*/__plug_in__.py`` next to ruamel.yaml's own files;
- black, whose modules are mypyc-compiled extension modules (a patchelf before 0.19.1, or
  strip after patchelf, made the program segfault);
- alembic migrations shipped with ``--include-data``: ``env.py`` and the version scripts are
  loaded by path, and import what the program must have compiled in.

Built with the defaults: third-party packages as bytecode, black's mypyc modules as they are.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pybin2img.compile.named import config_checksum
from pybin2img.oci.archive import open_archive
from tests.integration.conftest import RUN_ID, docker, pybin2img
from tests.integration.test_examples import LOCKED

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "pkgfiles"


@dataclass(frozen=True)
class Built:
    reference: str
    tarball: Path
    metadata: dict[str, Any]
    stderr: str


@pytest.fixture(scope="module")
def built(docker_engine: Any, build_dir: Path) -> Iterator[Built]:
    reference = f"pybin2img-test/pkgfiles:{RUN_ID}"
    tarball = build_dir / "pkgfiles.tar"
    meta = build_dir / "pkgfiles.json"
    proc = pybin2img(
        *("build", str(APP / "app.py"), "-t", reference, "-o", str(tarball), "--load", "-v"),
        *("-r", str(APP / "requirements.txt"), "--metadata-file", str(meta), "--smoke-test"),
        *("--include-data", f"{APP / 'migrations'}=migrations"),
    )
    yield Built(reference, tarball, json.loads(meta.read_text()), proc.stderr)
    docker_engine.images.remove(reference, force=True)


def _files(tarball: Path) -> set[str]:
    names: set[str] = set()
    with open_archive(tarball, oci=True) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                names.update(m.name for m in stream.tar() if m.isfile())
    return names


def test_the_image_runs_as_the_interpreter_does(built: Built) -> None:
    proc = docker("run", *LOCKED, built.reference)
    host = subprocess.run(
        [built.metadata["python"]["executable"], str(APP / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert proc.stdout == host.stdout
    lines = proc.stdout.splitlines()
    assert "data: hello from datademo's data" in lines
    assert "messages: {'de': 'hallo', 'fr': 'bonjour'}" in lines
    assert "yaml: a: | - 1 | - 2" in lines  # ruamel.yaml.string's plugin was found
    assert "yaml file: True" in lines
    assert 'black: x = {"a": 1}' in lines
    assert "tables: ['alembic_version', 'orders', 'users']" in lines


def test_what_ships_and_what_does_not(built: Built) -> None:
    files = _files(built.tarball)
    assert {
        "app/datademo/greeting.txt",
        "app/datademo/messages/fr.txt",
        "app/ruamel/yaml/main.py",
        "app/ruamel/yaml/string/__plug_in__.py",
        "app/migrations/env.py",
        "app/migrations/script.py.mako",
        "app/migrations/versions/0001_users.py",
    } <= files
    assert "app/datademo/tests/fixture.txt" not in files  # a package's tests stay out
    assert not any("__pycache__" in name for name in files)


def test_the_verbose_build_says_what_it_added(built: Built) -> None:
    assert "package data: datademo (datademo), 3 files" in built.stderr
    assert "as files: ruamel.yaml (ruamel.yaml, ruamel.yaml.string)" in built.stderr
    assert "data by directory of /app (uncompressed): " in built.stderr


def test_a_package_configuration_a_nuitka_option_names_is_part_of_the_cached_dist(
    docker_engine: Any, tmp_path: Path
) -> None:
    """Nuitka's package configuration given as ``--nuitka-arg=--user-package-configuration-
    file=F``, first with a wrong implicit import: the start check fails on the module the app
    imports by a computed name. Corrected, the next build compiles again and passes (it used to
    take the dist made with the wrong file from the cache, and fail again); unchanged, the build
    after that is a cache hit."""
    base = tmp_path / RUN_ID  # the paths are in the compile key: this run's own
    base.mkdir()
    (base / "helper.py").write_text(
        "import importlib\nimport sys\n\n\ndef load():\n"
        "    return importlib.import_module('zip' + 'app'[: len(sys.argv) + 2])\n"
    )
    app = base / "zipper.py"
    app.write_text("import helper\n\nprint(helper.load().ZipAppError.__name__)\n")
    config = base / "helper.nuitka-package.config.yml"

    def configure(module: str) -> None:
        entry = {"implicit-imports": [{"depends": [module]}]}
        config.write_text(
            f"- module-name: 'helper' # checksum: {config_checksum(entry)}\n"
            f"  implicit-imports:\n    - depends:\n        - '{module}'\n"
        )

    def build() -> subprocess.CompletedProcess[str]:
        return pybin2img(
            "build",
            str(app),
            f"--nuitka-arg=--user-package-configuration-file={config}",
            "-t",
            f"pybin2img-test/zipper:{RUN_ID}",
            "-o",
            str(base / "zipper.tar"),
            check=False,
        )

    configure("telnetlib")
    wrong = build()
    assert wrong.returncode != 0
    assert "No module named 'zipapp'" in wrong.stderr, wrong.stderr
    configure("zipapp")
    right = build()
    assert right.returncode == 0, right.stderr
    compiled = [line for line in right.stderr.splitlines() if line.startswith("compile")]
    assert "(cached)" not in compiled[-1]
    again = [line for line in build().stderr.splitlines() if line.startswith("compile")]
    assert "(cached)" in again[-1]


def test_a_file_a_nuitka_option_names_is_part_of_the_cached_dist(
    docker_engine: Any, tmp_path: Path
) -> None:
    """A data file shipped by Nuitka's own option (``--nuitka-arg=--include-data-files=SRC=DEST``)
    and then edited: the next build compiles again and the image has the new text
    (``--compare``); unchanged, the build after that is a cache hit."""
    base = tmp_path / RUN_ID  # the paths are in the compile key: this run's own
    base.mkdir()
    app = base / "motd.py"
    app.write_text(
        "import os\n\n"
        "with open(os.path.join(os.path.dirname(__file__), 'motd.txt')) as f:\n"
        "    print(f.read().strip())\n"
    )
    motd = base / "motd.txt"

    def build() -> str:
        proc = pybin2img(
            "build",
            str(app),
            f"--nuitka-arg=--include-data-files={motd}=motd.txt",
            "-t",
            f"pybin2img-test/motd:{RUN_ID}",
            "-o",
            str(base / "motd.tar"),
            "--compare",
        )
        assert "same exit code (0) and stdout (1 lines)" in proc.stderr, proc.stderr
        return next(line for line in proc.stderr.splitlines() if line.startswith("compile"))

    motd.write_text("good morning\n")
    build()
    motd.write_text("good evening\n")
    assert "(cached)" not in build()
    assert "(cached)" in build()
