"""Scanners for the code of installed packages, run by the probe under the build interpreter.

Standard library only, and nothing is imported from the packages read: the probe loads this
file and ``_probe_walk`` next to it as a package of their own (``_probe_main.py``), the tests
import them from pybin2img. Each scanner turns one file's text or bytes into plain findings;
``_probe_walk``'s :class:`Walker` follows the installed modules an app reaches (its imports,
and what the findings name), reading each file once (with a cache of findings keyed by file)
and bounded in files and seconds.

What it finds, for each installed module reached:

- what a package's ``__init__`` imports under ``if TYPE_CHECKING:`` for static analysis while
  it imports the same lazily at run time (a module ``__getattr__``, or a ``*`` import:
  holidays' countries, pendulum's ``travel``);
- strings that name a module of the same top-level package (boto3's
  ``lazy_call("boto3.dynamodb.transform.register_high_level_interface")``);
- imports by a name built from a literal prefix (``import_module("pkg.data." + name)``,
  ``__import__(f"pkg.plugins.{x}")``, ``import_module(prefix + code)`` with ``prefix`` a
  literal assigned in the same file): every module under the prefix; and a string that reads
  as such a prefix and is held as a value wherever it is (a subpackage's dotted name and a
  dot: docutils' language importer is given ``packages = ('docutils.languages.', '')`` by a
  class attribute, in another file for its subclass), when it names a subpackage of the
  file's own package;
- what an extension module imports: from its Cython sources when the package ships them
  (``.pyx`` and the ``.pxi`` files it includes), else the names kept as C strings in the
  binary: standard library modules, modules of its own package and installed top-level modules;
- entry-point groups the code looks up (a string equal to a group some installed distribution
  defines), so that the group's targets are compiled in;
- shared libraries loaded by a literal name (``ctypes.util.find_library("magic")``,
  ``CDLL("libfoo.so.1")``, cffi's ``ffi.dlopen("foo")``).
"""

from __future__ import annotations

import ast
import bisect
import os
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: A string that may name a module: ``pkg.mod``, ``pkg.mod.Class``, ``pkg.mod:attr``.
MODULE_STRING = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?::[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)?")
#: Strings kept from a file: anything a module, an entry-point group or a library may be
#: called (``flake8.extension``, ``console_scripts``, ``libmagic.so.1``).
_KEPT_STRING = re.compile(r"[A-Za-z_][\w.:+-]{0,199}")
#: A shared library's file name, as given to ``CDLL`` or ``dlopen``.
SONAME = re.compile(r"lib[A-Za-z0-9_+-][\w+.-]*\.so(?:\.\d+)*")
#: Calls whose first argument names a shared library to load.
_LIBRARY_CALLS = frozenset({"find_library", "CDLL", "PyDLL", "LoadLibrary", "dlopen"})
#: Calls that import a module by a name given at run time.
_IMPORT_CALLS = frozenset({"import_module", "__import__"})
#: A string that reads as the prefix of an import by a computed name: a subpackage's dotted
#: name and a dot (``docutils.languages.``).
PREFIX_STRING = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\.")
#: String methods whose argument is compared with, not held (``name.startswith("pkg.")``).
_STRING_TESTS = frozenset({"startswith", "endswith", "removeprefix", "find", "index", "count"})


@dataclass
class Findings:
    """What one file holds (JSON-able, cached by file): imports as written, kept strings,
    computed-import prefixes and library names, each with its line."""

    #: ``[level, module or "", [names], line]`` per import statement.
    imports: list[list[Any]] = field(default_factory=list)
    #: ``[value, line]`` for every kept string constant (no docstrings, no f-string parts).
    strings: list[list[Any]] = field(default_factory=list)
    #: ``[prefix, relative-to ("" | "name" | "package" | a package name), line]``.
    prefixes: list[list[Any]] = field(default_factory=list)
    #: ``[string, line]``: strings that read as an import's prefix (:data:`PREFIX_STRING`)
    #: and stand as a value (assigned, in a tuple or list, returned, passed), not compared with
    #: or added to: docutils' ``packages = ('docutils.languages.', '')``.
    held: list[list[Any]] = field(default_factory=list)
    #: ``[level, module or "", [names], line]``: imports under ``if TYPE_CHECKING:`` that stand
    #: for what the module imports lazily at run time: in a file defining a module
    #: ``__getattr__`` (PEP 562), or with ``*`` (holidays re-exports every country so).
    lazy: list[list[Any]] = field(default_factory=list)
    #: ``[library name, line]``.
    libraries: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imports": self.imports,
            "strings": self.strings,
            "prefixes": self.prefixes,
            "held": self.held,
            "lazy": self.lazy,
            "libraries": self.libraries,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Findings:
        return cls(
            imports=data["imports"],
            strings=data["strings"],
            prefixes=data["prefixes"],
            held=data.get("held", []),
            lazy=data.get("lazy", []),
            libraries=data["libraries"],
        )


#: Triple-quoted strings (docstrings): blanked before the text is read.
_TRIPLE = re.compile(r"""(\"\"\"|\'\'\')(?:[^\\]|\\.)*?\1""", re.DOTALL)
_COMMENT = re.compile(r"(?m)^[ \t]*#[^\n]*")
_NEWLINE = re.compile(r"\n")
_CONTINUED = re.compile(r"\\\n")
#: ``import a.b as c, d`` and ``from .x import (a, b)``, at a line's start or after a ``;``.
_IMPORT_STATEMENT = re.compile(
    r"(?m)(?:^|;)[ \t]*(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n;#]*)"
    r"|import[ \t]+([^\n;#]*))"
)
#: A string literal of the kept kind: ``'pkg.mod'``, ``"flake8.extension"``.
_STRING_LITERAL = re.compile(r"""(['"])([A-Za-z_][\w.:+-]{0,199})\1""")
#: ``if TYPE_CHECKING:`` (``typing.TYPE_CHECKING``, ``t.TYPE_CHECKING``), on a line of its own.
_TYPE_CHECKING = re.compile(
    r"(?m)^([ \t]*)if[ \t]+(?:\w+\.)?TYPE_CHECKING[ \t]*:[ \t]*(?:#[^\n]*)?$"
)
#: A module-level ``__getattr__`` (PEP 562): what the module imports lazily.
_MODULE_GETATTR = re.compile(r"(?m)^def[ \t]+__getattr__[ \t]*\(")
#: What makes a file worth parsing: computed imports, libraries loaded by name.
_CALL_MARKERS = re.compile(r"import_module|__import__|find_library|CDLL|PyDLL|LoadLibrary|dlopen")
_USES_CTYPES = re.compile(r"(?m)^[ \t]*(?:import|from)[ \t]+(?:ctypes|cffi)\b")


def scan_source(source: bytes | str, filename: str = "<source>") -> Findings:
    """The findings of one Python file of an installed package.

    Parsing is most of the time a scan takes (a package's 8 MB of sources take 10 s), so the
    text is read with regular expressions: import statements and string literals, without
    docstrings, comments or f-strings. Only a file that calls ``import_module``,
    ``__import__`` or a library loader is parsed, for the arguments of those calls, or that
    holds a string reading as an import's prefix (:data:`PREFIX_STRING`), for where it stands.
    """
    text = source.decode("utf-8", "replace") if isinstance(source, bytes) else source
    # Blank out what is no code, keeping offsets (and so line numbers).
    blanked = _TRIPLE.sub(lambda m: _blank(m.group()), text)
    blanked = _COMMENT.sub(lambda m: _blank(m.group()), blanked)
    found = Findings()
    starts = [0]
    starts += [m.end() for m in _NEWLINE.finditer(blanked)]

    def line_of(offset: int) -> int:
        return bisect.bisect_right(starts, offset)

    joined = _CONTINUED.sub("  ", blanked)
    for match in _IMPORT_STATEMENT.finditer(joined):
        dots, module, names, plain = match.groups()
        line = line_of(match.start() + (match.group(0)[:1] in ";\n"))
        if plain is not None:
            imported = [part.split()[0] for part in plain.split(",") if part.split()]
            found.imports.append([0, "", imported, line])
        else:
            listed = [part.split()[0] for part in names.strip("()").split(",") if part.split()]
            found.imports.append([len(dots), module, listed, line])
    uses_ctypes = bool(_USES_CTYPES.search(blanked))
    lines = blanked.splitlines()
    if found.imports and _TYPE_CHECKING.search(blanked):
        lazy_module = bool(_MODULE_GETATTR.search(blanked))
        guarded = _type_checking_lines(lines)
        found.lazy = [
            i for i in found.imports if i[3] in guarded and (lazy_module or i[2] == ["*"])
        ]
    for match in _STRING_LITERAL.finditer(blanked):
        before = blanked[match.start() - 1 : match.start()]
        if before.isalnum() or before in ("_", "'", '"'):
            continue  # an f-string's (or a prefixed string's) text, or the end of another
        value = match.group(2)
        line = line_of(match.start())
        if _docstring_like(lines, line, match.group(0)):
            continue
        found.strings.append([value, line])
        if uses_ctypes and SONAME.fullmatch(value):
            found.libraries.append([value, line])
    prefix_like = any(PREFIX_STRING.fullmatch(value) for value, _ in found.strings)
    calls = bool(_CALL_MARKERS.search(blanked))
    if prefix_like or calls:
        try:
            tree = ast.parse(source, filename)
        except (SyntaxError, ValueError):
            return found
        if prefix_like:
            found.held = held_prefixes(tree)
        if calls:
            parsed = scan_tree(tree)
            found.prefixes = parsed.prefixes
            found.libraries += parsed.libraries
    unique = {(name, line) for name, line in found.libraries}
    found.libraries = [[name, line] for name, line in sorted(unique, key=lambda x: x[::-1])]
    return found


def _type_checking_lines(lines: list[str]) -> set[int]:
    """The numbers of the lines inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for index, line in enumerate(lines):
        match = _TYPE_CHECKING.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        for number in range(index + 2, len(lines) + 1):
            text = lines[number - 1]
            if text.strip():
                if len(text) - len(text.lstrip()) <= indent:
                    break
                inside.add(number)
    return inside


def _blank(text: str) -> str:
    """What replaces a docstring or a comment: its line breaks (line numbers are counted in
    the blanked text, so they stay right)."""
    return "\n" * text.count("\n")


def _docstring_like(lines: list[str], line: int, literal: str) -> bool:
    """A string literal alone on its line right after a ``def``/``class`` header (or at the
    top of the file): a docstring in single quotes."""
    if lines[line - 1].strip() != literal:
        return False
    for index in range(line - 2, -1, -1):
        previous = lines[index].strip()
        if previous:
            return previous.endswith(":") and previous.startswith(("def ", "async def ", "class "))
    return True


def not_strings(node: ast.AST, skip: set[int]) -> bool:
    """Whether ``node`` holds constants that are not the code's strings (a docstring, the
    parts of an f-string); their ids are added to ``skip``."""
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        return True
    if isinstance(node, ast.JoinedStr):
        skip.update(id(v) for v in node.values)
        return True
    return False


def _string_list(node: ast.expr) -> list[str]:
    """The strings of a list or tuple literal of strings only; none for anything else."""
    if not isinstance(node, (ast.List, ast.Tuple)) or not node.elts:
        return []
    values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    if len(values) != len(node.elts) or not all(isinstance(v, str) and v for v in values):
        return []
    return [str(v) for v in values]


def _loop_strings(tree: ast.AST) -> dict[str, list[str]]:
    """Loop variables that go over a literal list of strings, directly or through a name bound
    to one, with those strings: ``for name in ["enchant-2", "enchant"]: find_library(name)``
    (pyenchant) loads each of them by name."""
    lists: dict[str, list[str]] = {}
    loops: list[tuple[str, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            loops.append((node.target.id, node.iter))
        elif (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            lists.setdefault(node.targets[0].id, []).extend(_string_list(node.value))
    values: dict[str, list[str]] = {}
    for variable, over in loops:
        strings = lists.get(over.id, []) if isinstance(over, ast.Name) else _string_list(over)
        if strings:
            values.setdefault(variable, []).extend(strings)
    return values


def scan_tree(tree: ast.AST) -> Findings:
    """The findings of one parsed Python file."""
    found = Findings()
    skip: set[int] = set()
    # Literal prefixes assigned to names anywhere in the file: ``prefix = "pkg.data."``.
    assigned: dict[str, list[tuple[str, str]]] = {}
    calls: list[ast.Call] = []
    uses_ctypes = False
    for node in ast.walk(tree):
        if not_strings(node, skip):
            pass
        elif isinstance(node, ast.Import):
            found.imports.append([0, "", [a.name for a in node.names], node.lineno])
            uses_ctypes = uses_ctypes or any(
                a.name.split(".")[0] in ("ctypes", "cffi") for a in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            found.imports.append([node.level, node.module or "", names, node.lineno])
            uses_ctypes = uses_ctypes or (node.module or "").split(".")[0] in ("ctypes", "cffi")
        elif isinstance(node, ast.Call):
            calls.append(node)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                prefix = _literal_prefix(node.value, {})
                if prefix is not None:
                    assigned.setdefault(target.id, []).append(prefix)
    loop_values = _loop_strings(tree) if calls else {}
    for call in calls:
        name = _called_name(call.func)
        if not call.args:
            continue
        if name in _IMPORT_CALLS:
            prefix = _literal_prefix(call.args[0], assigned)
            if prefix is not None and prefix[1] == "computed":
                found.prefixes.append([prefix[0], _relative_to(call), call.lineno])
        elif name in _LIBRARY_CALLS:
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value:
                found.libraries.append([arg.value, call.lineno])
            elif isinstance(arg, ast.Name) and arg.id in loop_values:
                found.libraries += [[value, call.lineno] for value in loop_values[arg.id]]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and _KEPT_STRING.fullmatch(node.value)
        ):
            found.strings.append([node.value, node.lineno])
            if uses_ctypes and SONAME.fullmatch(node.value):
                found.libraries.append([node.value, node.lineno])
    unique = {(name, line) for name, line in found.libraries}
    found.libraries = [[name, line] for name, line in sorted(unique, key=lambda x: x[::-1])]
    found.prefixes.sort(key=lambda p: p[2])
    found.strings.sort(key=lambda s: s[1])
    return found


def held_prefixes(tree: ast.AST) -> list[list[Any]]:
    """``[string, line]`` for each string of ``tree`` that reads as an import's prefix and
    stands as a value: an element of a tuple, list or set, an assignment's or a return's
    value, an argument. A prefix compared with (``name.startswith("pkg.tests.")``, ``engine ==
    "pkg.backends."``) or added to outside an import (``"pkg.sessions." + salt``) is none."""
    found: list[list[Any]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            values: list[ast.expr] = list(node.elts)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.Return)) and node.value:
            values = [node.value]
        elif isinstance(node, ast.Call) and _called_name(node.func) not in _STRING_TESTS:
            values = [*node.args, *(k.value for k in node.keywords)]
        else:
            continue
        for value in values:
            if (
                isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and PREFIX_STRING.fullmatch(value.value)
            ):
                found.append([value.value, value.lineno])
    return sorted(found, key=lambda f: f[1])


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _literal_prefix(
    node: ast.expr, assigned: dict[str, list[tuple[str, str]]]
) -> tuple[str, str] | None:
    """``(prefix, "computed")`` when ``node`` builds a string from a literal prefix and
    something computed; ``(value, "literal")`` for a plain literal (usable as a prefix when
    a name assigned it is then extended); ``None`` otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value, "literal"
    if isinstance(node, ast.JoinedStr) and node.values:
        first = node.values[0]
        if (
            isinstance(first, ast.Constant)
            and isinstance(first.value, str)
            and len(node.values) > 1
        ):
            return first.value, "computed"
        return None
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Add):
            left = _literal_prefix(node.left, assigned)
            if left is not None:
                return left[0], "computed"
            return None
        if (
            isinstance(node.op, ast.Mod)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and "%" in node.left.value
        ):
            return node.left.value.partition("%")[0], "computed"
        return None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
        and "{" in node.func.value.value
    ):
        return node.func.value.value.partition("{")[0], "computed"
    if isinstance(node, ast.Name) and node.id in assigned:
        # The longest literal prefix assigned to the name; a name assigned a whole literal
        # stands for itself when nothing is appended.
        prefix, kind = max(assigned[node.id], key=lambda p: len(p[0]))
        return prefix, kind
    return None


def _relative_to(call: ast.Call) -> str:
    """What a relative name (``import_module(".x", package)``) is relative to: ``name`` for
    ``__name__``, ``package`` for ``__package__``/``__spec__.parent``, a literal package's
    name, or ``""`` when no package is given."""
    package: ast.expr | None = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "package":
            package = keyword.value
    if package is None:
        return ""
    if isinstance(package, ast.Name) and package.id == "__name__":
        return "name"
    if isinstance(package, ast.Constant) and isinstance(package.value, str):
        return package.value
    return "package"


def prefix_package(
    prefix: str, relative_to: str, module: str, is_package: bool
) -> tuple[str, str] | None:
    """``(package, name stem)`` that a computed import's prefix stands for, in the module
    ``module`` (``is_package``: it is a package's ``__init__``): ``"pkg.data."`` -> ``("pkg.data",
    "")``, ``"pkg.plugins.plugin_"`` -> ``("pkg.plugins", "plugin_")``; ``None`` when the prefix
    names no package (``"x"``, a top-level name)."""
    if prefix.startswith("."):
        level = len(prefix) - len(prefix.lstrip("."))
        if relative_to == "name":
            base = module
        elif relative_to in ("package", ""):
            base = module if is_package else module.rpartition(".")[0]
        else:
            base = relative_to
        parts = base.split(".") if base else []
        if level - 1 > len(parts) or not parts:
            return None
        parts = parts[: len(parts) - (level - 1)]
        prefix = ".".join(parts) + "." + prefix[level:]
    if "." not in prefix:
        return None
    package, _, stem = prefix.rpartition(".")
    if not MODULE_STRING.fullmatch(package) or ":" in package:
        return None
    if stem and not re.fullmatch(r"\w*", stem):
        return None
    return package, stem


_CYTHON_IMPORT = re.compile(r"^\s*import\s+(.+)$")
_CYTHON_FROM = re.compile(r"^\s*from\s+(\.*[\w.]*)\s+import\s+(.+)$")
_CYTHON_INCLUDE = re.compile(r"""^\s*include\s+["']([^"']+)["']""")


def cython_imports(text: str) -> tuple[list[list[Any]], list[str]]:
    """Imports of a Cython source (``.pyx``/``.pxi``), as :class:`Findings` imports, and the
    files it ``include``\\ s; ``cimport`` is compile-time only and left out."""
    imports: list[list[Any]] = []
    includes: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].rstrip()
        if not line:
            continue
        include = _CYTHON_INCLUDE.match(line)
        if include:
            includes.append(include.group(1))
            continue
        match = _CYTHON_FROM.match(line)
        if match:
            module = match.group(1)
            level = len(module) - len(module.lstrip("."))
            names = [n.split()[0] for n in match.group(2).strip("() \\").split(",") if n.strip()]
            if names and names[0] != "*" and "cimport" not in line.split():
                imports.append([level, module[level:], names, number])
            elif names and names[0] == "*":
                imports.append([level, module[level:], [], number])
            continue
        match = _CYTHON_IMPORT.match(line)
        if match and not line.lstrip().startswith("cimport"):
            names = [n.split()[0] for n in match.group(1).split(",") if n.strip()]
            if all(re.fullmatch(r"[A-Za-z_][\w.]*", n) for n in names):
                imports.append([0, "", names, number])
    return imports, includes


def search_locations(spec: Any, name: str, parent_locations: Iterable[str]) -> list[str]:
    """The directories package ``name``'s submodules are found in (none for a module). A
    namespace package's are computed from its parent's: its own ``_NamespacePath`` looks the
    parent up in ``sys.modules``, and the probe imports nothing."""
    locations = spec.submodule_search_locations
    if locations is None:
        return []
    if isinstance(locations, list):
        return list(locations)
    last = name.rpartition(".")[2]
    return [os.path.join(p, last) for p in parent_locations if os.path.isdir(os.path.join(p, last))]


def is_extension_module(path: str) -> bool:
    """Whether a file named ``x.so`` is a Python extension module (it defines ``PyInit_x``),
    not a shared library that happens to lie among the modules."""
    stem = os.path.basename(path).split(".")[0]
    try:
        with open(path, "rb") as f:
            return b"PyInit_" + stem.encode() + b"\x00" in f.read()
    except OSError:
        return False


_C_STRING = re.compile(rb"(?<=\x00)[A-Za-z_][A-Za-z0-9_.]{1,120}(?=\x00)")


def binary_strings(data: bytes) -> set[str]:
    """The C strings of a binary that could name a module: NUL-delimited runs of identifier
    characters and dots (Cython before 3.1 keeps each name it imports as one; a C extension's
    ``PyImport_ImportModule("x")`` too), read from its read-only data when it is an ELF file
    that says where that is."""
    start, end = _rodata(data)
    return {m.decode() for m in _C_STRING.findall(data, max(start - 1, 0), end + 1)}


#: A shared library's file name as a C string (``libfribidi.so.0``): what ``dlopen`` is given.
_C_SONAME = re.compile(rb"(?<=\x00)lib[A-Za-z0-9_+-]{1,80}\.so(?:\.[0-9]{1,6}){1,4}(?=\x00)")
#: Display clients (X11, Wayland), which an extension module opens only where a display is
#: named (matplotlib's check of ``DISPLAY``): a container has none.
_DISPLAY_LIBRARIES = re.compile(r"lib(?:X11|xcb|wayland-\w+|GL|EGL|GLX)\.so\b")


def binary_libraries(data: bytes) -> list[str]:
    """The shared libraries an ELF file's read-only data names by file name, which it
    ``dlopen``s itself (Pillow's ``_imagingft`` opens ``libfribidi.so.0`` for text layout),
    in the order they appear; not display clients (:data:`_DISPLAY_LIBRARIES`). The libraries
    it links are named in its dynamic section, not there."""
    start, end = _rodata(data)
    found = (m.decode() for m in _C_SONAME.findall(data, max(start - 1, 0), end + 1))
    return list(dict.fromkeys(n for n in found if not _DISPLAY_LIBRARIES.match(n)))


def _rodata(data: bytes) -> tuple[int, int]:
    """Where an ELF file's ``.rodata`` section lies (the whole file when that is unknown)."""
    whole = (0, len(data))
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return whole
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        if wide:
            (shoff,) = struct.unpack_from(order + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x3A)
            section = order + "IIQQQQIIQQ"
        else:
            (shoff,) = struct.unpack_from(order + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(order + "HHH", data, 0x2E)
            section = order + "IIIIIIIIII"
        headers = [struct.unpack_from(section, data, shoff + i * shentsize) for i in range(shnum)]
        names_offset = headers[shstrndx][4]
        for header in headers:
            name_at = names_offset + header[0]
            if data[name_at : name_at + 8] == b".rodata\x00":
                return header[4], header[4] + header[5]
    except (struct.error, IndexError):
        return whole
    return whole
