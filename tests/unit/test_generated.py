"""The generated source compiled at build time (compile/_code_table.py, compile/generated.py)
and the program's use of it (compile/_startup_hook.py): what is recorded, what is left out,
and that code from the table makes the classes and functions the interpreter makes."""

from __future__ import annotations

import builtins
import collections
import dataclasses
import io
import marshal
import subprocess
import sys
import textwrap
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pybin2img.compile import _code_table, _startup_hook
from pybin2img.compile.generated import code_request, write_code_table
from pybin2img.compile.probe import Interpreter
from pybin2img.log import Log

OWN = textwrap.dedent(
    """
    from __future__ import annotations

    import json, os.path as osp
    from urllib.parse import urlsplit, quote
    from . import sibling
    from mine.sub import thing
    import mine
    from collections import *

    def run(
        item: Item, scale: "float" = 1.0, *rest: list["Item"], **named: int | None
    ) -> dict[str, list[int]]:
        import pstats

    class Item:
        name: str
        tags: dict[str,   list[int]] = {}
    """
)


def test_what_the_apps_files_import(tmp_path: Path) -> None:
    own = tmp_path / "app.py"
    own.write_text(OWN)
    modules = {"json", "os.path", "urllib.parse", "mine", "mine.sub", "pstats", "collections"}
    found = _code_table.imports([str(own), str(tmp_path / "gone.py")], modules, {"mine"})
    assert found == [
        ("json", ()),
        ("os.path", ()),
        ("urllib.parse", ("urlsplit", "quote")),
        ("collections", ()),
        ("pstats", ()),
    ]


def test_the_apps_annotations_as_the_program_holds_them(tmp_path: Path) -> None:
    """With ``from __future__ import annotations`` each annotation is a string, made as the
    compiler makes it (``dict[str,   list[int]]`` becomes ``dict[str, list[int]]``); strings
    written inside an annotation are taken as they are."""
    own = tmp_path / "app.py"
    own.write_text(OWN[: OWN.index("import json")] + OWN[OWN.index("def run") :])
    found = _code_table.annotation_strings(str(own))
    namespace: dict[str, Any] = {}
    exec(compile(own.read_text(), str(own), "exec", dont_inherit=True), namespace)
    held = set(namespace["run"].__annotations__.values())
    held |= set(namespace["Item"].__annotations__.values())
    assert held <= found
    assert "dict[str, list[int]]" in found
    assert {"float", "Item"} <= found  # the strings inside annotations
    without = tmp_path / "plain.py"
    without.write_text("def f(a: int, b: 'Later') -> list['Item']: pass\n")
    assert _code_table.annotation_strings(str(without)) == {"Later", "Item"}
    assert _code_table.annotation_strings(str(tmp_path / "gone.py")) == set()


def test_rows_left_out() -> None:
    rows = _code_table.rows_of(
        {
            ("eval", "<string>", "list[int]"),
            ("eval", "<string>", " list[int]"),  # eval() strips it, compile() does not
            ("eval", "<string>", "not valid("),
            ("exec", "<string>", "x = '\\d'"),  # warns as it compiles
            ("exec", "<string>", "x = 1"),
        }
    )
    assert [row[:3] for row in rows] == [
        ("eval", "<string>", "list[int]"),
        ("exec", "<string>", "x = 1"),
    ]
    code = marshal.loads(rows[0][3])
    assert code == compile("list[int]", "<string>", "eval", dont_inherit=True)


def _recorded(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, str, str]]:
    """Record what dataclasses, namedtuple and typing compile, as the builder does, while
    making a dataclass, a named tuple and a forward reference."""
    seen: set[tuple[str, str, str]] = set()
    for module, function in ((dataclasses, "exec"), (collections, "eval"), (typing, "compile")):
        recording = _code_table._recording(function, getattr(builtins, function), seen)
        monkeypatch.setattr(module, function, recording, raising=False)
    _make()
    for module, function in ((dataclasses, "exec"), (collections, "eval"), (typing, "compile")):
        monkeypatch.delattr(module, function)
    return seen


def _make() -> tuple[Any, Any, Any]:
    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = dataclasses.field(default_factory=list)

    pair = collections.namedtuple("pair", "left right", defaults=[None])
    return Point, pair, typing.ForwardRef("dict[str, list[int]]").__forward_code__


def _shadowed(monkeypatch: pytest.MonkeyPatch, table: Path, calls: list[object]) -> None:
    """The program's functions in place of the built-ins in dataclasses, collections, typing
    and inspect (:func:`_startup_hook.precompiled_code`), reading ``table``; ``calls``: what
    each passes on to the built-in (a ``str``: it compiled the source)."""
    for module_name, function in _startup_hook.SHADOWED:
        if module_name in sys.modules:
            monkeypatch.setattr(sys.modules[module_name], function, None, raising=False)
    originals = {name: getattr(builtins, name) for name in ("exec", "eval", "compile")}

    def counting(function: str) -> Callable[..., Any]:
        def call(source: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(source if isinstance(source, str) else type(source).__name__)
            return originals[function](source, *args, **kwargs)

        call.__name__ = function
        return call

    try:
        for name in originals:
            setattr(builtins, name, counting(name))
        _startup_hook.precompiled_code(str(table))
    finally:
        for name, original in originals.items():
            setattr(builtins, name, original)


def test_the_program_runs_code_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _recorded(monkeypatch)
    assert {mode for mode, _, _ in seen} == {"exec", "eval"}
    assert ("eval", "<string>", "dict[str, list[int]]") in seen
    table = tmp_path / "table"
    table.write_bytes(marshal.dumps(_code_table.rows_of(seen), 2))
    expected = _make()
    calls: list[object] = []
    _shadowed(monkeypatch, table, calls)

    made = _make()
    assert calls
    assert all(call == "code" for call in calls)  # nothing compiled
    point, pair, forward = made
    assert point.__init__.__code__ == expected[0].__init__.__code__
    assert point.__repr__.__code__ == expected[0].__repr__.__code__
    assert point.__init__.__qualname__ == "_make.<locals>.Point.__init__"
    assert repr(point(1)) == "_make.<locals>.Point(x=1, y=0, tags=[])"
    with pytest.raises(dataclasses.FrozenInstanceError):
        point(1).x = 2  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'x'"):
        point()
    assert pair.__new__.__code__ == expected[1].__new__.__code__
    assert pair(1) == (1, None)
    assert forward == expected[2]
    # Another source, a str subclass, other arguments: compiled as always.
    calls.clear()
    assert dataclasses.exec("z = 1", {}) is None  # type: ignore[attr-defined]
    assert collections.eval(type("S", (str,), {})("1 + 1"), {}) == 2  # type: ignore[attr-defined]
    assert typing.compile("list[int]", "<other>", "eval").co_filename == "<other>"  # type: ignore[attr-defined]
    assert calls == ["z = 1", "1 + 1", "list[int]"]
    assert dataclasses.exec.__wrapped__.__name__ == "exec"  # type: ignore[attr-defined]
    assert builtins.exec is not dataclasses.exec  # type: ignore[attr-defined]
    assert dataclasses.exec.__name__ == "exec"  # type: ignore[attr-defined]


def _nothing(mode: str, filename: str, source: str) -> None:
    """A table without the row."""


def test_without_globals_the_callers_are_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the built-ins do: the calling frame's globals, and its locals unless given."""
    module = types.ModuleType("m")
    _startup_hook._shadow(module, "eval", builtins.eval, _nothing)
    _startup_hook._shadow(module, "exec", builtins.exec, _nothing)

    def caller() -> Any:
        x = 1  # noqa: F841 - what the evaluated source reads
        return (
            module.eval("x + len(__name__)", None, None),
            module.eval("x + y", None, {"x": 2, "y": 3}),
            builtins.eval("x + len(__name__)", None, None),
        )

    assert caller() == (1 + len(__name__), 5, 1 + len(__name__))
    into: dict[str, Any] = {}
    module.exec("w = __name__", globals(), into)
    assert into == {"w": __name__}
    if sys.version_info >= (3, 13):
        assert module.eval("a", globals={"a": 7}) == 7


@pytest.mark.parametrize("content", [None, b"", b"not marshal", marshal.dumps([1, 2])])
def test_a_table_that_cannot_be_read_leaves_compiling_as_it_was(
    tmp_path: Path, content: bytes | None
) -> None:
    table = tmp_path / "table"
    if content is not None:
        table.write_bytes(content)
    rows = _startup_hook._read_code(str(table))
    assert list(rows) == [None]


def test_a_program_run_with_optimisations_compiles_as_always(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table's code is compiled without ``-O``: asserts and ``__debug__`` would differ."""
    table = tmp_path / "table"
    table.write_bytes(marshal.dumps(_code_table.rows_of({("exec", "<string>", "x = 1")}), 2))
    assert len(_startup_hook._read_code(str(table))) == 2
    flags = types.SimpleNamespace(optimize=1)
    monkeypatch.setattr(_startup_hook, "sys", types.SimpleNamespace(flags=flags))
    assert list(_startup_hook._read_code(str(table))) == [None]


def test_the_request_from_nuitkas_report(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        "<nuitka-compilation-report>"
        '<module name="__main__" source_path="${cwd}/app.py"/>'
        '<module name="app" source_path="${cwd}/app.py"/>'
        '<module name="helpers.util" source_path="${cwd}/helpers/util.py"/>'
        '<module name="flask" source_path="${cwd}/.venv/lib/python3.11/site-packages/flask.py"/>'
        '<module name="json" source_path="${sys.real_prefix}/lib/python3.11/json/__init__.py"/>'
        "</nuitka-compilation-report>"
    )
    assert code_request(report, Path("/work")) == {
        "files": ["/work/app.py", "/work/app.py", "/work/helpers/util.py"],
        "own": ["__main__", "app", "helpers", "util"],
        "modules": ["__main__", "app", "helpers.util", "flask", "json"],
    }


def _interpreter(executable: Path) -> Interpreter:
    return Interpreter(executable=executable, python_version="3.11.7", nuitka_version="4.3.5")


@pytest.mark.allow_programs("the builder runs in the build interpreter, -I -S")
def test_the_builder_as_the_build_interpreter_runs_it(tmp_path: Path) -> None:
    """``python -I -S _code_table.py REQUEST TABLE``: the standard library modules the app's
    file imports, what they generate as they execute (pstats' dataclasses, urllib.parse's and
    functools' named tuples: functools executes after the recording starts), the app's own
    annotations; the app's own module is never imported."""
    (tmp_path / "app.py").write_text(OWN.replace("from . import sibling\n", ""))
    dist = tmp_path / "dist"
    dist.mkdir()
    report = tmp_path / "report.xml"
    report.write_text(
        "<nuitka-compilation-report>"
        '<module name="__main__" source_path="${cwd}/app.py"/>'
        + "".join(
            f'<module name="{name}" source_path="x"/>'
            for name in ("json", "urllib.parse", "pstats", "collections", "os.path")
        )
        + "</nuitka-compilation-report>"
    )
    out = io.StringIO()
    written = write_code_table(
        dist, report, tmp_path, _interpreter(Path(sys.executable)), Log(verbosity=1, stream=out)
    )
    assert written == {"pybin2img.code-table": "${cwd}"}
    assert "generated code: " in out.getvalue()
    assert "from importing 5 of the app's imports" in out.getvalue()
    rows = marshal.loads((dist / "pybin2img.code-table").read_bytes())
    sources = [row[2] for row in rows]
    assert rows == sorted(rows)
    assert any("def __init__(self,ncalls" in s or "def __init__(self, ncalls" in s for s in sources)
    assert any("(scheme, netloc, path, query, fragment)" in s for s in sources)
    assert any("(hits, misses, maxsize, currsize)" in s for s in sources)
    assert "dict[str, list[int]]" in sources
    assert not list(dist.parent.glob("code-*"))  # its request and home are gone
    # The same rows make the same bytes (the image is reproducible).
    first = (dist / "pybin2img.code-table").read_bytes()
    write_code_table(dist, report, tmp_path, _interpreter(Path(sys.executable)), Log(stream=out))
    assert (dist / "pybin2img.code-table").read_bytes() == first


@pytest.mark.allow_programs("a stand-in interpreter that fails, or starts a process and hangs")
@pytest.mark.parametrize("script", ["echo broken >&2; exit 1", "sleep 300 & sleep 300"])
def test_no_table_when_the_builder_fails_or_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str
) -> None:
    """The build goes on without a table; a builder that hangs is stopped with what it
    started, after TIMEOUT."""
    monkeypatch.setattr("pybin2img.compile.generated.TIMEOUT", 1)
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\n{script}\n")
    python.chmod(0o755)
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "pybin2img.code-table").write_bytes(b"stale")
    report = tmp_path / "report.xml"
    report.write_text('<r><module name="__main__" source_path="${cwd}/app.py"/></r>')
    out = io.StringIO()
    started = time.monotonic()
    written = write_code_table(
        dist, report, tmp_path, _interpreter(python), Log(verbosity=1, stream=out)
    )
    assert time.monotonic() - started < 30
    assert written == {}
    assert not (dist / "pybin2img.code-table").exists()
    why = "broken" if "exit 1" in script else "took over 1 s"
    assert "generated code: none compiled at build time" in out.getvalue()
    assert why in out.getvalue()
    leftover = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, check=False)
    assert leftover.stdout == b""
