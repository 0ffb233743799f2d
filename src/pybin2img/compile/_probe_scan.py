"""Scanners for the code of installed packages, run by the probe under the build interpreter.

Standard library only, and nothing is imported from the packages read: the probe loads this
file by its path (``_probe_main.py``), the tests import it. Each scanner turns one file's text
or bytes into plain findings; :class:`Walker` follows the installed modules an app reaches
(its imports, and what the findings name), reading each file once (with a cache of findings
keyed by file) and bounded in files and seconds.

What it finds, for each installed module reached:

- strings that name a module of the same top-level package (boto3's
  ``lazy_call("boto3.dynamodb.transform.register_high_level_interface")``);
- imports by a name built from a literal prefix (``import_module("pkg.data." + name)``,
  ``__import__(f"pkg.plugins.{x}")``, ``import_module(prefix + code)`` with ``prefix`` a
  literal assigned in the same file): every module under the prefix;
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
import importlib.machinery
import os
import re
import struct
import sys
import time
from collections.abc import Callable, Iterable
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
#: Path parts of modules never followed: test suites (a test names modules the program never
#: imports).
_TEST_PARTS = frozenset({"tests", "test", "testing", "conftest"})
#: Standard library modules an extension module's strings may name, but that a program never
#: gets from one: GUIs, test suites, tools, and modules that would drag in heavy parts.
STDLIB_NEVER = frozenset(
    {
        "__main__",
        "antigravity",
        "this",
        "tkinter",
        "turtle",
        "turtledemo",
        "idlelib",
        "test",
        "unittest",
        "doctest",
        "pydoc",
        "pydoc_data",
        "ensurepip",
        "venv",
        "lib2to3",
        "distutils",
        "msilib",
        "winreg",
        "winsound",
        "msvcrt",
        "nt",
        "_winapi",
        "site",
        "sitecustomize",
        "usercustomize",
    }
)
_EXTENSION_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)
#: How many modules of its own package one file's strings may name (a registry such as
#: pygments' lexer mapping names hundreds); the rest are reported, not added.
MAX_NAMED_PER_FILE = 100
#: How many modules a computed import's prefix may stand for; more are reported, not added.
MAX_PREFIX_MODULES = 500
#: The same for a prefix that is a whole top-level package (``f"pyarrow.{name}"``): a
#: package's own optional parts, which the app rarely all needs.
MAX_PACKAGE_PREFIX_MODULES = 40


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
    #: ``[library name, line]``.
    libraries: list[list[Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imports": self.imports,
            "strings": self.strings,
            "prefixes": self.prefixes,
            "libraries": self.libraries,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Findings:
        return cls(
            imports=data["imports"],
            strings=data["strings"],
            prefixes=data["prefixes"],
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
#: What makes a file worth parsing: computed imports, libraries loaded by name.
_CALL_MARKERS = re.compile(r"import_module|__import__|find_library|CDLL|PyDLL|LoadLibrary|dlopen")
_USES_CTYPES = re.compile(r"(?m)^[ \t]*(?:import|from)[ \t]+(?:ctypes|cffi)\b")


def scan_source(source: bytes | str, filename: str = "<source>") -> Findings:
    """The findings of one Python file of an installed package.

    Parsing is most of the time a scan takes (a package's 8 MB of sources take 10 s), so the
    text is read with regular expressions: import statements and string literals, without
    docstrings, comments or f-strings. Only a file that calls ``import_module``,
    ``__import__`` or a library loader is parsed, for the arguments of those calls.
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
    if _CALL_MARKERS.search(blanked):
        try:
            tree = ast.parse(source, filename)
        except (SyntaxError, ValueError):
            return found
        parsed = scan_tree(tree)
        found.prefixes = parsed.prefixes
        found.libraries += parsed.libraries
    unique = {(name, line) for name, line in found.libraries}
    found.libraries = [[name, line] for name, line in sorted(unique, key=lambda x: x[::-1])]
    return found


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


def scan_tree(tree: ast.AST) -> Findings:
    """The findings of one parsed Python file."""
    found = Findings()
    skip: set[int] = set()
    # Literal prefixes assigned to names anywhere in the file: ``prefix = "pkg.data."``.
    assigned: dict[str, list[tuple[str, str]]] = {}
    calls: list[ast.Call] = []
    uses_ctypes = False
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
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


@dataclass(frozen=True)
class EntryTarget:
    """One entry point an installed distribution defines."""

    distribution: str
    group: str
    name: str
    value: str

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()


@dataclass
class Walker:
    """Follows the installed modules the app reaches and collects what their code names.

    ``roots``: the import path; ``stdlib``: top-level standard library names; ``own``: whether
    a module spec is one of the app's own (those are read by the app scan, not here);
    ``groups``: entry-point group -> the targets installed distributions define for it;
    ``top_level``: installed top-level module names; ``cache``: findings by file (read and
    updated), ``max_files``/``budget``: the bounds.
    """

    roots: list[str]
    stdlib: frozenset[str]
    own: Callable[[Any], bool]
    groups: dict[str, list[EntryTarget]] = field(default_factory=dict)
    top_level: frozenset[str] = frozenset()
    #: Top-level modules never read (the build's own tools: setuptools, pip, Nuitka).
    skip: frozenset[str] = frozenset()
    cache: dict[str, Any] = field(default_factory=dict)
    max_files: int = 6000
    budget: float = 90.0
    #: Modules to compile in: name -> {"module", "file", "line", "kind"}.
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    prefixes: list[dict[str, Any]] = field(default_factory=list)
    #: Files that name more of their package's modules than are taken from one file.
    capped: list[dict[str, Any]] = field(default_factory=list)
    entry_points: dict[str, dict[str, Any]] = field(default_factory=dict)
    libraries: dict[str, dict[str, Any]] = field(default_factory=dict)
    scanned: int = 0
    extensions: int = 0
    cached: int = 0
    stopped: str | None = None
    _queue: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _specs: dict[str, Any] = field(default_factory=dict)
    _locations: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str) -> None:
        """Follow ``name`` (a module's name; its parent packages are followed too)."""
        while name:
            if name not in self._seen:
                self._seen.add(name)
                self._queue.append(name)
            name = name.rpartition(".")[0]

    def locate(self, name: str) -> Any:
        """Where ``name`` is (a module spec), found on the file system without importing."""
        if name in self._specs:
            return self._specs[name]
        spec = None
        parent = name.rpartition(".")[0]
        try:
            if not parent:
                if name not in sys.builtin_module_names:
                    spec = importlib.machinery.PathFinder.find_spec(name, self.roots)
            else:
                where = self.locations(parent)
                if where:
                    spec = importlib.machinery.PathFinder.find_spec(name, where)
        except Exception:  # noqa: BLE001 - a package that cannot be found this way is not found
            spec = None
        self._specs[name] = spec
        return spec

    def locations(self, name: str) -> list[str]:
        """The directories the submodules of package ``name`` are found in."""
        if name not in self._locations:
            spec = self.locate(name)
            parent = name.rpartition(".")[0]
            self._locations[name] = (
                search_locations(spec, name, self.locations(parent) if parent else self.roots)
                if spec is not None
                else []
            )
        return self._locations[name]

    def run(self) -> None:
        start = time.monotonic()
        while self._queue:
            if self.scanned >= self.max_files:
                self.stopped = f"more than {self.max_files} files"
                return
            if time.monotonic() - start > self.budget:
                self.stopped = f"more than {self.budget:g} seconds"
                return
            self._visit(self._queue.pop(0))

    def _installed(self, name: str) -> Any:
        top = name.split(".", maxsplit=1)[0]
        if (
            top in self.stdlib
            or top in self.skip
            or any(part in _TEST_PARTS for part in name.split("."))
        ):
            return None
        spec = self.locate(name)
        if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
            return None
        return None if self.own(spec) else spec

    def _visit(self, name: str) -> None:
        spec = self._installed(name)
        if spec is None:
            return
        origin = spec.origin
        is_package = spec.submodule_search_locations is not None
        package = name if is_package else name.rpartition(".")[0]
        if origin.endswith(".py"):
            findings = self._findings(origin, lambda data: scan_source(data, origin))
            if findings is None:
                return
            self._python(name, origin, package, is_package, findings)
        elif isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            tagged = origin.endswith(tuple(s for s in _EXTENSION_SUFFIXES if s != ".so"))
            if tagged or is_extension_module(origin):
                self._extension(name, origin, package)

    def _findings(self, path: str, scan: Callable[[bytes], Findings]) -> Findings | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = [st.st_size, st.st_mtime_ns]
        entry = self.cache.get(path)
        self.scanned += 1
        if entry is not None and entry.get("key") == key:
            self.cached += 1
            return Findings.from_json(entry["findings"])
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        findings = scan(data)
        self.cache[path] = {"key": key, "findings": findings.to_json()}
        return findings

    def _imports(self, imports: Iterable[list[Any]], package: str) -> Iterable[tuple[str, int]]:
        for level, module, names, line in imports:
            if level:
                parts = package.split(".") if package else []
                if level - 1 > len(parts) or not parts:
                    continue
                base = ".".join([*parts[: len(parts) - (level - 1)], *([module] if module else [])])
            else:
                base = module
            if base:
                yield base, line
                for name in names:
                    if name != "*":
                        yield f"{base}.{name}", line
            else:
                for name in names:
                    yield name, line

    def _python(
        self, name: str, origin: str, package: str, is_package: bool, findings: Findings
    ) -> None:
        top = name.split(".", maxsplit=1)[0]
        for imported, _line in self._imports(findings.imports, package):
            if self.locate(imported) is not None:
                self.add(imported)
        named = 0
        for value, line in findings.strings:
            group = self.groups.get(value)
            if group is not None:
                self._entry_points(value, group, origin, line, by=name)
            if value.startswith(top + ".") and MODULE_STRING.fullmatch(value):
                named += self._named(value, origin, line, by=name)
                if named > MAX_NAMED_PER_FILE:
                    self.capped.append({"file": origin, "limit": MAX_NAMED_PER_FILE})
                    break
        for prefix, relative_to, line in findings.prefixes:
            where = prefix_package(prefix, relative_to, name, is_package)
            if where is not None:
                self.prefix(prefix, where, origin, line, by=name)
        for library, line in findings.libraries:
            self.libraries.setdefault(library, {"library": library, "file": origin, "line": line})

    def _record(
        self, module: str, origin: str, line: int, kind: str, by: str | None, **extra: Any
    ) -> bool:
        """Record ``module`` as named (``by``: the module whose code names it, ``None`` for
        the app's own files); return whether it is new."""
        record = self.modules.get(module)
        new = record is None
        if record is None:
            record = {"module": module, "file": origin, "line": line, "kind": kind, "by": []}
            record.update(extra)
            self.modules[module] = record
        key = by or ""
        if key not in record["by"]:
            record["by"].append(key)
        self.add(module)
        return new

    def _named(self, value: str, origin: str, line: int, by: str) -> int:
        """A string naming a module of the file's own package: ``pkg.mod``, ``pkg.mod:attr``,
        ``pkg.mod.func`` (the module is what is compiled in, never a whole package's tree)."""
        name = value.partition(":")[0]
        if any(part in _TEST_PARTS for part in name.split(".")):
            return 0
        spec = self._installed(name)
        if spec is None and ":" not in value:
            name = name.rpartition(".")[0]
            spec = self._installed(name) if "." in name else None
        if spec is None or name == by:
            return 0
        return int(self._record(name, origin, line, "string", by))

    def prefix(
        self, prefix: str, where: tuple[str, str], origin: str, line: int, by: str | None
    ) -> None:
        """An import by a computed name with a literal prefix (``where``: the package and
        name stem it stands for): every module under it, unless there are too many."""
        package, stem = where
        if package.split(".")[0] in self.stdlib:
            return
        if not self.locations(package):
            return
        if any(p["package"] == package and p["stem"] == stem for p in self.prefixes):
            return
        found = sorted(self._under(package, stem))
        limit = MAX_PREFIX_MODULES if "." in package or stem else MAX_PACKAGE_PREFIX_MODULES
        record = {
            "prefix": prefix,
            "package": package,
            "stem": stem,
            "file": origin,
            "line": line,
            "modules": len(found),
            "added": len(found) <= limit,
            "limit": limit,
        }
        self.prefixes.append(record)
        if record["added"]:
            for module in found:
                self._record(module, origin, line, "prefix", by, prefix=prefix)

    def _under(self, package: str, stem: str) -> Iterable[str]:
        """Every module under ``package`` whose name (below it) starts with ``stem``, test
        suites left out."""
        suffixes = importlib.machinery.all_suffixes()
        for directory in self.locations(package):
            for base, dirs, files in os.walk(directory):
                relative = os.path.relpath(base, directory)
                parts = [] if relative == "." else relative.split(os.sep)
                dirs[:] = sorted(
                    d
                    for d in dirs
                    if d not in _TEST_PARTS
                    and d.isidentifier()
                    and any(os.path.isfile(os.path.join(base, d, "__init__" + s)) for s in suffixes)
                )
                if parts and not (parts[0].startswith(stem)):
                    dirs[:] = []
                    continue
                for d in dirs:
                    if parts or d.startswith(stem):
                        yield ".".join([package, *parts, d])
                for filename in files:
                    suffix = next((s for s in suffixes if filename.endswith(s)), None)
                    if suffix is None:
                        continue
                    stem_name = filename[: -len(suffix)]
                    if stem_name == "__init__" or not stem_name.isidentifier():
                        continue
                    if suffix == ".so" and not is_extension_module(os.path.join(base, filename)):
                        continue  # a shared library next to the modules (libarrow_python.so)
                    if stem_name in _TEST_PARTS or (not parts and not stem_name.startswith(stem)):
                        continue
                    yield ".".join([package, *parts, stem_name])

    def _entry_points(
        self, group: str, targets: list[EntryTarget], origin: str, line: int, by: str | None
    ) -> None:
        record: dict[str, Any] | None = self.entry_points.get(group)
        if record is not None:
            for target in record["targets"]:
                if target["module"]:
                    self._record(target["module"], origin, line, "entry point", by, group=group)
            return
        record = {"group": group, "file": origin, "line": line, "targets": []}
        self.entry_points[group] = record
        for target in targets:
            module = target.module
            found = self.locate(module) is not None and MODULE_STRING.fullmatch(module)
            record["targets"].append(
                {
                    "distribution": target.distribution,
                    "name": target.name,
                    "value": target.value,
                    "module": module if found else None,
                }
            )
            if found and module.split(".")[0] not in self.stdlib:
                self._record(module, origin, line, "entry point", by, group=group)

    def found_in_app(self, value: str, origin: str, line: int) -> None:
        """A string of the app's own files: an entry-point group the app looks up, or a
        library it loads."""
        group = self.groups.get(value)
        if group is not None:
            self._entry_points(value, group, origin, line, by=None)

    def _extension(self, name: str, origin: str, package: str) -> None:
        """An extension module: the imports of its Cython sources when they are shipped next
        to it, else the module names among its C strings."""
        self.extensions += 1
        top = name.split(".", maxsplit=1)[0]
        stem = os.path.basename(origin).split(".")[0]
        source = os.path.join(os.path.dirname(origin), stem + ".pyx")
        if os.path.isfile(source):
            for path, findings in self._cython(source):
                for imported, line in self._imports(findings.imports, package):
                    self._from_extension(imported, path, line, top, name, exact=True)
            return
        strings = self._findings(origin, _binary_findings)
        for value, _line in strings.strings if strings else ():
            self._from_extension(value, origin, 0, top, name, exact=False)

    def _cython(self, source: str) -> Iterable[tuple[str, Findings]]:
        todo = [source]
        done: set[str] = set()
        while todo and len(done) < 200:
            path = todo.pop(0)
            if path in done:
                continue
            done.add(path)
            findings = self._findings(path, _cython_findings)
            if findings is None:
                continue
            for include, _line in findings.strings:
                todo.append(os.path.join(os.path.dirname(path), include))
            yield path, findings

    def _from_extension(
        self, value: str, origin: str, line: int, top: str, by: str, *, exact: bool
    ) -> None:
        """``value`` is named by an extension module of the package ``top``: a standard
        library module, a module of ``top``, or (from its sources, or as a whole top-level
        name) an installed module."""
        first = value.split(".", maxsplit=1)[0]
        if first in self.stdlib:
            if first in STDLIB_NEVER or (first.startswith("_") and not exact):
                return
            module = value if value == first or self.locate(value) is not None else first
            if first not in sys.builtin_module_names:
                self._record(module, origin, line, "extension", by)
            return
        if first != top and (not exact and (first != value or first not in self.top_level)):
            return
        if self._installed(value) is None or value == by:
            return
        self._record(value, origin, line, "extension", by)


def _cython_findings(data: bytes) -> Findings:
    """A Cython source's imports, and the files it includes (kept as its strings)."""
    imports, includes = cython_imports(data.decode("utf-8", "replace"))
    return Findings(imports=imports, strings=[[i, 0] for i in includes])


def _binary_findings(data: bytes) -> Findings:
    return Findings(strings=[[s, 0] for s in sorted(binary_strings(data))])
