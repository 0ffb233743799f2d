"""A project's dependencies against what the build interpreter has installed
(compile/projectdeps.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybin2img.compile.projectdeps import (
    Installed,
    LockPins,
    lock_files,
    lock_pins,
    out_of_date,
    unmet,
)
from pybin2img.errors import ConfigError

ENV = {
    "implementation_name": "cpython",
    "implementation_version": "3.11.7",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_release": "6.1.0",
    "platform_system": "Linux",
    "platform_version": "#1 SMP",
    "python_full_version": "3.11.7",
    "platform_python_implementation": "CPython",
    "python_version": "3.11",
    "sys_platform": "linux",
}


def _have(**dists: tuple[str, list[str]]) -> Installed:
    return Installed(
        {
            name: {"version": version, "requires": requires}
            for name, (version, requires) in dists.items()
        },
        ENV,
    )


def test_a_venv_that_has_every_dependency_meets_them() -> None:
    have = _have(
        humanize=("4.8.0", []),
        requests=("2.32.3", ["urllib3<3,>=1.21.1", 'PySocks!=1.5.7,>=1.5.6; extra == "socks"']),
        urllib3=("2.2.1", []),
    )
    assert unmet(["humanize>=4", "Requests>=2.31"], have) == []
    # Markers are evaluated for the interpreter: a Windows-only dependency is not wanted.
    assert unmet(["pywin32; sys_platform == 'win32'", "tomli; python_version < '3.11'"], have) == []


def test_what_is_missing_or_another_version_is_named() -> None:
    have = _have(humanize=("3.14.0", []), requests=("2.32.3", ["urllib3<3,>=1.21.1"]))
    assert unmet(["humanize>=4", "click"], have) == [
        "humanize>=4 (3.14.0 installed)",
        "click (not installed)",
    ]
    # What a dependency requires in turn, and an extra's requirements.
    assert unmet(["requests"], have) == ["urllib3<3,>=1.21.1 (not installed)"]
    have = _have(
        requests=("2.32.3", ['PySocks!=1.5.7,>=1.5.6; extra == "socks"']),
    )
    assert unmet(["requests"], have) == []
    assert unmet(["requests[socks]"], have) == [
        'PySocks!=1.5.7,>=1.5.6; extra == "socks" (not installed)'
    ]


def test_a_requirement_that_does_not_parse_is_unmet() -> None:
    assert unmet(["not a requirement!"], _have()) == [
        "not a requirement! (not a requirement pybin2img reads)"
    ]


def test_lock_files_beside_the_project(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("version = 1\n")
    (tmp_path / "poetry.lock").write_text("")
    assert lock_files(tmp_path) == ["uv.lock", "poetry.lock"]


def test_a_uv_lock_pins_what_it_takes_from_an_index(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(
        "version = 1\n"
        '[[package]]\nname = "Humanize"\nversion = "4.8.0"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        # the project itself
        '[[package]]\nname = "app"\nversion = "0.1.0"\nsource = { editable = "." }\n'
        # from git: not pinned
        '[[package]]\nname = "gizmo"\nversion = "1.0"\n'
        'source = { git = "https://example.org/gizmo" }\n'
        # a fork by markers: two versions, not pinned
        '[[package]]\nname = "numpy"\nversion = "2.2.6"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
        '[[package]]\nname = "numpy"\nversion = "2.3.4"\n'
        'source = { registry = "https://pypi.org/simple" }\n'
    )
    pins = lock_pins(tmp_path)
    assert pins == LockPins("uv.lock", ("humanize==4.8.0",), ("gizmo", "numpy"))


def test_poetry_pdm_and_pylock_pins(tmp_path: Path) -> None:
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "click"\nversion = "8.1.7"\n'
        '[[package]]\nname = "mine"\nversion = "0.1"\n'
        '[package.source]\ntype = "directory"\nurl = "../mine"\n'
    )
    assert lock_pins(tmp_path) == LockPins("poetry.lock", ("click==8.1.7",), ("mine",))
    (tmp_path / "poetry.lock").unlink()
    (tmp_path / "pdm.lock").write_text('[[package]]\nname = "click"\nversion = "8.1.7"\n')
    assert lock_pins(tmp_path) == LockPins("pdm.lock", ("click==8.1.7",), ())
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\n[[packages]]\nname = "click"\nversion = "8.2.0"\n'
    )
    assert lock_pins(tmp_path) == LockPins("pylock.toml", ("click==8.2.0",), ())


def test_a_lock_file_that_does_not_parse_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text("version = \n")
    with pytest.raises(ConfigError, match="cannot read the lock file"):
        lock_pins(tmp_path)
    assert lock_pins(tmp_path / "nothing") is None


def test_a_lock_made_before_the_dependencies_changed_is_out_of_date() -> None:
    pins = LockPins("uv.lock", ("humanize==4.8.0", "tomli==2.0.1"), ())
    assert out_of_date(["humanize>=4.9", "click"], pins, _have()) == [
        "humanize 4.8.0, which humanize>=4.9 excludes"
    ]
    assert out_of_date(["humanize>=4", "tomli>=2.1; python_version < '3.11'"], pins, _have()) == []
