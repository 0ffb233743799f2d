"""Modules an app names in strings, which Nuitka cannot follow: what the probe found, and the
Nuitka arguments that put them in the compiled program.

Frameworks import by name at run time: Django its settings module, INSTALLED_APPS, middleware,
database engine and URL module; uvicorn and gunicorn ``"module:app"``; Celery its task modules;
logging's ``dictConfig`` its handler classes. The probe reads the app's own files (the main
script and every module of the app's it imports or names), and keeps each string that names a
module found from the app's directory or the build environment: ``pkg.mod``, ``pkg.mod:attr``,
``pkg.mod.Class``, or a bare name of one of the app's own modules. Nothing is imported to find
them.

It then follows the installed packages the app reaches (``_probe_walk``): strings naming a
module of their own package, imports by a name built from a literal prefix, what extension
modules import, entry-point groups the code looks up (their targets are compiled in) and
libraries loaded by a literal name (they join the image's closure). Every installed
distribution gets a rule in a Nuitka package configuration that keeps its metadata when its
code is compiled in, so ``importlib.metadata`` answers as on the build machine.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cache import file_digest
from ..errors import CompileError

#: How a module came to be named, as ``-v`` says it.
_KINDS = {
    "string": "named in a string",
    "prefix": "imported by a computed name",
    "extension": "imported by an extension module",
    "entry point": "an entry point's target",
    "lazy": "imported lazily by its package",
    "stdlib": "a standard library module Nuitka carries without its imports, followed",
}


@dataclass(frozen=True, kw_only=True)
class NamedModule:
    module: str
    #: Where the string is: ``file, line N``.
    where: str
    #: ``string``, ``prefix`` (a computed import's), ``extension`` (an extension module's
    #: import) or ``entry point`` (a target of a group the code looks up).
    kind: str = "string"
    #: The installed modules whose code names it: it is compiled in when one of them is
    #: (``""``: the app's own files, which always are).
    by: tuple[str, ...] = ("",)


@dataclass(frozen=True, kw_only=True)
class ComputedImport:
    """An import by a name built from a literal prefix, and the modules under it."""

    prefix: str
    package: str
    #: What the names below the package start with (``plugin_`` in ``"pkg.plugin_" + x``).
    stem: str
    modules: int
    #: Whether they were compiled in (not when there are more than ``limit``).
    added: bool
    limit: int
    where: str


@dataclass(frozen=True, kw_only=True)
class EntryPointGroup:
    """An entry-point group the compiled code looks up, and the targets compiled in for it."""

    group: str
    where: str
    #: ``(distribution, name, "module:attr", module found)`` per entry point.
    targets: tuple[tuple[str, str, str, bool], ...] = ()


@dataclass(frozen=True, kw_only=True)
class NamedLibrary:
    """A shared library the code loads by a literal name (``find_library("magic")``,
    ``CDLL("libmagic.so.1")``)."""

    name: str
    where: str


@dataclass(frozen=True, kw_only=True)
class SourceReader:
    """An installed top-level package that reads its own source at run time (``why``), and so
    ships as its files too, as ``--as-files`` ships it."""

    package: str
    why: str
    where: str


@dataclass(frozen=True, kw_only=True)
class SourceAnalyser:
    """An installed top-level package the app reaches that reads the source of other modules
    at run time (``why``): the image has none for most of them; a warning at build time."""

    package: str
    why: str
    where: str


@dataclass(frozen=True, kw_only=True)
class NamedProgram:
    """A program the app's own code runs by a literal name (``subprocess.run(["git", …])``),
    or ``/bin/sh`` for a command run through a shell (``os.system``, ``shell=True``)."""

    program: str
    #: The call that runs it (``os.system``).
    call: str
    where: str


@dataclass(frozen=True, kw_only=True)
class Introspected:
    """A GObject introspection namespace the app reaches (``from gi.repository import GLib``,
    or one such a namespace depends on), which PyGObject makes in the program (``_probe_gi``):
    from the typelib pybin2img ships (``shipped``), or not at all, as on the build machine
    (``absent``)."""

    namespace: str
    handled: str
    typelib: str | None
    version: str | None
    #: Whether PyGObject has an overrides module for it (``gi.overrides.NAME``).
    overrides: bool
    #: Where the app or an installed module imports it; ``""``: a dependency of one that is.
    where: str

    @property
    def dest(self) -> str:
        """Where its typelib goes in the dist (the program's ``GI_TYPELIB_PATH``)."""
        return f"girepository/{(self.typelib or '').rpartition('/')[2]}"


@dataclass(frozen=True, kw_only=True)
class Distribution:
    """An installed distribution and the top-level modules it installs."""

    name: str
    version: str
    modules: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NamedModules:
    modules: tuple[NamedModule, ...] = ()
    #: The Django settings module (``DJANGO_SETTINGS_MODULE``), when the app uses Django.
    django_settings: str | None = None
    #: Modules and packages of the Django apps in INSTALLED_APPS that Django imports by name
    #: or finds by listing a directory (migrations, template tags, management commands).
    django_modules: tuple[str, ...] = ()
    django_packages: tuple[str, ...] = ()
    #: ``(host directory, dist-relative directory)`` of the apps' templates and static files.
    django_data: tuple[tuple[str, str], ...] = ()
    #: How many of the app's files were read.
    scanned: int = 0
    #: Why reading them stopped early, if it did (the compile goes on without the strings).
    error: str | None = None
    computed_imports: tuple[ComputedImport, ...] = ()
    #: ``(file, limit)``: files naming more of their package's modules than are taken.
    capped: tuple[tuple[str, int], ...] = ()
    entry_points: tuple[EntryPointGroup, ...] = ()
    libraries: tuple[NamedLibrary, ...] = ()
    sources: tuple[SourceReader, ...] = ()
    analysers: tuple[SourceAnalyser, ...] = ()
    #: Programs the app's own files run by name (never those of installed packages).
    programs: tuple[NamedProgram, ...] = ()
    #: The app's own regular packages that its files import or name: their data files ship
    #: (``--include-package-data``), as a project's and a package app's do.
    own_packages: tuple[str, ...] = ()
    #: Where the app's own code reads source (``inspect.getsource``, typeguard's
    #: ``@typechecked``: "file:line (call)"), and then the app's own files, each with where it
    #: ships in /app: code compiled to C has no source unless its file is there.
    source_reads: tuple[str, ...] = ()
    own_sources: tuple[tuple[str, str], ...] = ()
    #: Functions of the app's main script that it gives to joblib's ``delayed`` (name, where):
    #: joblib's process workers get them as code, which compiled functions have not got.
    worker_functions: tuple[tuple[str, str], ...] = ()
    #: Files and directories beside the app that its own code names (path relative to
    #: ``/app``, where it is here, whether a directory, where it is named): only
    #: ``--include-data`` ships them.
    app_paths: tuple[tuple[str, str, bool, str], ...] = ()
    #: Files and directories of the build machine outside the app that its own code names
    #: (an absolute path, a font by its file name): ``(path here, path in the image, whether a
    #: directory, the font's name or "", where it is named)``. The build warns of those the
    #: image lacks.
    host_paths: tuple[tuple[str, str, bool, str, str], ...] = ()
    #: A web framework's conventional directories beside the app (``templates``, ``static``)
    #: when it imports one: ``(dest, source)``, shipped.
    web_data: tuple[tuple[str, str], ...] = ()
    #: GObject introspection namespaces reached, and why PyGObject's repository could not be
    #: read when it could not.
    introspection: tuple[Introspected, ...] = ()
    introspection_error: str | None = None
    #: Every installed distribution: its metadata is kept when its code is compiled in.
    distributions: tuple[Distribution, ...] = ()
    #: Installed files read (and found in the probe's cache), extension modules among them,
    #: seconds, and why reading stopped early (``None``: it did not).
    installed_files: int = 0
    installed_cached: int = 0
    installed_extensions: int = 0
    installed_seconds: float = 0.0
    installed_stopped: str | None = None

    @classmethod
    def from_probe(cls, named: Mapping[str, Any] | None) -> NamedModules:
        """From the probe's ``named`` record; raise :class:`CompileError` when the app uses
        Django and its settings cannot be known at build time."""
        if not named:
            return cls()
        django = named.get("django") or {}
        if django.get("error"):
            raise CompileError(django["error"])
        installed = named.get("installed") or {}
        introspection = named.get("introspection") or {}
        return cls(
            modules=tuple(
                NamedModule(
                    module=m["module"],
                    where=_where(m),
                    kind=m.get("kind", "string"),
                    by=tuple(m.get("by") or ("",)),
                )
                for m in named.get("modules", ())
            ),
            capped=tuple((c["file"], int(c["limit"])) for c in named.get("capped", ())),
            django_settings=django.get("settings"),
            django_modules=tuple(sorted(set(django.get("modules", ())))),
            django_packages=tuple(sorted(set(django.get("packages", ())))),
            django_data=tuple(sorted({(src, dest) for src, dest in django.get("data", ())})),
            scanned=int(named.get("scanned", 0)),
            error=named.get("error")
            or (
                f"the installed packages could not be read: {named['installed_error']}"
                if named.get("installed_error")
                else None
            ),
            computed_imports=tuple(
                ComputedImport(
                    prefix=p["prefix"],
                    package=p["package"],
                    stem=p.get("stem", ""),
                    modules=int(p["modules"]),
                    added=bool(p["added"]),
                    limit=int(p.get("limit", 0)),
                    where=_where(p),
                )
                for p in named.get("prefixes", ())
            ),
            entry_points=tuple(
                EntryPointGroup(
                    group=e["group"],
                    where=_where(e),
                    targets=tuple(
                        (t["distribution"], t["name"], t["value"], bool(t["module"]))
                        for t in e["targets"]
                    ),
                )
                for e in named.get("entry_points", ())
            ),
            libraries=tuple(
                NamedLibrary(name=lib["library"], where=_where(lib))
                for lib in named.get("libraries", ())
            ),
            sources=tuple(
                SourceReader(package=r["package"], why=r["why"], where=_where(r))
                for r in named.get("sources", ())
            ),
            analysers=tuple(
                SourceAnalyser(package=a["package"], why=a["why"], where=_where(a))
                for a in named.get("analysers", ())
            ),
            own_packages=tuple(named.get("own_packages", ())),
            source_reads=tuple(
                f"{_where(r)} ({r['call']})"
                for r in (named.get("own_sources") or {}).get("reads", ())
            ),
            own_sources=tuple(
                (str(src), str(dest))
                for src, dest in (named.get("own_sources") or {}).get("files", ())
            ),
            worker_functions=tuple(
                (str(w["function"]), _where(w)) for w in named.get("worker_functions", ())
            ),
            app_paths=tuple(
                (str(p["path"]), str(p["source"]), bool(p["dir"]), _where(p))
                for p in named.get("app_paths", ())
            ),
            host_paths=tuple(
                (str(p["path"]), str(p["dest"]), bool(p["dir"]), str(p["font"] or ""), _where(p))
                for p in named.get("host_paths", ())
            ),
            web_data=tuple((str(d), str(s)) for d, s in named.get("web_data", ())),
            programs=tuple(
                NamedProgram(program=p["program"], call=p["call"], where=_where(p))
                for p in named.get("programs", ())
            ),
            introspection=tuple(
                Introspected(
                    namespace=str(n["namespace"]),
                    handled=str(n["handled"]),
                    typelib=n.get("typelib"),
                    version=n.get("version"),
                    overrides=bool(n.get("overrides")),
                    where=_where(n) if n.get("imported") else "",
                )
                for n in introspection.get("namespaces", ())
            ),
            introspection_error=introspection.get("error"),
            distributions=tuple(
                Distribution(name=d["name"], version=d["version"], modules=tuple(d["modules"]))
                for d in named.get("metadata", ())
            ),
            installed_files=int(installed.get("files", 0)),
            installed_cached=int(installed.get("cached", 0)),
            installed_extensions=int(installed.get("extensions", 0)),
            installed_seconds=float(installed.get("seconds", 0.0)),
            installed_stopped=installed.get("stopped"),
        )

    def nuitka_args(self) -> tuple[str, ...]:
        """Arguments that make Nuitka compile in what the app's own strings name (what
        installed modules name is in :meth:`package_configuration`), and ship the data files of
        the app's own packages."""
        args = [
            f"--include-module={m}" for m in sorted({n.module for n in self.modules if "" in n.by})
        ]
        args += [f"--include-package-data={p}" for p in self.own_packages]
        args += [f"--include-module={m}" for m in self.django_modules]
        args += [f"--include-package={p}" for p in self.django_packages]
        args += [f"--include-data-dir={src}={dest}" for src, dest in self.django_data]
        if self.django_settings:
            args.append(f"--module-parameter=django-settings-module={self.django_settings}")
        return tuple(args) + self._introspection_args()

    def _introspection_args(self) -> tuple[str, ...]:
        """With namespaces of ``gi.repository`` reached, Nuitka's gi plugin is off and the
        imports are left to PyGObject in the program: the typelibs ship in ``girepository/``
        and the overrides modules are compiled in (:data:`GI_TYPELIB_PATH` is set as the
        plugin sets it)."""
        if not self.introspection:
            return ()
        args = ["--disable-plugin=gi"]
        for n in self.introspection:
            if n.handled == "shipped" and n.typelib:
                args.append(f"--include-data-files={n.typelib}={n.dest}")
                if n.overrides:
                    args.append(f"--include-module=gi.overrides.{n.namespace}")
        return tuple(args)

    def package_configuration(self) -> str:
        """A Nuitka package configuration (``--user-package-configuration-file``): when an
        installed module is compiled in, so are the modules its code names (implicit
        imports), and each distribution's metadata (METADATA, entry_points.txt) is kept when
        one of its top-level modules is compiled in; and ``pkg_resources`` knows Nuitka's
        loader (:data:`_PKG_RESOURCES`) and ``importlib.metadata`` the distribution of an entry
        point Nuitka made at compile time (:data:`_ENTRY_POINT_DIST`): :data:`APPENDED`; and
        the subpackages of :data:`SUBPACKAGES`.

        Conditional on what Nuitka really compiles, so a module the probe reached but Nuitka
        never follows (left out by Nuitka's own configuration) adds nothing."""
        owners: dict[str, set[str]] = {}
        for dist in self.distributions:
            for module in dist.modules:
                owners.setdefault(module, set()).add(dist.name)
        depends: dict[str, set[str]] = {}
        for named in self.modules:
            for by in named.by:
                if by:
                    depends.setdefault(by, set()).add(named.module)
        lines = [
            "# Generated by pybin2img: the modules installed code names, the metadata of",
            "# every distribution whose code is compiled in, and code appended to modules.",
            "",
        ]
        for module in SUBPACKAGES:
            depends.setdefault(module, set()).add(".*")
        pre_import = {"gi": GI_TYPELIB_PATH} if self.introspection else {}
        for module in sorted(owners.keys() | depends.keys() | APPENDED.keys() | pre_import.keys()):
            entry: dict[str, list[dict[str, Any]]] = {}
            if module in owners:
                entry["data-files"] = [{"include-metadata": sorted(owners[module])}]
            if module in depends or module in pre_import:
                entry["implicit-imports"] = [
                    *([{"depends": sorted(depends[module])}] if module in depends else []),
                    *([{"pre-import-code": [pre_import[module]]}] if module in pre_import else []),
                ]
            if module in APPENDED:
                why, code = APPENDED[module]
                entry["anti-bloat"] = [{"description": why, "append_plain": code}]
            lines.append(f"- module-name: {_quote(module)} # checksum: {config_checksum(entry)}")
            for section, items in entry.items():
                lines.append(f"  {section}:")
                for item in items:
                    for number, (key, value) in enumerate(item.items()):
                        lead = "    - " if number == 0 else "      "
                        if isinstance(value, list):
                            lines.append(f"{lead}{key}:")
                            for v in value:
                                if "\n" in v:
                                    lines.append("        - |")
                                    lines += [f"          {line}" for line in v.splitlines()]
                                else:
                                    lines.append(f"        - {_quote(v)}")
                        elif "\n" in value:
                            lines.append(f"{lead}{key}: |")
                            lines += [f"        {line}" for line in value.splitlines()]
                        else:
                            lines.append(f"{lead}{key}: {_quote(value)}")
            lines.append("")
        return "\n".join(lines)

    def cache_key(self) -> tuple[str, ...]:
        """:meth:`nuitka_args` without host paths (the files themselves are hashed as the
        dist's sources), so that a dist is found again from another cache directory; the
        package configuration; and the typelibs shipped (a system package's, not a source)."""
        return (
            *(
                arg.rpartition("=")[2] if arg.startswith("--include-data-dir=") else arg
                for arg in self.nuitka_args()
            ),
            self.package_configuration(),
            *(
                f"{n.dest}={_digest(n.typelib)}"
                for n in self.introspection
                if n.handled == "shipped" and n.typelib
            ),
        )

    def describe(self) -> list[str]:
        """One line per thing added, for ``-v``."""
        lines = [
            f"{_KINDS.get(n.kind, n.kind)}: {n.module} ({n.where})"
            for n in self.modules
            if n.kind not in ("prefix", "entry point")
        ]
        for computed in self.computed_imports:
            if computed.added:
                lines.append(
                    f"imported by a computed name: {computed.package}.{computed.stem}* "
                    f"({computed.where}): {computed.modules} modules"
                )
            else:
                lines.append(
                    f"not added: {computed.package}.{computed.stem}* ({computed.where}), imported "
                    f"by a computed name, stands for {computed.modules} modules, more than "
                    f"{computed.limit}; --nuitka-arg=--include-module=NAME adds those the app "
                    "needs"
                )
        for group in self.entry_points:
            targets = ", ".join(
                f"{value}{'' if found else ' (not found)'}" for _, _, value, found in group.targets
            )
            lines.append(
                f"entry-point group {group.group} looked up ({group.where}): "
                f"{targets or 'no installed distribution defines it'}"
            )
        lines += [
            f"not added: {file} names more than {limit} modules of its package in strings "
            "(the first ones are added)"
            for file, limit in self.capped
        ]
        for n in self.introspection:
            where = f" ({n.where})" if n.where else " (a dependency)"
            made = {
                "shipped": f"made by PyGObject in the program from {n.dest}",
                "absent": "no typelib on this machine: its import fails in the image as here",
            }[n.handled]
            lines.append(f"gi.repository.{n.namespace}{where}: {made}")
        if self.introspection_error:
            lines.append(
                f"gi: PyGObject's repository could not be read: {self.introspection_error}"
            )
        if self.django_settings:
            lines.append(f"Django settings module: {self.django_settings}")
        lines += [f"Django app module: {m}" for m in self.django_modules]
        lines += [f"Django app package: {p}" for p in self.django_packages]
        lines += [f"Django app files: {dest}" for _, dest in self.django_data]
        if self.installed_files:
            kinds = Counter(n.kind for n in self.modules)
            lines.append(
                f"installed packages read: {self.installed_files} files "
                f"({self.installed_cached} from the probe's cache, "
                f"{self.installed_extensions} extension modules) in "
                f"{self.installed_seconds:.1f}s; modules added: "
                + (", ".join(f"{kinds[k]} {_KINDS[k]}" for k in _KINDS if kinds[k]) or "none")
                + (f", libraries loaded by name: {len(self.libraries)}" if self.libraries else "")
                + (f"; stopped early: {self.installed_stopped}" if self.installed_stopped else "")
            )
        return lines

    def as_metadata(self) -> dict[str, Any]:
        return {
            "modules": [
                {
                    "module": n.module,
                    "where": n.where,
                    "kind": n.kind,
                    "named_by": [b or None for b in n.by],
                }
                for n in self.modules
            ],
            "computed_imports": [
                {
                    "prefix": c.prefix,
                    "package": c.package,
                    "modules": c.modules,
                    "added": c.added,
                    "where": c.where,
                }
                for c in self.computed_imports
            ],
            "entry_points": [
                {
                    "group": g.group,
                    "where": g.where,
                    "targets": [
                        {"distribution": d, "name": n, "value": v, "found": f}
                        for d, n, v, f in g.targets
                    ],
                }
                for g in self.entry_points
            ],
            "libraries": [{"name": lib.name, "where": lib.where} for lib in self.libraries],
            "source_readers": [
                {"package": r.package, "why": r.why, "where": r.where} for r in self.sources
            ],
            "source_analysers": [
                {"package": a.package, "why": a.why, "where": a.where} for a in self.analysers
            ],
            "programs": [
                {"program": p.program, "call": p.call, "where": p.where} for p in self.programs
            ],
            "own_packages": list(self.own_packages),
            "worker_functions": [
                {"function": name, "where": where} for name, where in self.worker_functions
            ],
            "own_sources": {
                "reads": list(self.source_reads),
                "files": [dest for _src, dest in self.own_sources],
            },
            "app_paths": [
                {"path": path, "directory": is_dir, "where": where}
                for path, _source, is_dir, where in self.app_paths
            ],
            "host_paths": [
                {
                    "path": path,
                    "image_path": dest,
                    "directory": is_dir,
                    "font": font or None,
                    "where": where,
                }
                for path, dest, is_dir, font, where in self.host_paths
            ],
            "web_data": [dest for dest, _source in self.web_data],
            "introspection": {
                "namespaces": [
                    {
                        "namespace": n.namespace,
                        "version": n.version,
                        "handled": n.handled,
                        "typelib": n.dest if n.handled == "shipped" else None,
                        "where": n.where or None,
                    }
                    for n in self.introspection
                ],
            },
            "django": {
                "settings": self.django_settings,
                "modules": list(self.django_modules),
                "packages": list(self.django_packages),
                "data": [dest for _, dest in self.django_data],
            }
            if self.django_settings or self.django_modules or self.django_packages
            else None,
            "installed": {
                "files": self.installed_files,
                "cached": self.installed_cached,
                "extension_modules": self.installed_extensions,
                "seconds": self.installed_seconds,
                "stopped": self.installed_stopped,
            },
        }


#: pkg_resources gives a package's files through the provider registered for the class of its
#: ``__loader__``. Nuitka registers one for its loader's instances, the loader of compiled
#: modules; a module carried as bytecode (pybin2img's default for installed packages) has
#: Nuitka's loader class itself as ``__loader__``, whose class is ``type``, so it got the
#: provider that knows nothing: ``resource_exists()``, ``resource_isdir()`` and
#: ``resource_listdir()`` raised ``NotImplementedError`` where the interpreter answers. Its
#: files are on disk under /app, next to its ``__file__``: the provider for files on disk
#: (which Nuitka's is too) answers as the interpreter's does. Any other class as a loader
#: (the interpreter's built-in and frozen importers) keeps the one that knows nothing.
_PKG_RESOURCES_WHY = "pybin2img: files on disk for modules carried as bytecode"
_PKG_RESOURCES = (
    "def _pybin2img_register():\n"
    "    import sys\n"
    "    loaders = [type(f) for f in sys.meta_path if type(f).__name__ == 'nuitka_module_loader']\n"
    "    if not loaders:\n"
    "        return\n"
    "    loader = loaders[0]\n"
    "    def provider(module):\n"
    "        if getattr(module, '__loader__', None) is loader:\n"
    "            return DefaultProvider(module)\n"
    "        return NullProvider(module)\n"
    "    register_loader_type(type, provider)\n"
    "try:\n"
    "    _pybin2img_register()\n"
    "except NameError:\n"
    "    pass\n"
    "del _pybin2img_register\n"
)


#: ``importlib.metadata.entry_points()`` called with constant arguments in code compiled to C
#: is answered by Nuitka at compile time: the program makes each entry point from its name,
#: value and group alone, so its ``dist`` was ``None`` (``ep.dist.name`` failed), where the
#: interpreter's names the distribution that declares it. ``dist`` of an entry point made
#: without one is now that distribution, looked up once among the program's distributions as
#: ``entry_points()`` goes through them; one that none declares keeps ``None``, as do the
#: entry points ``entry_points()`` makes at run time (they have their own). The same for the
#: ``importlib_metadata`` backport, which Nuitka answers alike.
_ENTRY_POINT_DIST_WHY = "pybin2img: the distribution of entry points answered at compile time"
_ENTRY_POINT_DIST = (
    "class _pybin2img_entry_point_dist:\n"
    "    def __get__(self, entry_point, owner=None):\n"
    "        if entry_point is None:\n"
    "            return None\n"
    "        found = None\n"
    "        try:\n"
    "            for dist in _unique(distributions()):\n"
    "                if entry_point in dist.entry_points:\n"
    "                    found = dist\n"
    "                    break\n"
    "        except Exception:\n"
    "            found = None\n"
    "        vars(entry_point)['dist'] = found\n"
    "        return found\n"
    "try:\n"
    "    if _unique and distributions and 'dist' in vars(EntryPoint):\n"
    "        EntryPoint.dist = _pybin2img_entry_point_dist()\n"
    "except NameError:\n"
    "    pass\n"
    "del _pybin2img_entry_point_dist\n"
)

#: What Nuitka's gi plugin runs before ``gi`` is imported, where pybin2img turns the plugin off
#: (``_probe_gi``): the typelibs shipped in the dist are PyGObject's, unless the environment
#: names others.
GI_TYPELIB_PATH = """\
import os
if not os.getenv("GI_TYPELIB_PATH"):
    _pybin2img_info = globals().get("__uncompiled__", globals().get("__compiled__"))
    os.environ["GI_TYPELIB_PATH"] = os.path.join(_pybin2img_info.python_runtime_dir, "girepository")
"""

#: Code pybin2img's package configuration appends to a module (Nuitka's ``anti-bloat``
#: ``append_plain``), when the program has that module: why, and the code.
APPENDED = {
    "pkg_resources": (_PKG_RESOURCES_WHY, _PKG_RESOURCES),
    "importlib.metadata": (_ENTRY_POINT_DIST_WHY, _ENTRY_POINT_DIST),
    "importlib_metadata": (_ENTRY_POINT_DIST_WHY, _ENTRY_POINT_DIST),
}

#: Packages whose subpackages are all compiled in with them, where Nuitka's configuration
#: stops a level above: tzdata's zones are read as the resources of packages named
#: ``tzdata.zoneinfo.AREA[.SUBAREA]`` (``zoneinfo`` without the system's files, python-dateutil
#: 4), and Nuitka brings ``tzdata.zoneinfo``'s areas, not ``America.Argentina``.
SUBPACKAGES = frozenset({"tzdata.zoneinfo.America"})


def config_checksum(entry: Mapping[str, Any]) -> str:
    """The checksum Nuitka expects on a package configuration entry's ``module-name`` line
    (a CRC-32 over its values, in order): without it, Nuitka validates the file against its
    schema, fetching the jsonschema package to do so."""

    def update(value: object, crc: int) -> int:
        if isinstance(value, str):
            return zlib.crc32(value.encode(), crc)
        if isinstance(value, Mapping):
            crc = zlib.crc32(b"dict", crc)
            for item in value.items():
                crc = update(item, crc)
            return crc
        if isinstance(value, (tuple, list)):
            crc = zlib.crc32(b"tuple" if isinstance(value, tuple) else b"list", crc)
            for item in value:
                crc = update(item, crc)
            return crc
        raise TypeError(f"no checksum for {type(value).__name__}")

    return f"{update(entry, 0):x}"


def _where(record: Mapping[str, Any]) -> str:
    return f"{record['file']}, line {record['line']}" if record.get("line") else record["file"]


def _digest(path: str) -> str:
    try:
        return file_digest(Path(path))
    except OSError:
        return "unreadable"


def _quote(value: str) -> str:
    """A YAML single-quoted scalar."""
    return "'" + value.replace("'", "''") + "'"
