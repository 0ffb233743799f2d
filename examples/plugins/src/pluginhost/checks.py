"""What the installed packages' plugins do: run the same way on the host and in the image."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from importlib.metadata import entry_points, version


def lint() -> list[str]:
    """flake8 on a small file with two known errors: its checkers (pyflakes, pycodestyle)
    and its reporter are plugins it finds through entry points."""
    from flake8.main.cli import main as flake8

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "sample.py"), "w") as f:
            f.write("import os\nx=1\n")
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            code = flake8(["--output-file", "report.txt", "sample.py"])
        finally:
            os.chdir(cwd)
        with open(os.path.join(tmp, "report.txt")) as f:
            report = f.read().splitlines()
    return [*report, f"flake8 exit {code}"]


def normalizer() -> list[str]:
    """charset-normalizer's command, loaded through its console_scripts entry point."""
    (script,) = entry_points(group="console_scripts", name="normalizer")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            script.load()(["--version"])
        except SystemExit as exc:
            print("exit", exc.code)
    declared = f"{script.dist.name} {script.dist.version}"
    return [f"{script.name} = {script.value} ({declared})", *out.getvalue().splitlines()]


def backport() -> list[str]:
    """The same command's entry point through the importlib_metadata backport."""
    import importlib_metadata

    (script,) = importlib_metadata.entry_points(group="console_scripts", name="normalizer")
    return [f"backport: {script.value} ({script.dist.name} {script.dist.version})"]


def versions() -> list[str]:
    return [f"{name} {version(name)}" for name in ("flake8", "pyflakes", "charset-normalizer")]


def run() -> list[str]:
    return [*versions(), *lint(), *normalizer(), *backport()]
