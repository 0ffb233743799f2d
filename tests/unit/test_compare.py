"""``--compare``: what is normalised, when two runs agree, and what the failure shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybin2img.app import AppKind, AppSpec
from pybin2img.compile.target import CompileTarget
from pybin2img.ship.compare import (
    Comparison,
    Launch,
    Run,
    details,
    first_difference,
    host_command,
    launch_for,
    normalise,
    unified,
    verdict,
    working_copy,
)


def _run(where: str, code: int | None, stdout: str, output: str | None = None) -> Run:
    return Run(
        where=where, exit_code=code, stdout=stdout, output=stdout if output is None else output
    )


def test_runs_that_agree_pass() -> None:
    assert verdict(_run("here", 0, "a\nb\n"), _run("image", 0, "a\nb\n"), timeout=5) is None
    assert verdict(_run("here", 3, ""), _run("image", 3, ""), timeout=5) is None


def test_a_different_exit_code_fails() -> None:
    problem = verdict(_run("here", 0, "a\n"), _run("image", 1, "a\n"), timeout=5)
    assert problem is not None
    assert "exit code 0 here, 1 in the image" in problem
    assert "stdout" not in problem


def test_an_exit_code_from_a_signal_is_named() -> None:
    problem = verdict(_run("here", 0, ""), _run("image", 139, ""), timeout=5)
    assert problem is not None
    assert "exit code 0 here, 139 (SIGSEGV) in the image" in problem


def test_a_different_stdout_fails_and_names_the_first_line_that_differs() -> None:
    problem = verdict(_run("here", 0, "a\nb\nc\n"), _run("image", 0, "a\nB\nc\n"), timeout=5)
    assert problem is not None
    assert problem.endswith("stdout differs from line 2")


def test_a_run_still_going_at_the_timeout_fails_the_comparison() -> None:
    """A server never ends: what it printed so far depends on timing, so it is not compared."""
    problem = verdict(_run("the interpreter", None, "x"), _run("the image", None, "x"), timeout=7)
    assert problem is not None
    assert "the interpreter and the image was still running after 7s" in problem


def test_first_difference_counts_missing_lines() -> None:
    assert first_difference("a\nb\n", "a\nb\n") == 3
    assert first_difference("a\nb\n", "a\n") == 2
    assert first_difference("", "x\n") == 1
    assert first_difference("a\n", "a") == 1  # a missing final newline is a difference


def test_the_diff_is_small_and_goes_from_the_interpreter_to_the_image() -> None:
    host = "".join(f"line {n}\n" for n in range(100))
    image = host.replace("line 5\n", "line five\n")
    diff = unified(host, image)
    assert diff[:2] == ["--- interpreter", "+++ image"]
    assert "-line 5" in diff
    assert "+line five" in diff
    assert len(diff) <= 7  # one line of context each side
    many = unified(host, image.replace("line", "LINE"), limit=10)
    assert len(many) == 11
    assert many[-1].startswith("... (")


def test_details_show_the_diff_and_the_images_own_output() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/app.py", line 3, in <module>\n'
        '  File "/app/wordcloud/wordcloud.py", line 30, in <module wordcloud.wordcloud>\n'
        "FileNotFoundError: [Errno 2] No such file or directory: '/app/wordcloud/stopwords'\n"
    )
    text = details(_run("here", 0, "ok\n"), _run("image", 1, "", traceback))
    assert "-ok" in text
    assert "the package 'wordcloud' was imported (module wordcloud.wordcloud)" in text
    assert "  | FileNotFoundError: [Errno 2]" in text


def test_details_say_how_to_compile_in_a_module_the_image_lacks() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/app/app.py", line 6, in main\n'
        '  File "/app/logging/config.py", line 407, in resolve\n'
        "ValueError: Cannot resolve 'pjl.Fmt': No module named 'pjl'\n"
    )
    text = details(_run("here", 0, "ok\n"), _run("image", 1, "", traceback))
    assert "  in the image: the image has no module pjl; where the build environment" in text
    assert text.count("--nuitka-arg=--include-package=pjl") == 1
    # the same failure under the interpreter: the app's own, not the image's
    assert "include-package" not in details(
        _run("here", 1, "", traceback), _run("image", 1, "", traceback)
    )


def test_paths_read_as_in_the_image_longest_first() -> None:
    replacements = (
        ("/src/app", "/app"),
        ("/src/app/.tmp/cwd", "/app"),
        ("/src/app/.tmp/t", "/tmp"),
    )
    text = "here /src/app/.tmp/cwd, temp /src/app/.tmp/t/x, file /src/app/app.py"
    assert normalise(text, replacements) == "here /app, temp /tmp/x, file /app/app.py"
    assert normalise("same", (("", "/x"), ("/app", "/app"))) == "same"


def test_the_interpreter_runs_the_app_with_the_images_program_name(tmp_path: Path) -> None:
    launch = Launch(
        script=tmp_path / "app.py", path=(tmp_path,), argv0="/app/app", app_dir=tmp_path
    )
    command = host_command(Path("/venv/bin/python"), launch, ["--flag", "x y"])
    assert command[:4] == ["/venv/bin/python", "-B", "-s", "-c"]
    assert json.loads(command[5]) == {
        "argv0": "/app/app",
        "path": [str(tmp_path)],
        "script": str(tmp_path / "app.py"),
        "module": None,
    }
    assert command[6:] == ["--flag", "x y"]


def _target(tmp_path: Path, **kwargs: object) -> CompileTarget:
    defaults: dict[str, object] = {
        "main": tmp_path / "app.py",
        "binary_name": "app",
        "cwd": tmp_path,
    }
    return CompileTarget(**{**defaults, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(AppKind))
def test_each_kind_of_app_runs_as_python_would_run_it(kind: AppKind, tmp_path: Path) -> None:
    if kind is AppKind.SCRIPT:
        app = AppSpec(kind=kind, path=tmp_path / "app.py")
        launch = launch_for(app, _target(tmp_path))
        assert (launch.script, launch.module, launch.path) == (app.path, None, (tmp_path,))
    elif kind is AppKind.PACKAGE:
        app = AppSpec(kind=kind, path=tmp_path / "greeter")
        launch = launch_for(app, _target(tmp_path, main=app.path, pythonpath=(tmp_path,)))
        assert (launch.script, launch.module, launch.path) == (None, "greeter", (tmp_path,))
    elif kind is AppKind.MODULE:
        app = AppSpec(kind=kind, path=tmp_path, module="http.server")
        launch = launch_for(app, _target(tmp_path))
        assert (launch.script, launch.module, launch.path) == (None, "http.server", (tmp_path,))
    else:
        app = AppSpec(kind=kind, path=tmp_path, script="tool", entry_point="tool.cli:main")
        launcher = tmp_path / "cache" / "tool.py"
        target = _target(
            tmp_path, main=launcher, binary_name="tool", pythonpath=(tmp_path / "src",)
        )
        launch = launch_for(app, target)
        assert (launch.script, launch.module, launch.path) == (launcher, None, (tmp_path / "src",))
        assert launch.app_dir == tmp_path / "src"
        assert launch.argv0 == "/app/tool"


def test_the_metadata_records_what_was_compared_and_normalised() -> None:
    comparison = Comparison(
        args="all",
        host=_run("the interpreter", 0, "a\nb\n"),
        image=_run("the image (Docker engine)", 0, "a\nb\n"),
        normalised=(("/tmp/x/cwd", "/app"),),
    )
    assert comparison.to_json() == {
        "args": "all",
        "same": True,
        "interpreter": {"where": "the interpreter", "exit_code": 0, "stdout_lines": 2},
        "image": {"where": "the image (Docker engine)", "exit_code": 0, "stdout_lines": 2},
        "normalised": [{"text": "/tmp/x/cwd", "reads": "/app"}],
    }
    assert comparison.summary == (
        "same exit code (0) and stdout (2 lines) under the interpreter and in the image (Docker "
        "engine)"
    )


def test_details_show_the_interpreters_output_only_when_it_failed() -> None:
    host = _run("the interpreter", 1, "", "Traceback ...\nConnectionError: no network\n")
    image = _run("the image (Docker engine)", 0, "ok\n")
    text = details(host, image)
    assert "the output of the interpreter ended with:\n  | Traceback ..." in text
    assert "the output of the image" not in text  # its output is its stdout: the diff shows it
    assert "the output of the interpreter" not in details(_run("the interpreter", 0, "x\n"), image)


def test_the_interpreters_working_directory_is_a_copy_of_the_apps(tmp_path: Path) -> None:
    """The image's working directory /app holds the app: a path read relative to it is found
    by the interpreter run too (FastAPI's StaticFiles(directory="static") raised there), and
    what it writes stays in the copy."""
    app = tmp_path / "app"
    for name in ("static", ".git", "venv", "__pycache__", "build"):
        (app / name).mkdir(parents=True)
    (app / "static" / "a.txt").write_text("a")
    (app / "app.py").write_text("")
    (app / ".env").write_text("KEY=1")
    (app / ".git" / "HEAD").write_text("")
    (app / "venv" / "pyvenv.cfg").write_text("")
    (app / "__pycache__" / "app.pyc").write_bytes(b"")
    with (app / "big.bin").open("wb") as f:
        f.truncate(17 << 20)  # over the size of one file copied (sparse: no disk used)
    cwd = app / "build" / "compare" / "cwd"  # the run's own directory, inside the app's
    cwd.mkdir(parents=True)
    working_copy(app, cwd)
    copied = sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*"))
    assert copied == [".env", "app.py", "static", "static/a.txt"]
    (cwd / "static" / "a.txt").write_text("changed")
    assert (app / "static" / "a.txt").read_text() == "a"
