"""A project's dependencies against what the build interpreter has installed
(compile/projectdeps.py)."""

from __future__ import annotations

from pathlib import Path

from pybin2img.compile.projectdeps import Installed, lock_files, unmet

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
