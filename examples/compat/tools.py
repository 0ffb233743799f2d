"""Compatibility suite, tools and parsers that find their parts at run time: a formatter built
with mypyc, a linter whose checkers are entry-point plugins, a YAML library with plugins found
next to its files, a date parser whose language data are modules imported by name.

    tools.py [all | PACKAGE...]     (see harness.py)
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile

from harness import check, main

UGLY = "x = {  'a':37,'b':42,\n'c':927}\ndef f(a,b = 1) :\n  return a+b\n"


@check("black")
def _black() -> str:
    import black

    formatted = black.format_str(UGLY, mode=black.Mode(line_length=40))
    return repr(formatted)


@check("flake8")
def _flake8() -> str:
    from flake8.api import legacy

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ugly.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write("import os\n" + UGLY)
        guide = legacy.get_style_guide(select=["E", "F", "W", "C90"], max_complexity=5)
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            report = guide.check_files([path])  # its report names the temporary file
    codes = sorted(
        line.split()[1] for prefix in ("E", "F", "W") for line in report.get_statistics(prefix)
    )
    return f"{report.total_errors} errors: {' '.join(codes)}"


@check("ruamel.yaml")
def _ruamel_yaml() -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    data = yaml.load("# stock\nfruit:\n  - pears   # ripe\n  - plums\ncount: 3\n")
    data["count"] += 1
    data["fruit"].append("figs")
    out = io.StringIO()
    yaml.dump(data, out)
    return repr(out.getvalue())


@check("ruamel.yaml.string")
def _ruamel_yaml_string() -> str:
    from ruamel.yaml import YAML

    # The plugin adds dump_to_string; ruamel.yaml finds it by its name in `typ`.
    yaml = YAML(typ=["rt", "string"])
    return repr(yaml.dump_to_string({"a": [1, 2], "b": {"c": None}}))


@check("dateparser")
def _dateparser() -> str:
    from datetime import datetime

    import dateparser

    settings = {"RELATIVE_BASE": datetime(2024, 5, 17, 12, 0), "TIMEZONE": "UTC"}
    found = [
        dateparser.parse(text, settings=settings)
        for text in ("12 janvier 2024 à 10h", "vor 3 Tagen", "2 weeks ago", "mañana a las 9")
    ]
    return " ".join(moment.isoformat() if moment else "None" for moment in found)


if __name__ == "__main__":
    raise SystemExit(main())
