"""The README's tables are generated from, or checked against, the code."""

from __future__ import annotations

import re
from pathlib import Path

from pybin2img.errors import EXIT_CODES
from pybin2img.settings import options_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_options_table_is_generated_from_the_registry() -> None:
    match = re.search(
        r"<!-- options-table:[^\n]*-->\n(.*?)<!-- end of options-table -->", README, re.S
    )
    assert match, "README.md lost its options-table markers"
    assert match.group(1) == options_table(), (
        "README.md's option table is out of date; replace it with:\n" + options_table()
    )


def test_exit_code_table_matches_the_code() -> None:
    section = README.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", section, re.M))
    assert {int(code) for code in rows} == set(EXIT_CODES)


REPO = Path(__file__).resolve().parents[2]


def _build_packages() -> set[str]:
    """The packages a default build needs: the `build` set of ci/install-system-packages.sh."""
    script = (REPO / "ci" / "install-system-packages.sh").read_text(encoding="utf-8")
    match = re.search(r"^build=\(([^)]*)\)$", script, re.M)
    assert match, "ci/install-system-packages.sh lost its build=(...) line"
    return set(match.group(1).split())


def test_the_github_workflows_install_what_a_default_build_needs() -> None:
    """ci/github-release.yml and the README's workflow run `pybin2img build` with the defaults
    on Ubuntu runners: each installs every package of the build set (tini included)."""
    needed = _build_packages()
    assert {"gcc", "patchelf", "tini"} <= needed
    workflows = {
        "ci/github-release.yml": (REPO / "ci" / "github-release.yml").read_text(encoding="utf-8"),
        "README.md": README,
    }
    for name, text in workflows.items():
        installs = re.findall(r"apt-get install -y ([^\n&|;]+)", text)
        assert installs, f"{name} installs no packages"
        for line in installs:
            packages = {word for word in line.split() if not word.startswith("-")}
            assert needed <= packages, f"{name} does not install {sorted(needed - packages)}"
