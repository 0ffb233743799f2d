"""The walk through the installed packages an app reaches, run by the probe under the build
interpreter: :class:`Walker` follows the installed modules the app imports and what the
scanners (``_probe_scan``) find in their files names, reading each file once (with a cache of
findings keyed by file) and bounded in files and seconds.

Standard library only, and nothing is imported from the packages read: the probe imports this
file and ``_probe_scan`` next to it as a package of their own (``_probe_main.py``), the tests
import them from pybin2img.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._probe_scan import (
    MODULE_STRING,
    Findings,
    binary_libraries,
    binary_strings,
    cython_imports,
    is_extension_module,
    prefix_package,
    scan_source,
    search_locations,
)

#: Imports (``from MODULE import NAME``) that make a package read its own source at run time,
#: and what for: typeguard's ``@typechecked`` parses the module it decorates in
#: (``inspect.getsource``) when the module is imported, and raises ``OSError`` where the source
#: is not there (inflect 7 decorates its engine's methods).
SOURCE_READERS: dict[tuple[str, str], str] = {
    ("typeguard", "typechecked"): "typeguard's @typechecked reads the source of what it decorates",
}

#: Packages that read the source files of other modules at run time, what for, and what the
#: program does instead: the image has no source for the standard library and compiled modules.
SOURCE_ANALYSERS: dict[str, str] = {
    "astroid": (
        "astroid (pylint's) infers from the source files of the modules it analyses, and the "
        "image has none for the standard library and compiled modules: what the interpreter "
        "infers from them (json.dumps, collections.OrderedDict) is Uninferable in the image"
    ),
}

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
#: Standard library modules every standalone program of Nuitka 4.3 carries (as a part of the
#: standard library it always has) without following their imports, some of which it leaves
#: out unless the program imports them: ``importlib.resources`` needs ``tempfile``, and
#: ``urllib.parse`` where nothing else has brought ``pathlib``'s. Code that reaches such a
#: module in a way Nuitka does not follow failed in the image: ``import importlib.resources``
#: after ``import importlib`` is dropped (the name is bound), and the program aborted at its
#: use (``Unexpected failure of hard import of 'importlib.resources'``). When code the app
#: reaches imports one, it is compiled in as if the app imported it (``--include-module``),
#: and Nuitka follows what it imports.
STDLIB_FOLLOWED = frozenset({"importlib.resources"})
#: Standard library modules that import an installed package by a name they make, when it is
#: installed: ``zoneinfo`` reads a zone from the resources of ``tzdata.zoneinfo.AREA`` where
#: the system has no zone files (an image built with ``--tzdata never``). With tzdata in the
#: app's requirements, ``ZoneInfo("Europe/Paris")`` found no zone in the image.
STDLIB_NAMES = {"zoneinfo": ("tzdata.zoneinfo",)}
#: Packages whose modules imported by a computed name are taken one for each name the app
#: really uses, not all: PyGObject loads ``gi.overrides.NAME`` for each introspection namespace
#: it makes, and the overrides of each namespace the app reaches are compiled in (``_probe_gi``).
#: Taking all of ``gi.overrides`` asked Nuitka for Gtk's (``gi.repository.Gtk``) on a machine
#: without Gtk's typelib, and its gi plugin stopped the build.
PLUGIN_PACKAGES = frozenset({"gi.overrides", "gi.repository"})
#: How many modules of its own package one file's strings may name (a registry such as
#: pygments' lexer mapping names hundreds); the rest are reported, not added.
MAX_NAMED_PER_FILE = 100
#: How many modules a computed import's prefix may stand for; more are reported, not added.
MAX_PREFIX_MODULES = 500
#: The same for a prefix that is a whole top-level package (``f"pyarrow.{name}"``): a
#: package's own optional parts, which the app rarely all needs.
MAX_PACKAGE_PREFIX_MODULES = 40


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
    ``top_level``: installed top-level module names; ``dependencies``: which of them each
    one's distribution requires (their modules its strings may name); ``cache``: findings by
    file (read and updated), ``max_files``/``budget``: the bounds.
    """

    roots: list[str]
    stdlib: frozenset[str]
    own: Callable[[Any], bool]
    groups: dict[str, list[EntryTarget]] = field(default_factory=dict)
    top_level: frozenset[str] = frozenset()
    #: Top-level module -> those of the distributions its distribution requires.
    dependencies: dict[str, frozenset[str]] = field(default_factory=dict)
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
    #: Top-level packages that read their own source at run time: package -> {"package",
    #: "file", "line", "why"} (:data:`SOURCE_READERS`).
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Top-level packages that read other modules' source at run time: package ->
    #: {"package", "file" (its ``__init__``), "why"} (:data:`SOURCE_ANALYSERS`).
    analysers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: GObject introspection namespaces imported (``from gi.repository import GLib``): name ->
    #: {"namespace", "file", "line", "by"} (``by``: the modules importing it, ``""`` for the
    #: app's own files); made by PyGObject at run time from a typelib, never a file of their own.
    introspection: dict[str, dict[str, Any]] = field(default_factory=dict)
    scanned: int = 0
    extensions: int = 0
    cached: int = 0
    stopped: str | None = None
    _queue: list[str] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _specs: dict[str, Any] = field(default_factory=dict)
    _locations: dict[str, list[str]] = field(default_factory=dict)
    #: Top-level packages found through an editable install's finder: installed, wherever
    #: the project is (inside the app's folder too).
    _editable: set[str] = field(default_factory=set)

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
                if spec is None:
                    spec = _editable_spec(name)
                    if spec is not None:
                        self._editable.add(name)
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
        return None if self.own(spec) and top not in self._editable else spec

    def _visit(self, name: str) -> None:
        if name in STDLIB_FOLLOWED:
            spec = self.locate(name)
            self._record(name, spec.origin if spec and spec.origin else name, 0, "stdlib", None)
        for named in STDLIB_NAMES.get(name, ()):
            if self._installed(named) is not None:
                self._record(named, f"named inside {name}", 0, "string", None)
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
        if name == top and top in SOURCE_ANALYSERS:
            self.analysers[top] = {"package": top, "file": origin, "why": SOURCE_ANALYSERS[top]}
        for level, module, names, line in findings.imports:
            why = next(
                (SOURCE_READERS[module, n] for n in names if (module, n) in SOURCE_READERS), None
            )
            if why and not level and module.split(".")[0] != top and top not in self.sources:
                self.sources[top] = {"package": top, "file": origin, "line": line, "why": why}
        for imported, line in self._imports(findings.imports, package):
            self.introspected(imported, origin, line, by=name)
            if self.locate(imported) is not None:
                self.add(imported)
        named = 0
        for value, line in findings.strings:
            group = self.groups.get(value)
            if group is not None:
                self._entry_points(value, group, origin, line, by=name)
            if not MODULE_STRING.fullmatch(value):
                continue
            first = value.split(".", maxsplit=1)[0].partition(":")[0]
            if value.startswith(top + "."):
                named += self._named(value, origin, line, by=name)
            elif first in self.dependencies.get(top, ()) and ("." in value or ":" in value):
                # A module of a distribution the package requires: python-dateutil 4 opens
                # tzdata's zone files from its "tzdata.zoneinfo.AREA" packages by name.
                named += self._named(value, origin, line, by=name)
            elif (
                package
                and ("." in value or ":" in value)
                and not first.startswith("__")
                and self._installed(f"{package}.{first}")
            ):
                # Relative to the file's own package: lml's plugin chains (pyexcel) are given
                # ``"output_to_memory.WriteSheetToMemory"`` with the package's ``__name__``.
                named += self._named(f"{package}.{value}", origin, line, by=name)
            if named > MAX_NAMED_PER_FILE:
                self.capped.append({"file": origin, "limit": MAX_NAMED_PER_FILE})
                break
        for prefix, relative_to, line in findings.prefixes:
            where = prefix_package(prefix, relative_to, name, is_package)
            if where is not None:
                self.prefix(prefix, where, origin, line, by=name)
        if is_package:
            # What the package imports lazily (its TYPE_CHECKING block names it for type
            # checkers): its own modules only.
            for imported, line in self._imports(findings.lazy, package):
                if imported.split(".")[0] == top and self._installed(imported) is not None:
                    self._record(imported, origin, line, "lazy", by=name)
        for value, line in findings.held:
            # A computed import's prefix held in a string of the package's own (a class
            # attribute, a table) that the call it is given to does not show; never a test
            # suite's.
            parts = value.split(".")
            if parts[0] == top and not _TEST_PARTS.intersection(parts):
                where = prefix_package(value, "", name, is_package)
                if where is not None:
                    self.prefix(value, where, origin, line, by=name)
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

    def app_imports(self, imports: Iterable[list[Any]], package: str, origin: str) -> None:
        """What the app's own file ``origin`` imports (read by the app scan): its introspection
        namespaces."""
        for imported, line in self._imports(imports, package):
            self.introspected(imported, origin, line, by="")

    def introspected(self, imported: str, origin: str, line: int, *, by: str) -> None:
        """Keep ``imported`` when it is a GObject introspection namespace (``gi.repository.X``),
        imported by the module ``by``."""
        parts = imported.split(".")
        if len(parts) == 3 and imported.startswith("gi.repository.") and parts[2].isidentifier():
            record = self.introspection.setdefault(
                parts[2], {"namespace": parts[2], "file": origin, "line": line, "by": []}
            )
            if by not in record["by"]:
                record["by"].append(by)

    def only_named(self, importers: Iterable[str]) -> bool:
        """Whether every one of ``importers`` is a module reached only because code names it
        (a string, a computed import's prefix, an entry point): compiled in only when the
        module naming it is, which Nuitka's own configuration may leave out (matplotlib's GUI
        backends)."""
        return all(by and by in self.modules for by in importers)

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
        if package.split(".")[0] in self.stdlib or package in PLUGIN_PACKAGES:
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
        to it, else the module names among its C strings; and the libraries it names to
        ``dlopen`` them."""
        self.extensions += 1
        top = name.split(".", maxsplit=1)[0]
        stem = os.path.basename(origin).split(".")[0]
        source = os.path.join(os.path.dirname(origin), stem + ".pyx")
        binary = self._findings(origin, _binary_findings)
        for library, _line in binary.libraries if binary else ():
            self.libraries.setdefault(library, {"library": library, "file": origin, "line": 0})
        if os.path.isfile(source):
            for path, findings in self._cython(source):
                for imported, line in self._imports(findings.imports, package):
                    self._from_extension(imported, path, line, top, name, exact=True)
            return
        for value, _line in binary.strings if binary else ():
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
        whole = first == value and (first in self.top_level or self._lone_extension(first))
        if first != top and not exact and not whole:
            return
        if self._installed(value) is None or value == by:
            return
        self._record(value, origin, line, "extension", by)

    def _lone_extension(self, name: str) -> bool:
        """``name`` is a top-level extension module of one file, whether a distribution's
        metadata lists it or not: Debian's ``_cffi_backend`` (python3-cffi-backend installs
        the file alone, without metadata), which every cffi-generated extension module imports
        from C by that name."""
        spec = self.locate(name)
        return (
            spec is not None
            and spec.submodule_search_locations is None
            and (spec.origin or "").endswith(_EXTENSION_SUFFIXES)
        )


#: The modules editable installs' finders are defined in: setuptools' (``__editable___pkg_1_0
#: _finder``, from its ``.pth``) and the ``editables`` library's (hatchling's exact mode).
_EDITABLE_FINDERS = ("__editable__", "_editable_impl_", "editables.")


def _editable_spec(name: str) -> Any:
    """The spec of the top-level package ``name`` where an editable install's finder on
    ``sys.meta_path`` maps it to the project's directory (not on the import path), or None.
    Such finders only look ``name`` up in their mapping."""
    for finder in sys.meta_path:
        module = getattr(finder, "__module__", None) or type(finder).__module__
        find = getattr(finder, "find_spec", None)
        if find is None or not str(module).startswith(_EDITABLE_FINDERS):
            continue
        spec = find(name, None)
        if spec is not None:
            return spec
    return None


def _cython_findings(data: bytes) -> Findings:
    """A Cython source's imports, and the files it includes (kept as its strings)."""
    imports, includes = cython_imports(data.decode("utf-8", "replace"))
    return Findings(imports=imports, strings=[[i, 0] for i in includes])


def _binary_findings(data: bytes) -> Findings:
    return Findings(
        strings=[[s, 0] for s in sorted(binary_strings(data))],
        libraries=[[name, 0] for name in binary_libraries(data)],
    )
