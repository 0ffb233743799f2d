"""``--compare`` and the start check's sign of a package dying at import, on real compiles.

tests/apps/compare is compiled once (with selfread, a package installed from a wheel made here,
that reads its own source at import) and written several times, with other arguments: each
build after the first reuses the compile and costs seconds.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EXAMPLES, RUN_ID, pybin2img

pytestmark = pytest.mark.integration

APPS = Path(__file__).resolve().parents[1] / "apps"


def _wheel(source: Path, directory: Path, name: str, version: str = "1.0") -> Path:
    """A pure-Python wheel of the package ``source/name``, made by hand (no build backend)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/{path.relative_to(source / name)}": path.read_bytes()
        for path in sorted((source / name).rglob("*.py"))
    }
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    )
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: pybin2img-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2024, 1, 1, 0, 0, 0)), data)
    return wheel


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, docker_engine: Any) -> Path:
    """A copy of tests/apps/compare with its requirements: the selfread wheel."""
    directory = tmp_path_factory.mktemp("compare")
    app_dir = directory / "app"
    shutil.copytree(APPS / "compare", app_dir)
    wheel = _wheel(APPS / "selfread", directory, "selfread")
    (directory / "requirements.txt").write_text(f"{wheel}\n")
    return app_dir


def _build(app: Path, build_dir: Path, name: str, *extra: str, check: bool = True) -> Any:
    """tests/apps/compare (copied to ``app``) with its requirements."""
    return _build_script(
        app / "app.py", app.parent / "requirements.txt", build_dir, name, *extra, check=check
    )


def _build_script(
    script: Path, requirements: Path, build_dir: Path, name: str, *extra: str, check: bool = True
) -> Any:
    """Build ``script`` into ``build_dir/NAME.tar``, with ``NAME.json`` as its metadata."""
    return pybin2img(
        "build",
        str(script),
        "-t",
        f"pybin2img-test/{name}:{RUN_ID}",
        "-o",
        str(build_dir / f"{name}.tar"),
        "-r",
        str(requirements),
        "--metadata-file",
        str(build_dir / f"{name}.json"),
        *extra,
        check=check,
    )


def test_compare_passes_with_the_programs_name_and_paths_as_the_image_has_them(
    app: Path, build_dir: Path
) -> None:
    proc = _build(app, build_dir, "compare-paths", "--compare=paths a 'b c'")
    assert "compare" in proc.stderr
    metadata = json.loads((build_dir / "compare-paths.json").read_text())
    compared = metadata["compare"]
    assert compared["same"] is True
    assert compared["args"] == "paths a 'b c'"
    assert compared["image"]["exit_code"] == compared["interpreter"]["exit_code"] == 0
    assert compared["image"]["stdout_lines"] == 4
    reads = {entry["reads"] for entry in compared["normalised"]}
    assert {"/app", "/tmp", "/home/nonroot"} <= reads


def test_importlib_resources_imported_after_importlib(app: Path, build_dir: Path) -> None:
    """Nuitka drops ``import importlib.resources`` after ``import importlib`` (the name is
    bound) and carries the module as a part of the standard library it always has, without the
    ``tempfile`` it imports: the program aborted (``Unexpected failure of hard import``, exit
    code 134). The probe sees the import and has ``tempfile`` compiled in with it."""
    _build(app, build_dir, "compare-resources", "--compare=resources")
    compared = json.loads((build_dir / "compare-resources.json").read_text())["compare"]
    assert compared["same"] is True
    assert compared["image"]["stdout_lines"] == 1


def test_a_recursion_without_end_raises_recursion_error(app: Path, build_dir: Path) -> None:
    """A recursion without end in the app's own code (compiled to C) raises RecursionError near
    ``sys.getrecursionlimit()``, the default one and a lower one, as under the interpreter:
    Nuitka's runtime compiled without its recursion guards overflowed the stack instead
    (SIGSEGV, exit code 139)."""
    _build(app, build_dir, "compare-recursion", "--compare=recursion")
    compared = json.loads((build_dir / "compare-recursion.json").read_text())["compare"]
    assert compared["same"] is True
    assert compared["image"]["stdout_lines"] == 2


def test_an_interrupt_the_app_does_not_catch(app: Path, build_dir: Path) -> None:
    """A SIGINT (Ctrl-C, or one an engine forwards) that the app does not catch ends it with
    the KeyboardInterrupt's traceback and exit code 130, as under the interpreter: before
    Python 3.12 Nuitka read the type of the exception from a value the exception had not got
    yet, and the program died of SIGSEGV (exit code 139)."""
    proc = _build(app, build_dir, "compare-interrupt", "--compare=interrupt")
    compared = json.loads((build_dir / "compare-interrupt.json").read_text())["compare"]
    assert compared["same"] is True
    assert compared["image"]["exit_code"] == 130
    assert compared["image"]["stdout_lines"] == 1
    assert "same exit code (130)" in proc.stderr


def test_the_apps_own_code_reading_source(app: Path, build_dir: Path) -> None:
    """An app whose own code reads source (``inspect.getsource``) finds it in the image: its
    own files ship beside the program, each where the module compiled from it names its file,
    and tracebacks show their lines. Without them ``inspect.getsource`` raised ``OSError``."""
    metadata_file = build_dir / "compare-source.json"
    proc = pybin2img(
        "build",
        str(app / "source.py"),
        "-t",
        f"pybin2img-test/compare-source:{RUN_ID}",
        "-o",
        str(build_dir / "compare-source.tar"),
        "--metadata-file",
        str(metadata_file),
        "--compare",
        "-v",
    )
    metadata = json.loads(metadata_file.read_text())
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == 3
    own = metadata["named_modules"]["own_sources"]
    assert own["files"] == ["owndata/__init__.py", "source.py"]
    assert own["reads"][0].endswith("(inspect.getsource)")
    assert "own sources:" in proc.stderr


def test_the_data_files_of_the_apps_own_package(app: Path, build_dir: Path) -> None:
    """A script's own package (owndata, beside it) reads its data file: by path, listing its
    directory, through importlib.resources and pkgutil.get_data. It ships with the package, as
    for a project or a package app; it was left out (FileNotFoundError in the image)."""
    _build(app, build_dir, "compare-data", "--compare=data")
    metadata = json.loads((build_dir / "compare-data.json").read_text())
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == 4
    assert metadata["named_modules"]["own_packages"] == ["owndata"]  # ownconfig is a module


def test_compare_fails_an_image_without_a_file_the_app_reads_beside_itself(
    app: Path, build_dir: Path
) -> None:
    motd = app / "motd.txt"
    motd.write_text("hello from the build machine\n")
    try:
        proc = _build(app, build_dir, "compare-motd", "--compare=motd", check=False)
    finally:
        motd.unlink()
    assert proc.returncode == 9, proc.stderr
    assert "--compare 'motd': the image does not run as the interpreter does: stdout differs" in (
        proc.stderr
    )
    assert "-motd: hello from the build machine" in proc.stderr
    assert "+motd: none" in proc.stderr
    assert not (build_dir / "compare-motd.tar").exists()
    assert not (build_dir / "compare-motd.json").exists()


def test_the_start_check_fails_an_app_dying_while_a_package_is_imported(
    app: Path, build_dir: Path
) -> None:
    proc = _build(app, build_dir, "compare-package", "--", "package", check=False)
    assert proc.returncode == 9, proc.stderr
    assert (
        "error: start check (Docker engine): the app died of an exception raised while the "
        "package 'selfread' was imported"
    ) in proc.stderr
    assert "(module selfread.source): FileNotFoundError" in proc.stderr
    assert not (build_dir / "compare-package.tar").exists()


def test_the_start_check_leaves_the_apps_own_import_error_to_the_app(
    app: Path, build_dir: Path
) -> None:
    proc = _build(app, build_dir, "compare-own", "--", "own")
    assert "start check, Docker engine: exit code 1, no sign of a broken image" in proc.stderr


def test_compare_passes_hello(build_dir: Path, docker_engine: Any) -> None:
    tarball = build_dir / "compare-hello.tar"
    pybin2img(
        "build",
        str(EXAMPLES / "hello" / "hello.py"),
        "-t",
        f"pybin2img-test/compare-hello:{RUN_ID}",
        "-o",
        str(tarball),
        "--compare=a b --exit 3",  # the same non-zero exit code passes
    )
    assert tarball.is_file()


def test_compare_passes_a_package_run_as_python_m(build_dir: Path, docker_engine: Any) -> None:
    """examples/data: a package with __main__.py, which the interpreter runs as `python -m`."""
    tarball = build_dir / "compare-data.tar"
    proc = pybin2img(
        "build",
        str(EXAMPLES / "data" / "greeter"),
        "-t",
        f"pybin2img-test/compare-data:{RUN_ID}",
        "-o",
        str(tarball),
        "--metadata-file",
        str(build_dir / "compare-data.json"),
        "--compare=Zoé",
    )
    assert tarball.is_file(), proc.stderr
    compared = json.loads((build_dir / "compare-data.json").read_text())["compare"]
    assert compared["interpreter"]["stdout_lines"] == compared["image"]["stdout_lines"] > 2


def test_modules_named_by_configuration_files_and_by_required_packages(
    build_dir: Path, docker_engine: Any
) -> None:
    """tests/apps/configured: its logging configuration, shipped with ``--include-data``,
    names python-json-logger's formatter, which nothing the app imports reaches (the start
    check failed: ``No module named 'pythonjsonlogger'``); python-dateutil 4 reads tzdata's
    zones as the resources of packages it names (``TZFileNotFound`` in the image), nested
    ones too (``America/Argentina``)."""
    app = APPS / "configured"
    name = "compare-configured"
    proc = _build_script(
        app / "configured.py",
        app / "requirements.txt",
        build_dir,
        name,
        "--include-data",
        f"{app / 'logging.json'}=logging.json",
        "--compare",
        "-v",
    )
    metadata = json.loads((build_dir / f"{name}.json").read_text())
    assert metadata["compare"]["same"] is True
    assert metadata["compare"]["image"]["stdout_lines"] == 5
    named = {m["module"]: m for m in metadata["named_modules"]["modules"]}
    assert named["pythonjsonlogger.json"]["where"] == f"{app / 'logging.json'}, line 4"
    assert named["pythonjsonlogger.json"]["named_by"] == [None]  # the app's
    # named by dateutil's own code, and for zoneinfo, which python-dateutil 4 imports
    assert named["tzdata.zoneinfo"]["named_by"] == ["dateutil._tzdata_impl", None]
    assert f"named in a string: pythonjsonlogger.json ({app / 'logging.json'}, line 4)" in (
        proc.stderr
    )


def test_the_start_check_fails_an_app_reading_a_file_beside_it_that_was_not_shipped(
    build_dir: Path, docker_engine: Any
) -> None:
    """tests/apps/configured without ``--include-data``: its ``logging.json`` stays on the
    build machine, the app dies at start reading it, and the build exited 0 (the start check
    left the exit code 1 to the app). It fails now, naming the file and the option."""
    app = APPS / "configured"
    name = "compare-unshipped"
    proc = _build_script(
        app / "configured.py", app / "requirements.txt", build_dir, name, check=False
    )
    assert proc.returncode == 9, proc.stderr
    assert (
        "error: start check (Docker engine): the app died reading /app/logging.json, a file "
        f"beside it on this machine ({app / 'logging.json'}) that the image does not have"
    ) in proc.stderr
    assert "--include-data logging.json=logging.json ships it" in proc.stderr
    assert not (build_dir / f"{name}.tar").exists()


def test_a_flask_scripts_templates_and_static_files_ship(
    build_dir: Path, docker_engine: Any
) -> None:
    """tests/apps/webdata: Flask reads templates/ and static/ beside the script. They were not
    shipped: the image answered 500 (and 404), and the build exited 0."""
    name = "compare-webdata"
    proc = _build_script(
        APPS / "webdata" / "app.py",
        EXAMPLES / "web" / "requirements.txt",
        build_dir,
        name,
        "--compare=render",
        "-v",
    )
    metadata = json.loads((build_dir / f"{name}.json").read_text())
    assert metadata["compare"]["same"] is True
    assert metadata["named_modules"]["web_data"] == ["static", "templates"]
    assert "web data: static, templates beside the app" in proc.stderr
