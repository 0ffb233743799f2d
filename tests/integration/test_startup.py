"""The program's start on real compiles: Nuitka's import of inspect is deferred (before Python
3.12), and generators, coroutines and types.coroutine behave as under the interpreter either
way round (``--compare``, whose first line is whether inspect is imported at start).

tests/apps/startup/generators.py is compiled once; the second build reuses the compile. And the
bytecode of the standard library's modules is found without the program mapping its blob.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pybin2img.oci.archive import open_archive
from tests.integration.conftest import RUN_ID, pybin2img

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "apps" / "startup" / "generators.py"


@pytest.mark.parametrize("order", ["inspect-first", "types-first"])
def test_generators_and_coroutines_as_under_the_interpreter(build_dir: Path, order: str) -> None:
    metadata = build_dir / f"startup-{order}.json"
    pybin2img(
        "build",
        str(APP),
        "-t",
        f"pybin2img-test/startup:{order}-{RUN_ID}",
        "-o",
        str(build_dir / f"startup-{order}.tar"),
        "--metadata-file",
        str(metadata),
        f"--compare={order}",
    )
    compared = json.loads(metadata.read_text())["compare"]
    assert compared["same"] is True
    assert compared["image"]["stdout_lines"] == (12 if order == "types-first" else 9)


def test_an_asked_for_lto_keeps_the_import_at_start_and_says_why(build_dir: Path) -> None:
    proc = pybin2img(
        "build",
        str(APP),
        "-t",
        f"pybin2img-test/startup:lto-{RUN_ID}",
        "-o",
        str(build_dir / "startup-lto.tar"),
        "--nuitka-arg=--lto=yes",
        "--compare=inspect-first",
        "-v",
        check=False,
    )
    assert (
        "the program imports inspect and os at every start: link-time optimisation may be on"
        in proc.stderr
    )
    # The one difference: the compiled program has imported inspect before its first line.
    assert proc.returncode == 9, proc.stderr
    assert "stdout differs from line 1" in proc.stderr


LAZY = APP.with_name("lazy.py")


def _compared(build_dir: Path, app: Path, smoke: str) -> dict[str, Any]:
    """Build ``app`` with ``--compare`` and ``--smoke-test=SMOKE`` into
    ``startup-<stem>.tar``; its metadata."""
    metadata = build_dir / f"startup-{app.stem}.json"
    pybin2img(
        "build",
        str(app),
        "-t",
        f"pybin2img-test/startup:{app.stem}-{RUN_ID}",
        "-o",
        str(build_dir / f"startup-{app.stem}.tar"),
        "--metadata-file",
        str(metadata),
        "--compare",
        f"--smoke-test={smoke}",
    )
    facts: dict[str, Any] = json.loads(metadata.read_text())
    return facts


ENVIRON = APP.with_name("environ.py")
#: What tests/apps/startup/environ.py prints: a line for each run, its output and stderr's.
ENVIRON_LINES = 179


def test_the_interpreters_environment_variables_as_under_the_interpreter(
    build_dir: Path,
) -> None:
    """PYTHONDEVMODE, PYTHONMALLOC (debug hooks or not), PYTHONWARNINGS, PYTHONHASHSEED,
    PYTHONIOENCODING, PYTHONUNBUFFERED, PYTHONFAULTHANDLER, PYTHONTRACEMALLOC and
    PYTHONINTMAXSTRDIGITS do to the program what they do to the interpreter (the app runs
    itself once with each, ``--compare``): with the debug hooks Nuitka's allocations crashed
    the program (SIGSEGV) before its first line."""
    facts = _compared(build_dir, ENVIRON, "show")
    assert facts["compare"]["same"] is True
    assert facts["compare"]["image"]["stdout_lines"] == ENVIRON_LINES


def test_os_typing_importlib_and_warnings_execute_at_their_first_use_as_under_the_interpreter(
    build_dir: Path,
) -> None:
    """The image's program has executed none of os, typing, the importlib package and warnings
    before the app's first line (the smoke test runs it with ``start``), and all of them, the
    environment Nuitka restores and typing's type variables are as under the interpreter
    (``--compare``)."""
    facts = _compared(build_dir, LAZY, "start")
    assert facts["compare"]["same"] is True
    assert facts["compare"]["image"]["stdout_lines"] == 11


PATTERNS = APP.with_name("patterns.py")


def test_patterns_compiled_at_build_time_as_under_the_interpreter(
    build_dir: Path, tmp_path: Path
) -> None:
    """The patterns the app's and the standard library's modules compile as they execute come
    from the table written at build time (compile/regex.py): the program parsed none of them
    (the smoke test runs it with ``table``); they, a pattern that warns as it compiles (left
    out) and one made at run time are as under the interpreter (``--compare``)."""
    facts = _compared(build_dir, PATTERNS, "table")
    tarball = build_dir / "startup-patterns.tar"
    assert facts["compare"]["same"] is True
    assert facts["compare"]["image"]["stdout_lines"] == 23
    table = _app_dir(tarball, tmp_path) / "pybin2img.regex-table"
    patterns = {row[1] for row in marshal.loads(table.read_bytes())}
    assert len(patterns) > 8  # the app's eight and the standard library's
    assert "(?i)class-(level)" in patterns
    assert "[[a]" not in patterns


GENERATED = APP.with_name("generated.py")


def test_generated_code_compiled_at_build_time_as_under_the_interpreter(
    build_dir: Path, tmp_path: Path
) -> None:
    """The source dataclasses, named tuples and string annotations generate as the standard
    library's modules and the app execute comes compiled from the table written at build time
    (compile/generated.py): the program compiled none of it (the smoke test runs it with
    ``table``); the classes, their functions' code, the annotations and a class made at run
    time are as under the interpreter (``--compare``)."""
    facts = _compared(build_dir, GENERATED, "table")
    assert facts["compare"]["same"] is True
    assert facts["compare"]["image"]["stdout_lines"] == 13
    table = _app_dir(build_dir / "startup-generated.tar", tmp_path) / "pybin2img.code-table"
    rows = marshal.loads(table.read_bytes())
    sources = {row[2] for row in rows}
    assert any("def __init__(self,ncalls" in source for source in sources)  # pstats
    assert "dict[str, list[int]]" in sources  # the app's own annotations
    assert not any("MadeAtRunTime" in source for source in sources)


BYTECODE = APP.with_name("bytecode.py")
#: Nuitka's own walk of the blob: the program cannot open its file (strace injects the error).
NUITKA_WALK = ("strace", "-o", "/dev/null", "-P", "/proc/self/exe", "-e", "trace=openat")
NUITKA_WALK += ("-e", "inject=openat:error=ENOENT")


def _app_dir(tarball: Path, into: Path) -> Path:
    """The image's /app, unpacked into ``into``."""
    with open_archive(tarball) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                tar = stream.tar()
                for member in tar:
                    if member.name.startswith("app/"):
                        tar.extract(member, into, filter="data")
    return into / "app"


def test_the_bytecode_nuitka_finds_without_mapping_its_blob(
    build_dir: Path, tmp_path: Path
) -> None:
    """The start-up object finds each module's bytecode in the program's file, as Nuitka's
    walk of the blob in memory does, and each imported module's bytecode is read from there:
    the same modules and codecs work (under the interpreter too, ``--compare``), and when the
    program cannot open its file (Nuitka's walk, and its bytecode unmarshalled in place), it
    has mapped megabytes more of its own file, by its first line and at its end."""
    tarball = build_dir / "startup-bytecode.tar"
    pybin2img(
        "build",
        str(BYTECODE),
        "-t",
        f"pybin2img-test/startup:bytecode-{RUN_ID}",
        "-o",
        str(tarball),
        "--compare",
    )
    program = _app_dir(tarball, tmp_path) / "bytecode"
    ours = subprocess.run(
        [str(program), "--mapped"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    nuitkas = subprocess.run(
        [*NUITKA_WALK, str(program), "--mapped"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert ours[:-1] == nuitkas[:-1]
    assert len(ours) > 100
    mapped, nuitka_mapped = ([int(n) for n in lines[-1].split()[1:]] for lines in (ours, nuitkas))
    # At the first line: the blob's pages Nuitka's walk maps; at the end, also the pages of
    # each imported module's bytecode, which the program reads from its file instead.
    assert nuitka_mapped[0] - mapped[0] > 2048, (mapped, nuitka_mapped)
    assert nuitka_mapped[1] - mapped[1] > 2048, (mapped, nuitka_mapped)
    # The bytecode it carries has no column positions (the image has no source to underline),
    # and the same lines: a traceback names the frame it does under the interpreter.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONNODEBUGRANGES"}
    here = subprocess.run(
        [sys.executable, str(BYTECODE), "--positions"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.splitlines()
    there = subprocess.run(
        [str(program), "--positions"], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    assert here[0] == "columns True"
    assert there == ["columns False", here[1]], (here, there)
