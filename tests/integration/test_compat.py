"""The compatibility suite (examples/compat): most-installed PyPI packages, each doing something
real offline, in one program built with the defaults (third-party packages as bytecode), plus
what a package needs (NEEDS).

The program is built once per run with ``--compare`` given every package expected to work (its
image against the build interpreter); were that comparison to fail, it is built again without,
so that every package is still reported on its own: a test per package runs the image with that
package's name, locked down in the engine, and compares its stdout and exit code with the same
program run by the build environment's interpreter here. A package that does not run as on the
host today is in FAILING with the reason; its test is an expected failure (strict: a fix turns
it red until the entry goes, and the package joins the ``--compare`` run).
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID, docker, pybin2img
from tests.integration.test_examples import LOCKED

pytestmark = pytest.mark.integration

COMPAT = EXAMPLES / "compat"
PROGRAM = COMPAT / "compat.py"
REFERENCE = f"pybin2img-test/compat:{RUN_ID}"

#: The packages the program checks, in its order (basics.py, science.py, services.py).
PACKAGES = (
    "requests",
    "urllib3",
    "certifi",
    "charset-normalizer",
    "idna",
    "PyYAML",
    "attrs",
    "python-dateutil",
    "pytz",
    "click",
    "rich",
    "Jinja2",
    "Markdown",
    "msgpack",
    "orjson",
    "packaging",
    "six",
    "black",
    "flake8",
    "ruamel.yaml",
    "ruamel.yaml.string",
    "dateparser",
    "docutils",
    "inflect",
    "pyexcel",
    "numpy",
    "matplotlib",
    "Pillow",
    "wordcloud",
    "pyarrow",
    "lxml",
    "cryptography",
    "pydantic",
    "jsonschema",
    "protobuf",
    "grpcio",
    "aiohttp",
    "boto3",
    "SQLAlchemy",
    "psycopg",
    "alembic",
)

#: Build arguments beyond ``-r``, each because a package needs it (README's table): alembic runs
#: migration scripts that are files, not modules of the program; Pillow draws with a font of
#: the machine's (fonts-dejavu-core) that it finds by its file name.
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NEEDS = ("--include-data", f"{COMPAT / 'migrations'}=migrations", "--add-file", FONT)

FAILING: dict[str, str] = {}

#: What ``--compare`` runs: every package expected to work.
COMPARED = tuple(package for package in PACKAGES if package not in FAILING)


@dataclass(frozen=True)
class Program:
    metadata: dict[str, Any]
    #: The error of the build with ``--compare``, or ``None`` when it passed.
    compare_error: str | None

    @property
    def python(self) -> str:
        return str(self.metadata["python"]["executable"])


def _build(build_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return pybin2img(
        "build",
        str(PROGRAM),
        "-t",
        REFERENCE,
        "-o",
        str(build_dir / "compat.tar"),
        "-r",
        str(COMPAT / "requirements.txt"),
        "--load",
        "--metadata-file",
        str(build_dir / "compat.json"),
        *NEEDS,
        *extra,
        check=False,
    )


@pytest.fixture(scope="module")
def program(docker_engine: Any, build_dir: Path) -> Iterator[Program]:
    compare = "--compare=" + shlex.join(COMPARED)
    proc = _build(build_dir, compare)
    compare_error = None
    if proc.returncode == 9 and "--compare" in proc.stderr:
        compare_error = proc.stderr
        proc = _build(build_dir)  # the compile is reused: seconds
    assert proc.returncode == 0, f"building the compatibility suite failed:\n{proc.stderr}"
    metadata = json.loads((build_dir / "compat.json").read_text())
    try:
        yield Program(metadata, compare_error)
    finally:
        docker_engine.images.remove(REFERENCE, force=True)


def _marked(package: str) -> Any:
    marks = []
    if package in FAILING:
        marks.append(pytest.mark.xfail(reason=FAILING[package], strict=True))
    return pytest.param(package, marks=marks, id=package)


@pytest.mark.parametrize("package", [_marked(package) for package in PACKAGES])
def test_package_runs_as_on_the_host(program: Program, package: str, tmp_path: Path) -> None:
    image = docker("run", *LOCKED, REFERENCE, package, check=False)
    host = subprocess.run(
        [program.python, str(PROGRAM), package],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert host.returncode == 0, f"{package} fails on the host:\n{host.stdout}{host.stderr}"
    assert (image.stdout, image.returncode) == (host.stdout, host.returncode), (
        f"{package} in the image:\n{image.stdout}{image.stderr[-3000:]}"
    )


def test_compare_passes_for_every_package_expected_to_work(program: Program) -> None:
    """``--compare`` on the real thing: all those packages, in one run each side."""
    assert program.compare_error is None, program.compare_error
    compared = program.metadata["compare"]
    assert compared["same"] is True
    assert compared["image"]["stdout_lines"] == len(COMPARED)


def test_program_lists_the_packages_it_checks(program: Program) -> None:
    listed = docker("run", *LOCKED, REFERENCE).stdout
    assert listed == f"packages: {' '.join(PACKAGES)}\n"


def test_what_pillow_finds_on_the_machine_is_known_to_the_build(program: Program) -> None:
    """The font science.py names by its file name is found where Pillow looks (and, added, not
    warned of); the FriBiDi library Pillow's _imagingft opens by name joins the image."""
    named = program.metadata["named_modules"]
    fonts = [p for p in named["host_paths"] if p["font"] == "DejaVuSans.ttf"]
    assert [(p["path"], p["image_path"]) for p in fonts] == [(FONT, FONT)]
    assert any(lib["name"] == "libfribidi.so.0" for lib in named["libraries"]), named["libraries"]
