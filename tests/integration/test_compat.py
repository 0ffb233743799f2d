"""The compatibility suite (examples/compat): most-installed PyPI packages, each doing something
real offline, in three programs built with the defaults (plus what a package needs, in NEEDS),
each third-party package as bytecode (BYTECODE).

Each program is built once per run with ``--compare=all`` (its image against the build
interpreter); when that comparison fails, it is built again without, so that every package is
still reported on its own: a test per package runs the image with that package's name, locked
down in the engine, and compares its stdout and exit code with the same program run by the
build environment's interpreter here. A package that does not run as on the host today is in
FAILING with the reason; its test is an expected failure (strict: a fix turns it red until the
entry goes), as is the ``--compare`` test of its program.
"""

from __future__ import annotations

import json
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

#: program -> the packages it checks, in its order.
PROGRAMS: dict[str, tuple[str, ...]] = {
    "basics": (
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
    ),
    "services": (
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
    ),
    "science": ("numpy", "matplotlib", "Pillow", "wordcloud", "pyarrow", "lxml"),
}

#: program -> build arguments beyond ``-r``, each because a package needs it (README's table).
NEEDS: dict[str, tuple[str, ...]] = {
    # alembic runs migration scripts that are files, not modules of the program.
    "services": ("--include-data", f"{COMPAT / 'migrations'}=migrations"),
}

#: program -> packages shipped as bytecode (``--bytecode``): all of its third-party packages,
#: for the cold CI run's time. Compiled to C (the defaults), black, flake8, ruamel.yaml and
#: dateparser alone were 659 C files and 6 CPU-minutes, against 1 as bytecode, with the same
#: results; README "The compatibility suite" has the figures.
BYTECODE: dict[str, tuple[str, ...]] = {
    "basics": (
        "_black_version",
        "_yaml",
        "attr",
        "attrs",
        "black",
        "blackd",
        "blib2to3",
        "certifi",
        "charset_normalizer",
        "click",
        "dateparser",
        "dateparser_cli",
        "dateparser_data",
        "dateparser_scripts",
        "dateutil",
        "flake8",
        "idna",
        "jinja2",
        "markdown",
        "markdown_it",
        "markupsafe",
        "mccabe",
        "mdurl",
        "msgpack",
        "mypy_extensions",
        "orjson",
        "packaging",
        "pathspec",
        "platformdirs",
        "pycodestyle",
        "pyflakes",
        "pygments",
        "pytokens",
        "pytz",
        "regex",
        "requests",
        "rich",
        "ruamel",
        "six",
        "tzlocal",
        "urllib3",
        "yaml",
    ),
    "services": (
        "aiohappyeyeballs",
        "aiohttp",
        "aiosignal",
        "alembic",
        "annotated_types",
        "attr",
        "attrs",
        "boto3",
        "botocore",
        "cffi",
        "cryptography",
        "dateutil",
        "frozenlist",
        "google",
        "grpc",
        "idna",
        "jmespath",
        "jsonschema",
        "jsonschema_specifications",
        "mako",
        "markupsafe",
        "multidict",
        "propcache",
        "psycopg",
        "psycopg_binary",
        "pycparser",
        "pydantic",
        "pydantic_core",
        "referencing",
        "rpds",
        "s3transfer",
        "six",
        "sqlalchemy",
        "typing_extensions",
        "typing_inspection",
        "urllib3",
        "yarl",
    ),
    "science": (
        "PIL",
        "contourpy",
        "cycler",
        "dateutil",
        "fontTools",
        "kiwisolver",
        "lxml",
        "matplotlib",
        "mpl_toolkits",
        "numpy",
        "packaging",
        "pyarrow",
        "pylab",
        "pyparsing",
        "tzdata",
        "wordcloud",
    ),
}

#: package -> why it does not run in the image as on the host today (the error it gives).
FAILING: dict[str, str] = {
    "Markdown": "extensions named by their entry point ('tables') are not found: "
    "ModuleNotFoundError: No module named 'tables' (distribution metadata and entry points)",
    "boto3": "ModuleNotFoundError: No module named 'boto3.dynamodb.transform': boto3 names its "
    "customisations in strings (modules named in strings inside installed packages)",
    "alembic": "CommandError: Path doesn't exist: /app/migrations: --include-data left out the "
    "directory's .py files (.py files that are data)",
    "black": "exit code 139 (SIGSEGV): its mypyc helper module crashes after patchelf and strip "
    "(mypyc-compiled packages)",
    "flake8": "KeyError: 'default': its checkers are entry-point plugins, and none is found "
    "(distribution metadata and entry points)",
    "ruamel.yaml.string": "AttributeError: 'YAML' object has no attribute 'dump_to_string': "
    "ruamel.yaml finds plugins by globbing */__plug_in__.py beside its files (packages that "
    "list their own files)",
    "dateparser": "ModuleNotFoundError: No module named "
    "'dateparser.data.date_translation_data.en': language data imported by computed names",
    "wordcloud": "FileNotFoundError: [Errno 2] No such file or directory: "
    "'/app/wordcloud/stopwords': data files beside the package's code are not shipped",
    "pyarrow": "ModuleNotFoundError: No module named 'pyarrow.acero': imported at run time by "
    "the Cython module pyarrow.lib (imports made by extension modules)",
}


@dataclass(frozen=True)
class Program:
    name: str
    reference: str
    metadata: dict[str, Any]
    #: The error of the build with ``--compare=all``, or ``None`` when it passed.
    compare_error: str | None

    @property
    def python(self) -> str:
        return str(self.metadata["python"]["executable"])


def _build(name: str, build_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return pybin2img(
        "build",
        str(COMPAT / f"{name}.py"),
        "-t",
        f"pybin2img-test/compat-{name}:{RUN_ID}",
        "-o",
        str(build_dir / f"compat-{name}.tar"),
        "-r",
        str(COMPAT / f"{name}.requirements.txt"),
        "--load",
        "--metadata-file",
        str(build_dir / f"compat-{name}.json"),
        *NEEDS.get(name, ()),
        *(arg for package in BYTECODE[name] for arg in ("--bytecode", package)),
        *extra,
        check=False,
    )


@pytest.fixture(scope="session")
def compat_images(docker_engine: Any, build_dir: Path) -> Iterator[dict[str, Program]]:
    built: dict[str, Program] = {}
    yield built
    for program in built.values():
        docker_engine.images.remove(program.reference, force=True)


@pytest.fixture
def program(compat_images: dict[str, Program], build_dir: Path) -> Any:
    def build(name: str) -> Program:
        if name not in compat_images:
            proc = _build(name, build_dir, "--compare=all")
            compare_error = None
            if proc.returncode == 9 and "--compare 'all'" in proc.stderr:
                compare_error = proc.stderr
                proc = _build(name, build_dir)  # the compile is reused: seconds
            assert proc.returncode == 0, f"building {name} failed:\n{proc.stderr}"
            metadata = json.loads((build_dir / f"compat-{name}.json").read_text())
            compat_images[name] = Program(
                name, f"pybin2img-test/compat-{name}:{RUN_ID}", metadata, compare_error
            )
        return compat_images[name]

    return build


def _marked(program: str, package: str) -> Any:
    marks = []
    if package in FAILING:
        marks.append(pytest.mark.xfail(reason=FAILING[package], strict=True))
    return pytest.param(program, package, marks=marks, id=f"{program}-{package}")


@pytest.mark.parametrize(
    ("name", "package"),
    [_marked(name, package) for name, packages in PROGRAMS.items() for package in packages],
)
def test_package_runs_as_on_the_host(program: Any, name: str, package: str, tmp_path: Path) -> None:
    built = program(name)
    image = docker("run", *LOCKED, built.reference, package, check=False)
    host = subprocess.run(
        [built.python, str(COMPAT / f"{name}.py"), package],
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


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=[
                pytest.mark.xfail(
                    reason=f"{', '.join(failing)} fail{'s' if len(failing) == 1 else ''}",
                    strict=True,
                )
            ]
            if (failing := [p for p in packages if p in FAILING])
            else [],
        )
        for name, packages in PROGRAMS.items()
    ],
)
def test_compare_passes(program: Any, name: str) -> None:
    """``--compare=all``: the whole program, every package, against the interpreter."""
    built = program(name)
    assert built.compare_error is None, built.compare_error
    compared = built.metadata["compare"]
    assert compared["same"] is True
    assert compared["image"]["stdout_lines"] == len(PROGRAMS[name])


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_program_lists_the_packages_it_checks(program: Any, name: str) -> None:
    built = program(name)
    listed = docker("run", *LOCKED, built.reference).stdout
    assert listed == f"packages: {' '.join(PROGRAMS[name])}\n"
