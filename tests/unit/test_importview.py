"""What Nuitka sees of the app's directories: views without the standard library's names."""

from __future__ import annotations

from pathlib import Path

from pybin2img.compile.importview import import_view
from pybin2img.compile.probe import Interpreter
from pybin2img.compile.target import CompileTarget

STDLIB = frozenset({"types", "inspect", "logging", "imp", "json", "site", "html"})


def _interpreter(*sys_path: str) -> Interpreter:
    return Interpreter(
        executable=Path("/usr/bin/python3"),
        python_version="3.11.2",
        nuitka_version="4.3.3",
        sys_path=sys_path,
        stdlib_modules=STDLIB,
        module_suffixes=(".py", ".pyc", ".cpython-311-x86_64-linux-gnu.so", ".abi3.so", ".so"),
    )


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    for name in ("app.py", "helper.py", "types.py", "inspect.py", "imp.pyc", "notes.txt"):
        (app / name).write_text("")
    (app / "logging.cpython-311-x86_64-linux-gnu.so").write_text("")
    (app / "json").mkdir()  # a package named like the standard library's
    (app / "json" / "__init__.py").write_text("")
    (app / "html").mkdir()  # a data directory: not importable, so it shadows nothing
    (app / "html" / "index.html").write_text("")
    (app / "site.yml").write_text("")
    return app


def test_script_view_leaves_out_the_standard_library_names(tmp_path: Path) -> None:
    app = _app(tmp_path)
    target = CompileTarget(main=app / "app.py", binary_name="app", cwd=app, sources=())
    work = tmp_path / "work"
    view = import_view(target, _interpreter(), work)
    assert sorted(p.name for p in view.cwd.iterdir()) == [
        "app.py",
        "helper.py",
        "html",
        "notes.txt",
        "site.yml",
    ]
    assert view.main == view.cwd / "app.py"
    assert view.main.resolve() == (app / "app.py").resolve()
    assert sorted(p.name for p in view.hidden) == [
        "imp.pyc",
        "inspect.py",
        "json",
        "logging.cpython-311-x86_64-linux-gnu.so",
        "types.py",
    ]
    assert view.pythonpath == ()


def test_an_app_named_like_the_standard_library_is_still_compiled(tmp_path: Path) -> None:
    app = _app(tmp_path)
    target = CompileTarget(main=app / "types.py", binary_name="types", cwd=app)
    view = import_view(target, _interpreter(), tmp_path / "work")
    assert view.main == view.cwd / "types.py"
    assert view.main.is_symlink()
    assert app / "types.py" not in view.hidden


def test_a_project_src_root_gets_its_own_view_on_pythonpath(tmp_path: Path) -> None:
    project = tmp_path / "project"
    src = project / "src"
    (src / "tool").mkdir(parents=True)
    (src / "tool" / "__init__.py").write_text("")
    (src / "logging.py").write_text("")
    (project / "pyproject.toml").write_text("")
    launcher = tmp_path / "launchers" / "tool_cli.py"
    launcher.parent.mkdir()
    launcher.write_text("")
    target = CompileTarget(
        main=launcher, binary_name="tool-cli", cwd=project, pythonpath=(src,), sources=()
    )
    view = import_view(target, _interpreter(), tmp_path / "work")
    assert view.main == launcher  # not in the project directory: given as it is
    assert sorted(p.name for p in view.cwd.iterdir()) == ["pyproject.toml", "src"]
    (root,) = view.pythonpath
    assert sorted(p.name for p in root.iterdir()) == ["tool"]
    assert view.hidden == (src / "logging.py",)


def test_roots_on_the_interpreters_path_are_not_repeated(tmp_path: Path) -> None:
    app = _app(tmp_path)
    site = tmp_path / "site-packages"
    site.mkdir()
    target = CompileTarget(
        main=site / "tool.py", binary_name="tool", cwd=app, pythonpath=(app, site)
    )
    view = import_view(target, _interpreter(str(site)), tmp_path / "work")
    assert view.pythonpath == ()
    assert view.main == site / "tool.py"
