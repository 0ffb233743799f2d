"""The patterns compiled at build time (compile/_regex_table.py) and the program's use of them
(compile/_startup_hook.py): what is found, what is left out, and that a pattern from the table
is the pattern the interpreter makes."""

from __future__ import annotations

import hashlib
import json
import json.decoder
import marshal
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from pybin2img.compile import _regex_table, _startup_hook
from pybin2img.compile.regex import BUILDER, module_sources

if sys.version_info >= (3, 11):
    import re._compiler as compiler
    import re._parser as parser
else:  # pragma: no cover - the interpreter running the tests
    import sre_compile as compiler  # type: ignore[import-not-found,unused-ignore]
    import sre_parse as parser  # type: ignore[import-not-found,unused-ignore]

SOURCE = textwrap.dedent(
    """
    import re
    import re as rx
    from re import IGNORECASE, VERBOSE, compile as make

    PLAIN = re.compile(r"(?P<a>\\w+)-(\\d+)")
    FLAGGED = rx.compile(b"^x", rx.M | rx.I)
    KEYWORD = re.compile("k+", flags=re.ASCII)
    IMPORTED = make("i+", VERBOSE | IGNORECASE)
    PART = "ab"
    BOTH = re.M | re.S
    SPELLED = re.compile("by-name", BOTH)
    BOTH = other.FLAGS
    NOT_KNOWN = re.compile("not-known", BOTH)
    JOINED = re.compile(PART + "c")
    if PART:
        NESTED = re.compile("in-if")
    try:
        TRIED = re.compile("in-try")
    except ImportError:
        HANDLED = re.compile("in-handler")


    class Holder:
        INSIDE = re.compile("in-class")


    def later():
        return re.compile("in-function")


    LAMBDA = lambda: re.compile("in-lambda")
    COMPUTED = re.compile("".join(["no"]))
    UNKNOWN_FLAGS = re.compile("u", Holder.FLAGS)
    SPREAD = re.compile("s", **{})
    OTHER = other.compile("not-re")
    """
)


def test_the_patterns_a_module_compiles_as_it_executes() -> None:
    found = _regex_table.candidates(SOURCE)
    assert found == [
        (r"(?P<a>\w+)-(\d+)", 0),
        (b"^x", re.M | re.I),
        ("k+", re.ASCII),
        ("i+", re.VERBOSE | re.IGNORECASE),
        ("by-name", re.M | re.S),
        ("abc", 0),
        ("in-if", 0),
        ("in-try", 0),
        ("in-handler", 0),
        ("in-class", 0),
    ]


def test_a_source_that_does_not_parse_has_none() -> None:
    assert _regex_table.candidates("def (:\n") == []
    assert _regex_table.candidates(b"\x00") == []


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        ("[[a]", 0),  # FutureWarning as it compiles: it must be seen, so it is compiled at run time
        ("(", 0),  # does not compile
        ("a", re.DEBUG),  # prints as it compiles
    ],
)
def test_left_out(pattern: str, flags: int) -> None:
    assert _regex_table.row(pattern, flags) is None


@pytest.mark.parametrize(
    ("pattern", "flags"),
    [
        (r"(?P<word>\w+)-(?P<n>\d+)", 0),
        (rb"^(\d+)\s", re.M),
        (r"(?x) (?P<k>[a-z]+) \s*=\s* (?P<v>.*)", re.I),
        (rb"\w+", re.LOCALE),
        ("caf\u00e9|(x)(y)?", re.A),
    ],
)
def test_a_row_makes_the_pattern_the_interpreter_makes(pattern: str | bytes, flags: int) -> None:
    row = _regex_table.row(pattern, flags)
    assert row is not None
    is_bytes, same, row_flags, sre_flags, code, groups, groupindex, indexgroup = row
    assert (is_bytes, same, row_flags) == (type(pattern) is bytes, pattern, flags)
    import _sre  # type: ignore[import-not-found,unused-ignore]

    words = memoryview(code).cast("I").tolist()  # type: ignore[arg-type]
    made = _sre.compile(pattern, sre_flags, words, groups, groupindex, indexgroup)
    assert made == compiler.compile(pattern, flags)
    assert made.groupindex == re.compile(pattern, flags).groupindex


def _module_with(table: Path) -> types.ModuleType:
    module = types.ModuleType("re_compiler_stand_in")
    module.compile = compiler.compile  # type: ignore[attr-defined]
    _startup_hook._table_compile(module, str(table))
    return module


def test_the_program_takes_patterns_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "table"
    data, counts = _regex_table.table([SOURCE.encode()])
    assert counts == {"found": 10, "kept": 10, "bytes": len(data)}
    table.write_bytes(data)
    module = _module_with(table)
    parsed: list[object] = []
    parse = parser.parse
    monkeypatch.setattr(parser, "parse", lambda *args: parsed.append(args[0]) or parse(*args))

    for pattern, flags in _regex_table.candidates(SOURCE):
        assert module.compile(pattern, flags) == compiler.compile(pattern, flags)
    assert parsed == [p for p, _ in _regex_table.candidates(SOURCE)]  # the originals' parses
    parsed.clear()
    for pattern, flags in _regex_table.candidates(SOURCE):
        module.compile(pattern, flags)
    assert parsed == []
    # Not in the table, other flags, flags that are not an int, a subclass of str: compiled.
    module.compile("not-there", 0)
    module.compile("k+", 0)
    module.compile("k+", re.ASCII)  # a RegexFlag, as re._compile never passes it
    module.compile(type("S", (str,), {})("k+"), int(re.ASCII))
    assert len(parsed) == 4
    assert module.compile.__wrapped__ is compiler.compile
    assert module.compile.__name__ == "compile"


def test_a_table_that_cannot_be_read_leaves_compiling_as_it_was(unreadable_table: Path) -> None:
    module = _module_with(unreadable_table)
    assert module.compile("x+", 0) == compiler.compile("x+", 0)


@pytest.mark.allow_programs("the builder runs in the build interpreter, -I")
def test_the_builder_as_the_build_interpreter_runs_it(tmp_path: Path) -> None:
    """``python -I _regex_table.py FILES TABLE``, FILES as Nuitka's report names them."""
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    listing = tmp_path / "files.json"
    stdlib = "${sys.real_prefix}" + json.decoder.__file__[len(sys.base_prefix) :]
    listing.write_text(json.dumps([str(app), stdlib, str(tmp_path / "gone.py")]))
    table = tmp_path / "table"
    proc = subprocess.run(
        [sys.executable, "-I", str(BUILDER), str(listing), str(table)],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(proc.stdout)
    # json.decoder's own (two on 3.11, three from 3.13), flags by a name (FLAGS = re.VERBOSE | …)
    decoders = _regex_table.candidates(Path(json.decoder.__file__).read_bytes())
    assert len(decoders) >= 2
    assert all(flags == re.VERBOSE | re.MULTILINE | re.DOTALL for _, flags in decoders[:2])
    assert counts["found"] == 10 + len(decoders)
    rows = marshal.loads(table.read_bytes())
    assert len(rows) == counts["kept"]
    assert (False, "in-class", 0) in {row[:3] for row in rows}


def test_the_modules_sources_as_the_report_names_them(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        "<nuitka-compilation-report>"
        '<module name="__main__" source_path="${cwd}/app.py"/>'
        '<module name="json" source_path="${sys.real_prefix}/lib/python3.11/json/__init__.py"/>'
        '<module name="_json" source_path="${sys.real_prefix}/lib/lib-dynload/_json.so"/>'
        "</nuitka-compilation-report>"
    )
    assert module_sources(report, Path("/work")) == [
        "/work/app.py",
        "${sys.real_prefix}/lib/python3.11/json/__init__.py",
    ]


def test_what_a_source_gave_is_taken_from_known_the_next_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    known: dict[str, object] = {"stale": "not an entry"}
    first = _regex_table.table([SOURCE.encode(), b"import re\nX = re.compile('other')\n"], known)
    assert list(known)[-2:] == [
        hashlib.sha256(SOURCE.encode()).hexdigest(),
        hashlib.sha256(b"import re\nX = re.compile('other')\n").hexdigest(),
    ]

    def refuse(source: bytes) -> None:
        raise AssertionError("read again")

    monkeypatch.setattr(_regex_table, "file_rows", refuse)
    assert (
        _regex_table.table([SOURCE.encode(), b"import re\nX = re.compile('other')\n"], known)
        == first
    )
    # A source changed is read again.
    with pytest.raises(AssertionError, match="read again"):
        _regex_table.table([SOURCE.encode() + b"\n"], known)


@pytest.mark.parametrize("cached", [None, b"", b"garbage", marshal.dumps([1])])
def test_the_builders_cache_file(tmp_path: Path, cached: bytes | None) -> None:
    """``main(FILES, TABLE, KNOWN)``: an unreadable KNOWN is as none; it is written for next
    time with what this run found."""
    app = tmp_path / "app.py"
    app.write_text(SOURCE)
    listing = tmp_path / "files.json"
    listing.write_text(json.dumps([str(app)]))
    known = tmp_path / "known"
    if cached is not None:
        known.write_bytes(cached)
    assert _regex_table.main([str(listing), str(tmp_path / "table"), str(known)]) == 0
    entries = marshal.loads(known.read_bytes())
    assert list(entries) == [hashlib.sha256(SOURCE.encode()).hexdigest()]
    found, rows = entries[hashlib.sha256(SOURCE.encode()).hexdigest()]
    assert found == len(rows) == 10
    assert _regex_table.main([str(listing), str(tmp_path / "again"), str(known)]) == 0
    assert (tmp_path / "again").read_bytes() == (tmp_path / "table").read_bytes()


def test_the_same_rows_make_the_same_table_just_found_or_from_known() -> None:
    """Reproducible: the table's bytes do not depend on where its rows came from (marshal's
    later versions write interned strings and shared objects differently)."""
    sources = [SOURCE.encode(), json.decoder.__loader__.get_data(json.decoder.__file__)]
    fresh, _ = _regex_table.table(sources)
    known: dict[str, object] = {}
    _regex_table.table(sources, known)
    reread = marshal.loads(marshal.dumps(known, 4))
    assert _regex_table.table(sources, reread)[0] == fresh
    # The same rows with their patterns interned, as a string read back may be.
    interned = {
        digest: (
            found,
            [(r[0], sys.intern(r[1]) if type(r[1]) is str else r[1], *r[2:]) for r in rows],
        )
        for digest, (found, rows) in reread.items()
    }
    assert _regex_table.table(sources, interned)[0] == fresh
