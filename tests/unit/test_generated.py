"""The generated source compiled at build time (compile/_code_table.py, compile/generated.py)
and the program's use of it (compile/_startup_hook.py): what is recorded, what is left out,
and that code from the table makes the classes and functions the interpreter makes."""

from __future__ import annotations

import builtins
import importlib.util
import io
import marshal
import sys
import textwrap
import time
import types
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


def _fresh(name: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A copy of the standard library's module ``name``, executed now, for the hook to change
    (the test process keeps its own), in ``sys.modules`` for the test."""
    origin = importlib.util.find_spec(name).origin  # type: ignore[union-attr]
    spec = importlib.util.spec_from_file_location(f"fresh_{name}", origin)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


FORWARD = textwrap.dedent(
    """
    class Ref:
        def __init__(self, arg):
            self.code = compile(arg, "<string>", "eval")

        @property
        def again(self):
            return compile(self.arg, "<string>", "eval")

    def plain():
        return len("x")
    """
)


def _modules(
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    """Fresh dataclasses and collections, and a module whose class compiles as typing's
    ForwardRef does."""
    forward = types.ModuleType("forward")
    exec(compile(FORWARD, "forward.py", "exec"), forward.__dict__)
    return _fresh("dataclasses", monkeypatch), _fresh("collections", monkeypatch), forward


def _make(modules: tuple[types.ModuleType, ...]) -> tuple[Any, Any, Any]:
    made_dataclasses, made_collections, forward = modules

    @made_dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = made_dataclasses.field(default_factory=list)

    pair = made_collections.namedtuple("pair", "left right", defaults=[None])
    return Point, pair, forward.Ref("dict[str, list[int]]").code


def _given(
    modules: tuple[types.ModuleType, ...],
    lookup: Callable[..., Any],
    note: Callable[..., Any] | None = None,
    calls: list[object] | None = None,
) -> None:
    """The hook's built-ins given to ``modules``' functions, those passing on to the real ones
    appending to ``calls`` what they pass (a ``str``: the source was compiled)."""
    originals = {name: getattr(builtins, name) for name in _startup_hook.COMPILERS}

    def counting(function: str) -> Callable[..., Any]:
        def call(source: Any, *args: Any, **kwargs: Any) -> Any:
            if calls is not None:
                calls.append(source if isinstance(source, str) else type(source).__name__)
            return originals[function](source, *args, **kwargs)

        call.__name__ = function
        return call

    try:
        for name in originals if calls is not None else ():
            setattr(builtins, name, counting(name))
        replaced = _startup_hook.compilers(lookup, note)
    finally:
        for name, original in originals.items():
            setattr(builtins, name, original)
    names = dict(_startup_hook.SHADOWED)
    names["forward"] = ("Ref.__init__", "Ref.again", "plain", "Missing.name", "absent")
    for module in modules:
        _startup_hook.give_builtins(module, names[module.__name__.split("_")[-1]], replaced)


def test_the_program_runs_code_from_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = _modules(monkeypatch)
    seen: set[tuple[str, str, str]] = set()
    _given(recorded, _nothing, lambda *key: seen.add(key))
    expected = _make(recorded)
    assert {mode for mode, _, _ in seen} == {"exec", "eval"}
    assert ("eval", "<string>", "dict[str, list[int]]") in seen
    table = tmp_path / "table"
    table.write_bytes(marshal.dumps(_code_table.rows_of(seen), 2))
    rows = _startup_hook._read_code(str(table))

    def lookup(*key: str) -> Any:
        return None if rows.get(key) is None else rows[None](rows[key])

    served = _modules(monkeypatch)
    calls: list[object] = []
    _given(served, lookup, calls=calls)
    point, pair, forward = _make(served)
    assert calls
    assert all(call == "code" for call in calls)  # nothing compiled
    assert point.__init__.__code__ == expected[0].__init__.__code__
    assert point.__repr__.__code__ == expected[0].__repr__.__code__
    assert point.__init__.__qualname__ == "_make.<locals>.Point.__init__"
    assert repr(point(1)) == "_make.<locals>.Point(x=1, y=0, tags=[])"
    with pytest.raises(served[0].FrozenInstanceError):
        point(1).x = 2
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'x'"):
        point()
    assert pair.__new__.__code__ == expected[1].__new__.__code__
    assert pair(1) == (1, None)
    assert forward == expected[2]
    # Another source, a str subclass, other arguments: compiled as always.
    calls.clear()
    ref = served[2].Ref
    ref.__init__.__builtins__["exec"]("z = 1", {})
    assert ref.__init__.__builtins__["eval"](type("S", (str,), {})("1 + 1"), {}) == 2
    assert ref.__init__.__builtins__["compile"]("[1]", "<other>", "eval").co_filename == "<other>"
    assert calls == ["z = 1", "1 + 1", "[1]"]


def test_what_the_functions_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the functions that name a compiling built-in are copies, with the same code,
    globals, names and attributes; the module's names, its ``__builtins__`` and the real
    built-ins are as they were."""
    dataclasses_, collections_, forward = _modules(monkeypatch)
    before = {module: dict(vars(module)) for module in (dataclasses_, collections_, forward)}
    namedtuple, init, again = collections_.namedtuple, forward.Ref.__init__, forward.Ref.again
    namedtuple.marker = "kept"
    _given((dataclasses_, collections_, forward), _nothing)
    for module, names in before.items():
        assert list(vars(module)) == list(names)
        assert module.__builtins__ is names["__builtins__"]
    assert collections_.namedtuple is not namedtuple
    assert collections_.namedtuple.__code__ is namedtuple.__code__
    assert collections_.namedtuple.__globals__ is vars(collections_)
    assert collections_.namedtuple.__defaults__ == namedtuple.__defaults__
    assert collections_.namedtuple.__kwdefaults__ == namedtuple.__kwdefaults__
    assert collections_.namedtuple.__qualname__ == "namedtuple"
    assert collections_.namedtuple.marker == "kept"
    assert collections_.namedtuple.__builtins__["eval"].__wrapped__ is builtins.eval
    assert forward.Ref.__init__ is not init
    assert forward.Ref.again is not again
    assert isinstance(forward.Ref.again, property)
    assert forward.plain is before[forward]["plain"]
    assert builtins.eval.__module__ == "builtins"
    assert collections_.namedtuple("p", "a b")(1, 2).b == 2


def _nothing(mode: str, filename: str, source: str) -> None:
    """A table without the row."""


def test_without_globals_the_callers_are_taken() -> None:
    """As the built-ins do: the calling frame's globals, and its locals unless given."""
    replaced = _startup_hook.compilers(_nothing)

    def caller() -> Any:
        x = 1  # noqa: F841 - what the evaluated source reads
        return (
            replaced["eval"]("x + len(__name__)", None, None),
            replaced["eval"]("x + y", None, {"x": 2, "y": 3}),
            builtins.eval("x + len(__name__)", None, None),
        )

    assert caller() == (1 + len(__name__), 5, 1 + len(__name__))
    into: dict[str, Any] = {}
    replaced["exec"]("w = __name__", globals(), into)
    assert into == {"w": __name__}
    if sys.version_info >= (3, 13):
        assert replaced["eval"]("a", globals={"a": 7}) == 7


def test_a_table_that_cannot_be_read_leaves_compiling_as_it_was(unreadable_table: Path) -> None:
    rows = _startup_hook._read_code(str(unreadable_table))
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
@pytest.mark.parametrize(
    "script", ["echo broken >&2; exit 1", 'sleep 300 & echo $! > "$0.pid"; sleep 300']
)
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
    pid_file = Path(f"{python}.pid")
    if pid_file.exists():  # what the hanging builder started is stopped with it
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]:
                break  # ended, not yet reaped by its new parent
            time.sleep(0.05)
        else:
            assert not Path(f"/proc/{pid}").exists()


@pytest.mark.allow_programs("the builder runs in the build interpreter, -I -S")
def test_a_full_disk_as_the_table_is_written_leaves_no_table(tmp_path: Path) -> None:
    """The builder's file goes to /dev/full (ENOSPC, as on a full disk): no table and no partial
    file are left, the build goes on, and the log says why."""
    (tmp_path / "app.py").write_text("import json\n")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "pybin2img.code-table.partial").symlink_to("/dev/full")
    report = tmp_path / "report.xml"
    report.write_text(
        '<r><module name="__main__" source_path="${cwd}/app.py"/>'
        '<module name="json" source_path="x"/></r>'
    )
    out = io.StringIO()
    written = write_code_table(
        dist, report, tmp_path, _interpreter(Path(sys.executable)), Log(verbosity=1, stream=out)
    )
    assert written == {}
    assert sorted(p.name for p in dist.iterdir()) == []
    assert "none compiled at build time (cannot write" in out.getvalue()
    assert "No space left on device" in out.getvalue()
