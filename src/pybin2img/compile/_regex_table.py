"""The regular expressions a program compiles as its modules execute, compiled at build time.

Run by the build interpreter (``python -I _regex_table.py FILES TABLE [KNOWN]``), standard
library only. Compiling a pattern is pure-Python work at run time (``re._parser`` and
``re._compiler``; ``sre_parse`` and ``sre_compile`` before 3.11), and modules do it as they
execute: importing Flask compiles 92 patterns, a tenth of its instructions. The result of
``re._compiler.compile(pattern, flags)`` is the arguments it passes to ``_sre.compile``, and
they depend on nothing but the pattern, the flags and the interpreter: this file finds the
patterns that modules compile at module or class level (``re.compile`` with a constant
pattern), compiles each with the build interpreter, records those arguments and checks that
``_sre.compile`` given them makes a pattern equal to the one ``re`` makes.

The table is ``marshal`` data (version 2: :data:`MARSHAL_VERSION`), a list of ``(is_bytes,
pattern, flags, sre_flags, code, groups, groupindex, indexgroup)`` rows, ``code`` as native
32-bit words (bytes). The program looks a pattern up by its exact type, value and flags
(``_startup_hook.py``), so a pattern found here that the program never compiles costs only its
row, and one compiled with other flags or built at run time is compiled as always. Left out:
patterns that do not compile, that warn as they compile (the warning must be seen as under the
interpreter), and ``re.DEBUG`` (it prints).
"""

from __future__ import annotations

import ast
import hashlib
import json
import marshal
import os
import re
import sys
import warnings
from array import array
from collections.abc import Iterable, Iterator
from typing import Any

#: Calls that compile their first argument as a pattern, and where their flags are.
_COMPILERS = {"compile": 1}
#: ``re``'s flag names, as a module may spell them (``re.I``, ``re.IGNORECASE``).
_FLAGS = {name: int(value) for name, value in vars(re).items() if isinstance(value, re.RegexFlag)}
#: Rows a table keeps at most, and the longest pattern (a guard against generated sources).
MAX_ROWS = 5000
MAX_PATTERN = 20000
#: Version 2 of marshal writes every string the same way and never a reference to an object
#: written before, so the same rows make the same bytes whether they were just found or read
#: from ``KNOWN`` (later versions depend on strings' interning and objects' reference counts):
#: the image is reproducible.
MARSHAL_VERSION = 2
#: Sources whose findings the cache file (``KNOWN``) keeps.
MAX_KNOWN = 20000


def candidates(source: bytes | str) -> list[tuple[str | bytes, int]]:
    """``(pattern, flags)`` of each ``re.compile`` with a constant pattern that runs as the
    module executes (module and class bodies, not functions), in the order found."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    names = _Names()
    found: list[tuple[str | bytes, int]] = []
    for node in _executed(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.note_import(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                names.assign(target.id, node.value)
        for call in _calls(node):
            row = names.compiled(call)
            if row is not None:
                found.append(row)
    return found


def _executed(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run as it executes, nested blocks (``if``, ``try``,
    ``with``, class bodies) included, functions' bodies not."""
    for node in body:
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _executed(inner)
        for handler in getattr(node, "handlers", ()):
            yield from _executed(handler.body)


def _calls(node: ast.stmt) -> Iterator[ast.Call]:
    """Calls in ``node`` itself, not in the blocks :func:`_executed` yields on their own, nor in
    functions and lambdas."""
    stack: list[ast.AST] = []
    for field, value in ast.iter_fields(node):
        if field in ("body", "orelse", "finalbody", "handlers"):
            continue
        stack.extend(value if isinstance(value, list) else [value])
    while stack:
        item = stack.pop()
        if not isinstance(item, ast.AST) or isinstance(
            item, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            continue
        if isinstance(item, ast.Call):
            yield item
        stack.extend(ast.iter_child_nodes(item))


class _Names:
    """What a module's names stand for as far as the walk has come: ``re`` (and its aliases),
    ``re``'s compile functions and flags imported by name, and constant strings."""

    def __init__(self) -> None:
        self.modules: set[str] = set()
        self.functions: dict[str, str] = {}
        self.flags: dict[str, int] = {}
        self.constants: dict[str, str | bytes] = {}

    def note_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "re":
                    self.modules.add(alias.asname or "re")
        elif node.module == "re" and not node.level:
            for alias in node.names:
                local = alias.asname or alias.name
                if alias.name in _COMPILERS:
                    self.functions[local] = alias.name
                elif alias.name in _FLAGS:
                    self.flags[local] = _FLAGS[alias.name]

    def assign(self, name: str, value: ast.expr) -> None:
        """``name = value`` at module level: a constant string, flags (``FLAGS = re.X |
        re.M``), or neither from now on."""
        self.constants.pop(name, None)
        flags = self.flag_value(value)
        text = self.constant(value)
        self.flags.pop(name, None)
        if text is not None:
            self.constants[name] = text
        elif flags is not None:
            self.flags[name] = flags

    def constant(self, node: ast.expr) -> str | bytes | None:
        """The value of a constant string, of names bound to one, and of ``+`` between them."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
            return node.value
        if isinstance(node, ast.Name):
            return self.constants.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.constant(node.left), self.constant(node.right)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
            if isinstance(left, bytes) and isinstance(right, bytes):
                return left + right
        return None

    def flag_value(self, node: ast.expr) -> int | None:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in self.modules:
                return _FLAGS.get(node.attr)
            return None
        if isinstance(node, ast.Name):
            return self.flags.get(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitOr, ast.Add)):
            left, right = self.flag_value(node.left), self.flag_value(node.right)
            if left is None or right is None:
                return None
            return left | right if isinstance(node.op, ast.BitOr) else left + right
        return None

    def compiled(self, call: ast.Call) -> tuple[str | bytes, int] | None:
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            name = func.attr if func.value.id in self.modules else None
        elif isinstance(func, ast.Name):
            name = self.functions.get(func.id)
        else:
            name = None
        if name not in _COMPILERS or not call.args:
            return None
        pattern = self.constant(call.args[0])
        if pattern is None or len(pattern) > MAX_PATTERN:
            return None
        flags_at = _COMPILERS[name]
        flags_node: ast.expr | None = None
        if len(call.args) > flags_at:
            flags_node = call.args[flags_at]
        for keyword in call.keywords:
            if keyword.arg == "flags":
                flags_node = keyword.value
            elif keyword.arg is None:
                return None
        flags = 0 if flags_node is None else self.flag_value(flags_node)
        return None if flags is None else (pattern, flags)


def _compiler_module() -> object:
    """``re._compiler``, or ``sre_compile`` before 3.11."""
    if sys.version_info >= (3, 11):
        import re._compiler as compiler  # type: ignore[import-not-found,unused-ignore]
    else:  # pragma: no cover - the build interpreter's version
        import sre_compile as compiler  # type: ignore[import-not-found,unused-ignore]
    return compiler


def row(pattern: str | bytes, flags: int) -> tuple[object, ...] | None:
    """The table's row for ``pattern`` with ``flags``, or None when it is left out."""
    import _sre  # type: ignore[import-not-found,unused-ignore]

    if flags & re.DEBUG:
        return None
    compiler = _compiler_module()
    captured: list[tuple[object, ...]] = []
    original = _sre.compile

    def capture(*args: object) -> object:
        captured.append(args)
        return original(*args)

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        _sre.compile = capture
        try:
            expected = compiler.compile(pattern, flags)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a pattern that does not compile is left out
            return None
        finally:
            _sre.compile = original
    if seen or len(captured) != 1:
        return None
    args = captured[0]
    if len(args) != 6 or args[0] is not pattern:
        return None
    sre_flags, code, groups, groupindex, indexgroup = args[1:]
    if not (type(code) is list and type(groupindex) is dict and type(indexgroup) is tuple):
        return None
    words = array("I", [int(word) for word in code])
    if original(pattern, sre_flags, words.tolist(), groups, groupindex, indexgroup) != expected:
        return None
    return (
        type(pattern) is bytes,
        pattern,
        int(flags),
        int(sre_flags),  # type: ignore[call-overload]
        words.tobytes(),
        int(groups),  # type: ignore[call-overload]
        dict(groupindex),
        tuple(indexgroup),
    )


def file_rows(source: bytes | str) -> tuple[int, list[tuple[object, ...]]]:
    """How many patterns ``source`` compiles as it executes, and the rows of those kept."""
    found = candidates(source)
    rows = [made for pattern, flags in found if (made := row(pattern, flags)) is not None]
    return len(found), rows


def table(
    sources: Iterable[bytes], known: dict[str, Any] | None = None
) -> tuple[bytes, dict[str, int]]:
    """The marshalled table of the patterns ``sources`` compile, and counts of what was found
    and kept. ``known``: what earlier runs found by each source's sha256, used and updated
    (what this run read last, in its order)."""
    known = {} if known is None else known
    rows: dict[tuple[object, ...], tuple[object, ...]] = {}
    found = 0
    for source in sources:
        digest = hashlib.sha256(source).hexdigest()
        entry = known.pop(digest, None)
        if not (isinstance(entry, tuple) and len(entry) == 2):
            entry = file_rows(source)
        known[digest] = entry
        found += entry[0]
        for made in entry[1]:
            if len(rows) < MAX_ROWS:
                rows.setdefault(made[:3], made)
    data = marshal.dumps(list(rows.values()), MARSHAL_VERSION)
    return data, {"found": found, "kept": len(rows), "bytes": len(data)}


#: Nuitka's report's placeholders for this interpreter's prefixes.
_PREFIXES = {"${sys.prefix}": sys.prefix, "${sys.real_prefix}": sys.base_prefix}


def expand(path: str) -> str:
    """A path of Nuitka's report with this interpreter's prefixes for its placeholders."""
    for placeholder, prefix in _PREFIXES.items():
        if path.startswith(placeholder):
            return prefix + path[len(placeholder) :]
    return path


def main(argv: list[str]) -> int:
    """``FILES TABLE [KNOWN]``: FILES a JSON list of source paths; writes TABLE, prints the
    counts. KNOWN: a file of what earlier runs of this interpreter found by source, kept."""
    with open(argv[0], encoding="utf-8") as handle:
        paths = json.load(handle)
    known: dict[str, Any] = {}
    if len(argv) > 2:
        try:
            with open(argv[2], "rb") as cached:
                loaded = marshal.loads(cached.read())  # noqa: S302 - pybin2img's own cache
            known = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError, EOFError, TypeError):
            known = {}

    def sources() -> Iterator[bytes]:
        for path in map(expand, paths):
            try:
                with open(path, "rb") as source:
                    yield source.read()
            except OSError:
                continue

    data, counts = table(sources(), known)
    with open(argv[1], "wb") as out:
        out.write(data)
    if len(argv) > 2:
        # Up to a bound, what was known, what this run read last.
        kept = dict(list(known.items())[-MAX_KNOWN:])
        temporary = f"{argv[2]}.{os.getpid()}.tmp"
        try:
            with open(temporary, "wb") as out:
                out.write(marshal.dumps(kept, 4))
            os.replace(temporary, argv[2])
        except OSError:
            pass  # it only saves time
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
