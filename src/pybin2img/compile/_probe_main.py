"""Runs under the build interpreter (``python -I _probe_main.py ARGS_JSON``), not imported.

Prints JSON: its version, Nuitka's (and where Nuitka's ``__main__.py`` is), the installed
distributions (part of the compile cache key), its standard library's module names and its own
``sys.path``, where a ``-m`` module is, and whether the app's files parse and their module-level
imports are installed and not the app's own files named like standard library modules.
Then the modules the app names in strings (``"shop.settings"``, ``"app:app"``, INSTALLED_APPS,
middleware classes), found in the app's own files and those they import, which Nuitka cannot
follow; and for a Django app, its settings module and the packages and data of its apps
(``_probe_app.py`` reads the app's files). Then what the installed packages the app reaches name
(``_probe_scan.py`` scans their files, ``_probe_walk.py`` follows them: their own modules in
strings, computed imports, extension modules' imports, entry-point groups they look up,
libraries they load by name), and every installed distribution with its top-level modules,
whose metadata the program keeps when their code is compiled in.
Standard library only: it runs under whichever Python the user builds with, and imports the
three files next to it as a package of their own (:func:`_load`).
"""

import ast
import importlib
import importlib.machinery
import importlib.util
import json
import os
import re
import site
import sys
import sysconfig
import time
import types
from importlib.metadata import distributions, version
from typing import Any

#: The package the probe's other files (``_probe_scan.py``, ``_probe_walk.py``,
#: ``_probe_app.py``, next to this one) are imported as: ``-I`` keeps this file's directory
#: (pybin2img's own modules) off ``sys.path``, and pybin2img itself is not importable here.
_PACKAGE = "_pybin2img_probe"
#: The standard library's C accelerators that Nuitka's own configuration leaves out when the
#: interpreter has them as extension modules rather than built in ("avoid _json module usage"):
#: json, bisect, heapq and datetime would run their pure-Python fallbacks in the program (json
#: ten times slower). The probe names those the interpreter has as files; pybin2img includes them.
ACCELERATORS = ("_bisect", "_datetime", "_heapq", "_json")


def _load(name: str) -> Any:
    """The module ``name`` next to this file, imported as part of :data:`_PACKAGE` (so that
    its relative imports find the others)."""
    if _PACKAGE not in sys.modules:
        package = types.ModuleType(_PACKAGE)
        package.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules[_PACKAGE] = package
    return importlib.import_module(f"{_PACKAGE}.{name}")


scan = _load("_probe_scan")
walk = _load("_probe_walk")
app_files = _load("_probe_app")
gi = _load("_probe_gi")


def main() -> None:
    args = json.loads(sys.argv[1])
    out: dict[str, Any] = {
        "python": ".".join(str(n) for n in sys.version_info[:3]),
        "executable": sys.executable,
        "path": list(sys.path),
        "stdlib": sorted(sys.stdlib_module_names),
        "suffixes": importlib.machinery.all_suffixes(),
        "accelerators": [
            name
            for name in ACCELERATORS
            if name not in sys.builtin_module_names and importlib.util.find_spec(name) is not None
        ],
        # Where its static libpython archives are, and their name's version part ("3.13").
        "libpl": sysconfig.get_config_var("LIBPL"),
        "ldversion": sysconfig.get_config_var("LDVERSION"),
    }
    try:
        out["nuitka"] = version("nuitka")
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        out["nuitka"] = None
    out["nuitka_main"] = _nuitka_main()
    try:
        out["distributions"] = sorted(
            {(d.metadata["Name"] or "?").lower(): d.version for d in distributions()}.items()
        )
    except Exception:  # noqa: BLE001 - a broken METADATA file must not stop the build
        out["distributions"] = []
    sources = list(args["sources"])
    out["module_origin"] = None
    if args["module"]:
        sys.path.insert(0, args["cwd"])
        try:
            spec = importlib.util.find_spec(args["module"])
        except Exception:  # noqa: BLE001 - a package whose __init__ fails is "not found"
            spec = None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            out["module_origin"] = spec.origin
            sources.append(spec.origin)
    sys.path[:0] = args["path"]
    out["syntax_error"] = None
    out["stdlib_shadow"] = None
    out["missing_import"] = _check(sources, args["path"], out)
    if out["syntax_error"] is None and out["stdlib_shadow"] is None:
        try:
            out["named"] = _named_modules(sources, args)
        except Exception as exc:  # noqa: BLE001 - the compile goes on without the strings
            out["named"] = {"modules": [], "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out))


def _nuitka_main() -> str | None:
    """Nuitka's ``__main__.py``: run by its path, so that the current directory (the app's)
    never comes before the standard library in Nuitka's own ``sys.path``, as ``-m`` puts it."""
    try:
        spec = importlib.util.find_spec("nuitka")
    except (ImportError, ValueError):
        return None
    for directory in (spec and spec.submodule_search_locations) or ():
        main = os.path.join(directory, "__main__.py")
        if os.path.isfile(main):
            return main
    return None


def _check(sources: list[str], app_path: list[str], out: dict[str, Any]) -> dict[str, Any] | None:
    """The first module-level import that cannot be found; records a syntax error in ``out``,
    and an import of a standard library module's name that ``app_path`` (the app's own import
    directories) holds a file for: the compiled program gets the standard library's."""
    for path in sources:
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), path)
        except SyntaxError as e:
            out["syntax_error"] = {"file": e.filename or path, "line": e.lineno, "msg": e.msg}
            return None
        # Unconditional module-level imports only: those in try/if blocks may be optional.
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names:
                    own = importlib.machinery.PathFinder.find_spec(top, app_path)
                    if own is not None and own.origin not in (None, "built-in", "frozen"):
                        out["stdlib_shadow"] = {
                            "file": path,
                            "line": node.lineno,
                            "module": top,
                            "origin": own.origin,
                        }
                        return None
                    continue
                try:
                    found = importlib.util.find_spec(top) is not None
                except (ImportError, ValueError):
                    found = False
                if not found and top != "__main__":
                    return {
                        "file": path,
                        "line": node.lineno,
                        "module": top,
                        "user_site": _in_user_site(top),
                    }
    return None


def _in_user_site(top: str) -> str | None:
    """The user's site-packages (``pip install --user``) when it holds ``top``: the interpreter
    reads it for a script, but builds do not (the probe runs with ``-I``, Nuitka with ``-s``)."""
    try:
        user = site.getusersitepackages()
        found = importlib.machinery.PathFinder.find_spec(top, [user])
    except Exception:  # noqa: BLE001 - no user site to tell of
        return None
    return user if found is not None else None


#: A string that may name a module: ``pkg.mod``, ``pkg.mod.Class``, ``pkg.mod:attr``.
_MODULE_STRING = scan.MODULE_STRING
#: How many of the app's own files are read at most.
_MAX_FILES = 2000
#: Modules of installed packages whose strings name modules the package imports by name (its
#: default settings), read like the app's files when the app imports the package.
_LIBRARY_FILES = {
    "django": (
        "django.conf.global_settings",
        "django.utils.log",
        "django.db.backends.base.operations",
    ),
}
#: Modules that installed packages name in strings of their own, which no package configuration
#: of Nuitka's covers: added when the app imports (or runs with -m) the package.
_LIBRARY_STRINGS = {
    "gunicorn": (
        "gunicorn.app.wsgiapp",
        "gunicorn.glogging",
        "gunicorn.workers.sync",
        "gunicorn.workers.gthread",
    ),
}


def _named_modules(sources: list[str], args: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0915
    """Modules the app's files name in strings, following the app's own modules (imported, or
    named in strings) from ``sources``; plus what a Django app needs."""
    app_roots = [
        os.path.abspath(p) for p in args["path"] or ([args["cwd"]] if args["module"] else [])
    ]
    roots = app_roots + [p for p in sys.path if p not in app_roots]
    own = app_files.Own(app_roots)
    modules: dict[str, dict[str, Any]] = {}
    queue = list(dict.fromkeys(os.path.abspath(s) for s in sources))
    scanned: set[str] = set()
    imported: set[str] = {args["module"].split(".")[0]} if args["module"] else set()
    # Full names of what the app's files import, and what each file holds for the scanners.
    reached: set[str] = {args["module"]} if args["module"] else set()
    app_findings: list[tuple[str, Any]] = []
    programs: dict[tuple[str, str, int], dict[str, Any]] = {}
    # Where the app's own code reads source (inspect.getsource, typeguard's @typechecked).
    source_reads: list[dict[str, Any]] = []
    # Functions of the main script given to joblib's process workers (pickled as code): the
    # script's, not a package app's __init__ (its functions are pickled by their names).
    main_files = {os.path.abspath(s) for s in args["sources"]}
    worker_functions: list[dict[str, Any]] = []
    # The app's own string constants, for the files beside it that they name.
    own_strings: list[tuple[str, str, int]] = []
    django: dict[str, Any] = {
        "used": False,
        "settings": None,
        "settings_at": None,
        "configure": None,
        "apps": [],
    }

    def name_string(
        value: str, file: str, line: int, *, follow: bool = True, by_call: bool = False
    ) -> str | None:
        """``by_call``: the string is given to a call that imports it by that name, so a bare
        word names a module too."""
        if not _MODULE_STRING.fullmatch(value) or value.startswith("__"):
            return None
        name, colon, _attr = value.partition(":")
        found = app_files.locate(name, roots)
        if found is None and not colon and "." in name:
            parent, _, last = name.rpartition(".")
            # "pkg.mod.Class" or "pkg.mod.func": never "setup.py" or "json.dumps"
            if "." in parent or last[:1].isupper():
                found = app_files.locate(parent, roots)
                name = parent
        if found is None:
            return None
        is_own = own.holds(found)
        if not (colon or "." in name or is_own or by_call):
            return None  # a bare word ("report", "json") names a module only if it is the app's
        if found.origin and found.origin.endswith(".py") and is_own and follow:
            queue.append(found.origin)
        modules.setdefault(name, {"module": name, "file": file, "line": line})
        return name

    # The image's arguments and environment, and the configuration files and scripts shipped
    # with the app (--include-data: logging's dictConfig, plugin lists and worker settings
    # import what they name), before the app's files: an own module they name is read too.
    for value in args.get("strings", ()):
        name_string(value, "the image's arguments", 0)
    for value in args.get("env", {}).values():
        name_string(value, "the image's environment", 0)
    for path in args.get("config_files", ()):
        read = app_files.script_strings if path.endswith(".py") else app_files.config_names
        for value, line in read(path):
            name_string(value, path, line)
    while queue and len(scanned) < _MAX_FILES:
        path = queue.pop(0)
        if path in scanned:
            continue
        scanned.add(path)
        try:
            with open(path, "rb") as f:
                tree = ast.parse(f.read(), path)
        except (OSError, SyntaxError, ValueError):
            continue
        app_findings.append((path, scan.scan_tree(tree)))
        if path in main_files and isinstance(tree, ast.Module):
            for function, line in app_files.main_functions_to_workers(tree):
                worker_functions.append({"function": function, "file": path, "line": line})
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                read = app_files.source_read(node) if isinstance(node, ast.ImportFrom) else None
                if read is not None:
                    source_reads.append({"call": read, "file": path, "line": node.lineno})
                for name in app_files.import_names(node, path):
                    imported.add(name.split(".")[0])
                    reached.add(name)
                    found = app_files.locate(name, roots)
                    if found is not None and found.origin and own.holds(found):
                        queue.append(found.origin)
            elif isinstance(node, ast.Call):
                app_files.django_call(node, path, django)
                run = app_files.program_run(node)
                if run is not None:
                    record = {"program": run[0], "call": run[1], "file": path, "line": node.lineno}
                    programs[(run[0], path, node.lineno)] = record
                read = app_files.source_read(node)
                if read is not None:
                    source_reads.append({"call": read, "file": path, "line": node.lineno})
                resource = app_files.resource_module(node)
                if resource is not None:
                    name_string(resource, path, node.lineno, by_call=True)
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                app_files.django_assign(node, path, django)
        for value, line in app_files.string_constants(tree):
            name_string(value, path, line)
            own_strings.append((value, path, line))
    library_files = [
        name for package, names in _LIBRARY_FILES.items() if package in imported for name in names
    ]
    # A Django database engine names its SQL compiler in its operations module.
    library_files += [f"{m}.operations" for m in list(modules) if ".db.backends." in m]
    for name in library_files:
        spec = app_files.locate(name, roots)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        try:
            with open(spec.origin, "rb") as f:
                tree = ast.parse(f.read(), spec.origin)
        except (OSError, SyntaxError, ValueError):
            continue
        for value, line in app_files.string_constants(tree):
            if not re.search(r"\.tests?\b|\.testing\b", value):  # TEST_RUNNER: not shipped
                name_string(value, spec.origin, line, follow=False)
    for package, names in _LIBRARY_STRINGS.items():
        if package in imported:
            for name in names:
                if app_files.locate(name, roots) is not None:
                    where = f"named inside {package}"
                    modules.setdefault(name, {"module": name, "file": where, "line": 0})
    django["used"] = "django" in imported and app_files.locate("django", roots) is not None
    try:
        installed = _installed(args, roots, app_roots, own, reached | set(modules), app_findings)
    except Exception as exc:  # noqa: BLE001 - the compile goes on with the app's own strings
        installed = {"modules": {}, "installed_error": f"{type(exc).__name__}: {exc}"}
    for name, record in installed.pop("modules").items():
        modules.setdefault(name, record)
    result: dict[str, Any] = {"modules": sorted(modules.values(), key=lambda m: m["module"])}
    result["django"] = (
        app_files.django_needs(django, args, roots, own, modules) if django["used"] else None
    )
    result["scanned"] = len(scanned)
    result["programs"] = [programs[key] for key in sorted(programs)]
    # The app's own regular packages it imports or names: their data files ship with them.
    result["own_packages"] = sorted(
        top
        for top in imported | {m.split(".")[0].partition(":")[0] for m in modules}
        if (spec := app_files.locate(top, roots)) is not None
        and (spec.origin or "").endswith("__init__.py")
        and own.holds(spec)
    )
    # Where the app's own code reads source, its files ship beside the program, each where the
    # module compiled from it names its file: inspect.getsource and tracebacks find them.
    result["own_sources"] = {
        "reads": source_reads[:20],
        "files": sorted(
            [path, dest]
            for path in scanned
            if os.path.isfile(path)
            and (dest := app_files.shipped_as(path, app_roots or [os.path.dirname(path)]))
        )
        if source_reads
        else [],
    }
    result["worker_functions"] = worker_functions[:20]
    # Files and directories beside the app that its code names; and a web framework's
    # conventional directories, which ship.
    result["app_paths"] = app_files.app_paths(own_strings, app_roots)[:50]
    result["host_paths"] = app_files.host_paths(own_strings, app_roots)[:50]
    result["web_data"] = sorted(
        [name, os.path.join(root, name)]
        for name in app_files.WEB_DATA_DIRS
        if imported & app_files.WEB_FRAMEWORKS
        for root in app_roots[:1]
        if os.path.isdir(os.path.join(root, name))
        and not os.path.isfile(os.path.join(root, name, "__init__.py"))
    )
    result.update(installed)
    return result


def _installed(
    args: dict[str, Any],
    roots: list[str],
    app_roots: list[str],
    own: Any,
    reached: set[str],
    app_findings: list[tuple[str, Any]],
) -> dict[str, Any]:
    """What the installed packages the app reaches name (see ``_probe_scan``), and the
    installed distributions with their top-level modules (for their metadata)."""
    start = time.monotonic()
    dists = _distributions(roots)
    tools = _build_tools(dists)
    groups: dict[str, list[Any]] = {}
    for dist in dists:
        if dist["key"] in tools:
            continue
        for group, name, value in dist["entry_points"]:
            groups.setdefault(group, []).append(walk.EntryTarget(dist["name"], group, name, value))
    cache_path = args.get("scan_cache")
    cache = _read_cache(cache_path)
    before = len(cache)
    walker = walk.Walker(
        roots=roots,
        stdlib=frozenset(sys.stdlib_module_names),
        own=own.holds,
        groups=groups,
        top_level=frozenset(m for d in dists for m in d["modules"] if "." not in m),
        dependencies=_dependencies(dists),
        # The build's own tools are no part of the program unless the app imports them.
        skip=frozenset(m.split(".")[0] for d in dists if d["key"] in tools for m in d["modules"])
        - {name.split(".")[0] for name in reached},
        cache=cache,
    )
    for name in sorted(reached):
        walker.add(name)
    for path, findings in app_findings:
        module, is_package = app_files.module_name(path, app_roots)
        walker.app_imports(
            findings.imports, module if is_package else module.rpartition(".")[0], path
        )
        for value, line in findings.strings:
            walker.found_in_app(value, path, line)
        for prefix, relative_to, line in findings.prefixes:
            where = scan.prefix_package(prefix, relative_to, module, is_package)
            if where is not None:
                walker.prefix(prefix, where, path, line, by=None)
        for library, line in findings.libraries:
            walker.libraries.setdefault(library, {"library": library, "file": path, "line": line})
    walker.run()
    if len(cache) != before or walker.cached != walker.scanned:
        _write_cache(cache_path, cache)
    introspection = gi.namespaces(
        {
            name: {**record, "named_only": walker.only_named(record["by"])}
            for name, record in walker.introspection.items()
        },
        walker.locate,
    )
    for record in introspection["namespaces"]:
        if record["handled"] == "shipped":  # PyGObject opens them by the names the typelib holds
            for library in record["libraries"]:
                walker.libraries.setdefault(
                    library, {"library": library, "file": record["typelib"], "line": 0}
                )
    return {
        "modules": walker.modules,
        "prefixes": walker.prefixes,
        "capped": walker.capped,
        "entry_points": sorted(walker.entry_points.values(), key=lambda e: e["group"]),
        "libraries": sorted(walker.libraries.values(), key=lambda e: e["library"]),
        "sources": sorted(walker.sources.values(), key=lambda e: e["package"]),
        "analysers": sorted(walker.analysers.values(), key=lambda e: e["package"]),
        "introspection": introspection,
        "metadata": [
            {"name": d["name"], "version": d["version"], "modules": d["modules"]}
            for d in dists
            if d["modules"]
        ],
        "installed": {
            "files": walker.scanned,
            "cached": walker.cached,
            "extensions": walker.extensions,
            "seconds": round(time.monotonic() - start, 2),
            "stopped": walker.stopped,
        },
    }


def _distributions(roots: list[str]) -> list[dict[str, Any]]:
    """Every installed distribution (first on the path wins): name, version, entry points,
    requirements and the modules it installs at the top (two levels for a namespace)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for dist in distributions(path=roots):
        try:
            name = dist.metadata["Name"]
            if not name:
                continue
            key = re.sub(r"[-_.]+", "-", name).lower()
            if key in seen:
                continue
            seen.add(key)
            out.append(
                {
                    "name": name,
                    "key": key,
                    "version": dist.version,
                    "entry_points": [(ep.group, ep.name, ep.value) for ep in dist.entry_points],
                    "requires": list(dist.requires or ()),
                    "modules": _top_level(dist),
                }
            )
        except Exception:  # noqa: BLE001, S112 - one broken METADATA must not stop the scan
            continue
    return out


def _top_level(dist: Any) -> list[str]:
    """The modules a distribution installs at the top of the import path, from its RECORD
    (a namespace package's subpackages instead of it), else its top_level.txt."""
    suffixes = tuple(importlib.machinery.all_suffixes())
    found: set[str] = set()
    inits: set[str] = set()
    dirs: dict[str, set[str]] = {}
    # Only an installed RECORD says where files are (an egg-info's SOURCES.txt names them
    # in the source tree).
    for file in (dist.files or ()) if dist.read_text("RECORD") is not None else ():
        parts = file.parts
        if (
            not parts
            or parts[0] in ("..", "__pycache__")
            or parts[0].endswith((".dist-info", ".egg-info", ".data"))
        ):
            continue
        if len(parts) == 1:
            stem = next((parts[0][: -len(s)] for s in suffixes if parts[0].endswith(s)), None)
            if stem and stem.isidentifier():
                found.add(stem)
            continue
        if not parts[0].isidentifier():
            continue
        if parts[1].startswith("__init__."):
            inits.add(parts[0])
        below = (
            parts[1]
            if len(parts) > 2
            else next((parts[1][: -len(s)] for s in suffixes if parts[1].endswith(s)), "")
        )
        if below.isidentifier() and below != "__init__":
            dirs.setdefault(parts[0], set()).add(below)
    for top, below in dirs.items():
        if top in inits:
            found.add(top)
        else:  # a namespace package: its subpackages are the distribution's
            found.update(f"{top}.{name}" for name in below)
    found.update(inits)
    if not found:
        text = dist.read_text("top_level.txt") or ""
        found = {n.strip().replace("/", ".") for n in text.splitlines() if n.strip()}
    return sorted(n for n in found if all(p.isidentifier() for p in n.split(".")))


def _required(requires: list[str]) -> list[str]:
    """The keys of the distributions a distribution requires, not those of its extras."""
    keys = []
    for requirement in requires:
        if "extra" in requirement.partition(";")[2]:
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match:
            keys.append(re.sub(r"[-_.]+", "-", match.group(0)).lower())
    return keys


def _dependencies(dists: list[dict[str, Any]]) -> dict[str, frozenset[str]]:
    """Top-level module -> the top-level modules of the distributions its distribution
    requires (not for an extra)."""
    by_key = {d["key"]: d for d in dists}
    found: dict[str, set[str]] = {}
    for dist in dists:
        needed = {
            module.split(".")[0]
            for key in _required(dist["requires"])
            if key in by_key
            for module in by_key[key]["modules"]
        }
        for module in dist["modules"]:
            found.setdefault(module.split(".")[0], set()).update(needed)
    return {top: frozenset(modules) for top, modules in found.items() if modules}


def _build_tools(dists: list[dict[str, Any]]) -> set[str]:
    """Distributions of the build itself (Nuitka, pip, setuptools, wheel, pybin2img and what
    they require): their entry points are never an app's plugins."""
    by_key = {d["key"]: d for d in dists}
    todo = ["nuitka", "pip", "setuptools", "wheel", "pybin2img"]
    tools: set[str] = set()
    while todo:
        key = todo.pop()
        if key in tools or key not in by_key:
            continue
        tools.add(key)
        todo.extend(_required(by_key[key]["requires"]))
    return tools


def _read_cache(path: str | None) -> dict[str, Any]:
    """The scanners' findings by file from an earlier probe (nothing if unreadable)."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(path: str | None, cache: dict[str, Any]) -> None:
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(cache, f)
        os.replace(temporary, path)
    except OSError:
        pass  # a cache only saves time


if __name__ == "__main__":
    main()
