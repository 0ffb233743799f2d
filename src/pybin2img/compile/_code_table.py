"""The source code libraries generate and compile as they are imported, compiled at build time.

Run by the build interpreter (``python -I -S _code_table.py REQUEST TABLE``), standard library
only. ``dataclasses`` makes each class's ``__init__``, ``__repr__``, ``__eq__`` … by writing
their source and ``exec``-ing it, ``collections.namedtuple`` its ``__new__`` with ``eval``, and
``typing.ForwardRef`` (``annotationlib`` from 3.14) compiles every annotation given as a string
(all of them in a module with ``from __future__ import annotations``). Parsing and compiling
that source is C work in the interpreter, repeated at every start: importing FastAPI and
uvicorn compiles some 1,400 such sources, 15% of its instructions, importing Flask 5%.

What compiling a source gives depends on nothing but the source, its file name, its mode, the
compiler flags and the interpreter. This file imports what the app imports (``REQUEST``: the
app's own files, whose import statements it reads, and the modules the program holds; never
the app's own modules), records each source the functions the hook names (its ``SHADOWED``)
compile, and compiles each again with the same arguments. The table is ``marshal`` data
(version 2: the same rows make the same bytes), a list of ``(mode, filename, source, code)``
rows sorted, ``code`` the compiled code object marshalled (version 2). The program's start-up
hook (``_startup_hook.py``) looks a source up by its exact value, file name and mode, and runs
the code found instead of compiling the source; a source not found is compiled as always.

Prints ``{"rows": N, "bytes": N, "imported": N, "failed": N}`` on success.

The recording starts before anything else is imported: ``-S`` keeps ``site`` (and what the
environment's ``.pth`` files import) until it is in place, and this file imports only ``sys``
and ``os`` before it (``functools``, which ``typing``, ``ast`` and ``json`` import, makes a
named tuple as it executes). No ``__future__`` import here either: the recording
functions pass sources on to the built-ins, which give them the compiler flags of the code that
calls them, as they do from the modules recorded.
"""

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

#: The program's start-up hook, whose functions the recording uses (``SHADOWED``, ``compilers``,
#: ``give_builtins``): what is recorded is what the program looks up.
HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_startup_hook.py")
#: Rows a table keeps at most, and the longest source (a guard against generated sources).
MAX_ROWS = 20000
MAX_SOURCE = 100000
MARSHAL_VERSION = 2


def imports(
    files: "Iterable[str]", modules: "set[str]", own: "set[str]"
) -> "list[tuple[str, tuple[str, ...]]]":
    """``(module, names)`` for each import statement in ``files`` (the app's own sources), in
    the order found: the module to import and the names a ``from`` import takes from it. Only
    modules the program holds (``modules``) and not the app's own (``own``, top-level names)."""
    import ast

    found: list[tuple[str, tuple[str, ...]]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for path in files:
        try:
            with open(path, "rb") as handle:
                tree = ast.parse(handle.read())
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            rows: list[tuple[str, tuple[str, ...]]]
            if isinstance(node, ast.Import):
                rows = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = tuple(alias.name for alias in node.names if alias.name != "*")
                rows = [(node.module, names)]
            else:
                continue
            for name, names in rows:
                if name.split(".")[0] in own or name not in modules or (name, names) in seen:
                    continue
                seen.add((name, names))
                found.append((name, names))
    return found


def annotation_strings(path: str) -> "set[str]":
    """The annotations of the module at ``path`` (an app's own) as the program holds them as
    strings, which ``typing`` compiles when it evaluates them: each one, where the module
    imports ``annotations`` from ``__future__`` (made as the compiler and Nuitka make it), and
    the strings written inside any annotation (``x: "Item"``, ``list["Item"]``)."""
    import __future__

    import ast

    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read())
    except (OSError, SyntaxError, ValueError):
        return set()
    future = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(alias.name == "annotations" for alias in node.names)
        for node in tree.body
    )
    found: set[str] = set()
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, (ast.arg, ast.AnnAssign)):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
        for annotation in annotations:
            if annotation is None:
                continue
            for inner in ast.walk(annotation):
                if isinstance(inner, ast.Constant) and type(inner.value) is str:
                    found.add(inner.value)
            if future:
                host = ast.Module(
                    body=[ast.AnnAssign(ast.Name("x", ast.Store()), annotation, None, 1)],
                    type_ignores=[],
                )
                try:
                    code = compile(
                        ast.fix_missing_locations(host),
                        "<annotations>",
                        "exec",
                        __future__.annotations.compiler_flag,
                        dont_inherit=True,
                    )
                    namespace: dict[str, Any] = {}
                    exec(code, namespace)  # noqa: S102 - assigns the annotation's string
                    found.add(namespace["__annotations__"]["x"])
                except Exception:  # noqa: BLE001, S112 - an annotation left out
                    continue
    return found


def record(seen: "set[tuple[str, str, str]]") -> None:
    """Give the functions of the hook's modules (importing them, each after those it imports)
    the hook's ``exec``, ``eval`` and ``compile``, with nothing in the table and each source
    they would look up added to ``seen`` as ``(mode, filename, source)``. The hook's source is
    compiled and run here, as the build compiles it for the program (its only import is
    ``sys``)."""
    hook: dict[str, Any] = {"__name__": "pybin2img_startup"}
    with open(HOOK, "rb") as handle:
        exec(compile(handle.read(), HOOK, "exec"), hook)  # noqa: S102 - pybin2img's own hook
    replaced = hook["compilers"](_nowhere, lambda *key: seen.add(key))
    for module_name, names in hook["SHADOWED"]:
        try:
            __import__(module_name)
        except ImportError:
            continue
        hook["give_builtins"](sys.modules[module_name], names, replaced)


def _nowhere(*key: str) -> None:
    """An empty table: the recording compiles every source as the interpreter does."""


def rows_of(
    seen: "Iterable[tuple[str, str, str]]",
) -> "list[tuple[str, str, str, bytes]]":
    """The table's rows for the sources in ``seen``, sorted; left out: those that do not
    compile (the program raises as the interpreter does), that warn as they compile (the
    warning must be seen), and ``eval`` sources that start with a blank (``eval`` strips it
    first, ``compile`` does not, and a row serves both)."""
    import marshal
    import warnings

    rows: list[tuple[str, str, str, bytes]] = []
    for mode, filename, source in sorted(seen):
        if len(source) > MAX_SOURCE or len(rows) >= MAX_ROWS:
            continue
        if mode == "eval" and source[:1] in (" ", "\t"):
            # eval() strips them before compiling, compile() does not: a row serves both.
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                code = compile(source, filename, mode, 0, True, 0)
        except (SyntaxError, ValueError, Warning):
            continue
        rows.append((mode, filename, source, marshal.dumps(code, MARSHAL_VERSION)))
    return rows


def main(argv: "list[str]") -> int:
    if len(argv) != 3:
        print("usage: _code_table.py REQUEST TABLE", file=sys.stderr)
        return 2
    seen: set[tuple[str, str, str]] = set()
    record(seen)
    import importlib
    import json
    import marshal
    import site

    # The environment's site-packages and .pth files, which -S held back until now.
    site.main()
    with open(argv[1], encoding="utf-8") as handle:
        request = json.load(handle)
    table = argv[2]
    # What the packages print as they import goes nowhere; the summary goes to stdout.
    summary = os.fdopen(os.dup(1), "w")
    errors = os.fdopen(os.dup(2), "w")
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    wanted = imports(request["files"], set(request["modules"]), set(request["own"]))
    modules = set(request["modules"])
    failed = 0
    for name, names in wanted:
        try:
            module = importlib.import_module(name)
            for attribute in names:
                # A package's lazy attribute (``__getattr__``) imports as the app's import does.
                if not hasattr(module, attribute) and f"{name}.{attribute}" in modules:
                    importlib.import_module(f"{name}.{attribute}")
        except BaseException:  # noqa: BLE001 - a module that fails here is left as it is
            failed += 1
    for path in request["files"]:
        seen.update(("eval", "<string>", text) for text in annotation_strings(path))
    rows = rows_of(seen)
    partial = table + ".partial"
    try:
        data = marshal.dumps(rows, MARSHAL_VERSION)
        with open(partial, "wb") as handle:
            handle.write(data)
        os.replace(partial, table)
    except OSError as exc:
        print(f"cannot write {table}: {exc}", file=errors, flush=True)
        if os.path.exists(partial):
            os.unlink(partial)
        os._exit(1)
    counts = {"rows": len(rows), "bytes": len(data), "imported": len(wanted), "failed": failed}
    summary.write(json.dumps(counts))
    summary.flush()
    # Threads or handlers the packages started must not keep the process or change its exit.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
