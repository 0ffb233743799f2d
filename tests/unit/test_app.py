"""How Nuitka is pointed at each kind of APP (compile/target.py's ``compile_target``): what it is
given, the binary's name in /app, the import roots, the sources checked before compiling and
the data shipped with the binary."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pybin2img.app import AppKind, AppSpec, resolve_app
from pybin2img.compile.target import compile_target
from pybin2img.errors import ConfigError, UsageError
from pybin2img.settings import read_project


def _write(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_script_is_given_as_it_is(tmp_path: Path) -> None:
    script = _write(tmp_path / "tool" / "app.py", "print('hi')\n")
    target = compile_target(AppSpec(kind=AppKind.SCRIPT, path=script), tmp_path / "launchers")
    assert target.main == script
    assert target.binary_name == "app"
    assert target.cwd == script.parent
    assert target.sources == (script,)
    assert (target.nuitka_args, target.pythonpath, target.launcher, target.app_data) == (
        (),
        (),
        None,
        (),
    )


def test_a_package_directory_runs_as_python_m_and_ships_its_data(tmp_path: Path) -> None:
    package = tmp_path / "tool"
    for name in ("__init__.py", "__main__.py", "sub/__init__.py", "sub/x.py"):
        _write(package / name)
    _write(package / "table.dat", "data")
    target = compile_target(AppSpec(kind=AppKind.PACKAGE, path=package), tmp_path / "launchers")
    assert target.main == package
    # Its data files live in /app/tool/, so the binary cannot be /app/tool.
    assert target.binary_name == "tool.bin"
    assert target.nuitka_args == ("--python-flag=-m", "--include-package-data=tool")
    assert target.pythonpath == (tmp_path,)
    assert target.cwd == tmp_path
    assert target.sources == tuple(
        package / name for name in ("__init__.py", "__main__.py", "sub/__init__.py", "sub/x.py")
    )
    assert target.app_data == ("tool",)
    assert target.launcher is None


def test_a_module_is_compiled_from_where_the_build_interpreter_found_it(tmp_path: Path) -> None:
    site = tmp_path / "site"
    origin = _write(site / "team" / "tools" / "serve.py")
    app = AppSpec(kind=AppKind.MODULE, path=tmp_path / "cwd", module="team.tools.serve")
    target = compile_target(app, tmp_path / "launchers", origin)
    assert target.main == origin
    assert target.binary_name == "serve"
    assert target.pythonpath == (site,)  # the import root, two packages up
    assert target.cwd == tmp_path / "cwd"
    assert target.sources == (origin,)
    assert (target.nuitka_args, target.launcher, target.app_data) == ((), None, ())


def test_a_module_that_is_a_package_runs_its_main(tmp_path: Path) -> None:
    site = tmp_path / "site"
    origin = _write(site / "tool" / "__init__.py")
    _write(site / "tool" / "__main__.py")
    app = AppSpec(kind=AppKind.MODULE, path=tmp_path, module="tool")
    target = compile_target(app, tmp_path / "launchers", origin)
    assert target.main == site / "tool"
    assert target.binary_name == "tool.bin"
    assert target.nuitka_args == ("--python-flag=-m", "--include-package-data=tool")
    assert target.pythonpath == (site,)
    assert target.app_data == ("tool",)


def test_a_module_that_cannot_be_run(tmp_path: Path) -> None:
    app = AppSpec(kind=AppKind.MODULE, path=tmp_path, module="tool")
    with pytest.raises(UsageError, match="module 'tool' was not found by the build interpreter"):
        compile_target(app, tmp_path)
    origin = _write(tmp_path / "site" / "tool" / "__init__.py")
    with pytest.raises(UsageError, match=r"-m tool: package .*/site/tool has no __main__\.py"):
        compile_target(app, tmp_path, origin)


def _project(tmp_path: Path, script: str, entry: str, *, src_layout: bool = True) -> AppSpec:
    root = tmp_path / "proj" / "src" if src_layout else tmp_path / "proj"
    _write(root / "hello" / "__init__.py")
    _write(root / "hello" / "cli.py", "def main():\n    return 3\n")
    _write(root / "hello" / "greeting.txt", "hi")
    _write(root / "helpers" / "__init__.py")
    _write(root / "notes" / "readme.md")  # not a package
    return AppSpec(kind=AppKind.PROJECT, path=tmp_path / "proj", script=script, entry_point=entry)


def test_a_project_script_gets_a_launcher_for_its_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = _project(tmp_path, "hello", "hello.cli:main")
    target = compile_target(app, tmp_path / "launchers")
    src = tmp_path / "proj" / "src"
    # Not hello.py, which would hide the package hello from Nuitka.
    assert target.main == tmp_path / "launchers" / "hello-launcher.py"
    assert target.binary_name == "hello.bin"  # /app/hello/ holds the package's data
    assert target.nuitka_args == (
        "--include-package-data=hello",
        "--include-package-data=helpers",
    )
    assert target.pythonpath == (src,)
    assert target.cwd == tmp_path / "proj"
    assert target.sources == (
        src / "hello" / "__init__.py",
        src / "hello" / "cli.py",
        src / "helpers" / "__init__.py",
    )
    assert target.app_data == ("hello", "helpers")
    assert target.launcher is not None
    # The launcher calls the entry point and exits with what it returns, as pip's would.
    monkeypatch.syspath_prepend(str(src))
    try:
        with pytest.raises(SystemExit) as exited:
            exec(compile(target.launcher, str(target.main), "exec"), {"__name__": "__main__"})
    finally:
        for name in ("hello", "hello.cli"):
            sys.modules.pop(name, None)
    assert exited.value.code == 3


def test_a_project_without_src_and_a_method_entry_point(tmp_path: Path) -> None:
    app = _project(tmp_path, "say-hello.v2", "hello.cli:App.run [extra]", src_layout=False)
    target = compile_target(app, tmp_path / "launchers")
    assert target.main == tmp_path / "launchers" / "say-hello_v2-launcher.py"
    assert target.binary_name == "say-hello.v2"  # no package of that name: no clash
    assert target.pythonpath == (tmp_path / "proj",)
    assert target.launcher is not None
    assert "from hello.cli import App\n" in target.launcher
    assert target.launcher.endswith("sys.exit(App.run())\n")


@pytest.mark.parametrize(
    ("script", "entry", "message"),
    [
        ("hello", "hello.cli", r"\[project.scripts\] hello = 'hello.cli' is not 'module:function'"),
        ("hello", "hello.cli:main()", "is not 'module:function'"),
        ("../hello", "hello.cli:main", r"name '../hello' is not a valid file name"),
    ],
)
def test_a_project_entry_point_that_cannot_be_launched(
    tmp_path: Path, script: str, entry: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_target(_project(tmp_path, script, entry), tmp_path / "launchers")


def test_a_poetry_project_before_2_0_is_told_where_pybin2img_reads_scripts(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry]\nname = "po"\nversion = "0.1.0"\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nhumanize = "^4.8"\n\n'
        '[tool.poetry.scripts]\npo = "po:main"\n'
    )
    project = read_project(tmp_path / "pyproject.toml")
    with pytest.raises(UsageError, match=r"\[tool.poetry.scripts\] \(po\), Poetry's table"):
        resolve_app(tmp_path, module=None, script=None, project=project)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "po"\n')
    project = read_project(tmp_path / "pyproject.toml")
    with pytest.raises(UsageError, match=r"without __main__\.py or a pyproject\.toml with"):
        resolve_app(tmp_path, module=None, script=None, project=project)


def test_a_version_kept_in_version_control_comes_from_the_installed_project(
    tmp_path: Path,
) -> None:
    """setuptools-scm: no version in pyproject.toml or the sources; the build interpreter has
    the project installed (``pip install -e .``) with the version computed then."""
    from pybin2img.compile.distinfo import project_dist_info

    pyproject = _write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "Scm.App"\ndynamic = ["version"]\n[tool.setuptools_scm]\n',
    )
    _write(tmp_path / "src" / "scmapp" / "__init__.py", "")
    root = tmp_path / "src"
    info, note = project_dist_info(pyproject, root, ["scmapp"])
    assert info is None
    assert note is not None
    assert "is not installed for the build interpreter" in note
    info, note = project_dist_info(pyproject, root, ["scmapp"], {"scm-app": "1.4.2"})
    assert note is None
    assert info is not None
    assert (info.version, info.directory) == ("1.4.2", "Scm_App-1.4.2.dist-info")
