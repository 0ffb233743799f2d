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
