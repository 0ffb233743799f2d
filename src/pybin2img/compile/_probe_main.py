"""Runs under the build interpreter (``python -I _probe_main.py ARGS_JSON``), not imported.

Prints JSON: its version, Nuitka's (and where Nuitka's ``__main__.py`` is), the installed
distributions (part of the compile cache key), its standard library's module names and its own
``sys.path``, where a ``-m`` module is, and whether the app's files parse and their module-level
imports are installed and not the app's own files named like standard library modules.
Then the modules the app names in strings (``"shop.settings"``, ``"app:app"``, INSTALLED_APPS,
middleware classes), found in the app's own files and those they import, which Nuitka cannot
follow; and for a Django app, its settings module and the packages and data of its apps.
Then what the installed packages the app reaches name (``_probe_scan.py``: their own modules
in strings, computed imports, extension modules' imports, entry-point groups they look up,
libraries they load by name), and every installed distribution with its top-level modules,
whose metadata the program keeps when their code is compiled in.
Standard library only: it runs under whichever Python the user builds with.
"""

import ast
import importlib.machinery
import importlib.util
import json
import os
import re
import sys
import time
from importlib.metadata import distributions, version
from typing import Any


def _load_scanners() -> Any:
    """``_probe_scan.py``, next to this file, loaded by its path: ``-I`` keeps this file's
    directory (pybin2img's own modules) off ``sys.path``."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_probe_scan.py")
    spec = importlib.util.spec_from_file_location("_pybin2img_probe_scan", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


scan = _load_scanners()


def main() -> None:
    args = json.loads(sys.argv[1])
    out: dict[str, Any] = {
        "python": ".".join(str(n) for n in sys.version_info[:3]),
        "executable": sys.executable,
        "path": list(sys.path),
        "stdlib": sorted(sys.stdlib_module_names),
        "suffixes": importlib.machinery.all_suffixes(),
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
                    return {"file": path, "line": node.lineno, "module": top}
    return None


#: A string that may name a module: ``pkg.mod``, ``pkg.mod.Class``, ``pkg.mod:attr``.
_MODULE_STRING = scan.MODULE_STRING
#: How many of the app's own files are read at most.
_MAX_FILES = 2000
#: Submodules and subpackages of a Django app that Django imports by name or finds by listing.
_DJANGO_MODULES = ("apps", "models", "admin", "urls", "signals", "checks")
_DJANGO_PACKAGES = ("migrations", "templatetags", "management")
_DJANGO_DATA = ("templates", "static")
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
    own = _Own(app_roots)
    modules: dict[str, dict[str, Any]] = {}
    queue = list(dict.fromkeys(os.path.abspath(s) for s in sources))
    scanned: set[str] = set()
    imported: set[str] = {args["module"].split(".")[0]} if args["module"] else set()
    # Full names of what the app's files import, and what each file holds for the scanners.
    reached: set[str] = {args["module"]} if args["module"] else set()
    app_findings: list[tuple[str, Any]] = []
    django: dict[str, Any] = {
        "used": False,
        "settings": None,
        "settings_at": None,
        "configure": None,
        "apps": [],
    }

    def name_string(value: str, file: str, line: int, *, follow: bool = True) -> str | None:
        if not _MODULE_STRING.fullmatch(value) or value.startswith("__"):
            return None
        name, colon, _attr = value.partition(":")
        found = _locate(name, roots)
        if found is None and not colon and "." in name:
            parent, _, last = name.rpartition(".")
            # "pkg.mod.Class" or "pkg.mod.func": never "setup.py" or "json.dumps"
            if "." in parent or last[:1].isupper():
                found = _locate(parent, roots)
                name = parent
        if found is None:
            return None
        is_own = own.holds(found)
        if not (colon or "." in name or is_own):
            return None  # a bare word ("report", "json") names a module only if it is the app's
        if found.origin and found.origin.endswith(".py") and is_own and follow:
            queue.append(found.origin)
        modules.setdefault(name, {"module": name, "file": file, "line": line})
        return name

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
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for name in _imported(node, path):
                    imported.add(name.split(".")[0])
                    reached.add(name)
                    found = _locate(name, roots)
                    if found is not None and found.origin and own.holds(found):
                        queue.append(found.origin)
            elif isinstance(node, ast.Call):
                _django_call(node, path, django)
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                _django_assign(node, path, django)
        for value, line in _strings(tree):
            name_string(value, path, line)
    for value in args.get("strings", ()):
        name_string(value, "the image's arguments", 0)
    library_files = [
        name for package, names in _LIBRARY_FILES.items() if package in imported for name in names
    ]
    # A Django database engine names its SQL compiler in its operations module.
    library_files += [f"{m}.operations" for m in list(modules) if ".db.backends." in m]
    for name in library_files:
        spec = _locate(name, roots)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        try:
            with open(spec.origin, "rb") as f:
                tree = ast.parse(f.read(), spec.origin)
        except (OSError, SyntaxError, ValueError):
            continue
        for value, line in _strings(tree):
            if not re.search(r"\.tests?\b|\.testing\b", value):  # TEST_RUNNER: not shipped
                name_string(value, spec.origin, line, follow=False)
    for package, names in _LIBRARY_STRINGS.items():
        if package in imported:
            for name in names:
                if _locate(name, roots) is not None:
                    where = f"named inside {package}"
                    modules.setdefault(name, {"module": name, "file": where, "line": 0})
    django["used"] = "django" in imported and _locate("django", roots) is not None
    try:
        installed = _installed(args, roots, app_roots, own, reached | set(modules), app_findings)
    except Exception as exc:  # noqa: BLE001 - the compile goes on with the app's own strings
        installed = {"modules": {}, "installed_error": f"{type(exc).__name__}: {exc}"}
    for name, record in installed.pop("modules").items():
        modules.setdefault(name, record)
    result: dict[str, Any] = {"modules": sorted(modules.values(), key=lambda m: m["module"])}
    result["django"] = _django(django, args, roots, own, modules) if django["used"] else None
    result["scanned"] = len(scanned)
    result.update(installed)
    return result


def _installed(
    args: dict[str, Any],
    roots: list[str],
    app_roots: list[str],
    own: "_Own",
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
            groups.setdefault(group, []).append(scan.EntryTarget(dist["name"], group, name, value))
    cache_path = args.get("scan_cache")
    cache = _read_cache(cache_path)
    before = len(cache)
    walker = scan.Walker(
        roots=roots,
        stdlib=frozenset(sys.stdlib_module_names),
        own=own.holds,
        groups=groups,
        top_level=frozenset(m for d in dists for m in d["modules"] if "." not in m),
        # The build's own tools are no part of the program unless the app imports them.
        skip=frozenset(m.split(".")[0] for d in dists if d["key"] in tools for m in d["modules"])
        - {name.split(".")[0] for name in reached},
        cache=cache,
    )
    for name in sorted(reached):
        walker.add(name)
    for path, findings in app_findings:
        module, is_package = _module_name(path, app_roots)
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
    return {
        "modules": walker.modules,
        "prefixes": walker.prefixes,
        "capped": walker.capped,
        "entry_points": sorted(walker.entry_points.values(), key=lambda e: e["group"]),
        "libraries": sorted(walker.libraries.values(), key=lambda e: e["library"]),
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


def _module_name(path: str, app_roots: list[str]) -> tuple[str, bool]:
    """The module name an app file is imported as (``""`` outside the app's roots), and
    whether it is a package's ``__init__``."""
    for root in sorted(app_roots, key=len, reverse=True):
        relative = os.path.relpath(path, root)
        if relative.startswith(".."):
            continue
        parts = relative[: -len(".py")].split(os.sep) if relative.endswith(".py") else []
        if parts and parts[-1] == "__init__":
            return ".".join(parts[:-1]), True
        return ".".join(parts), False
    return "", False


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
        for requirement in by_key[key]["requires"]:
            if "extra" in requirement.partition(";")[2]:
                continue
            match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
            if match:
                todo.append(re.sub(r"[-_.]+", "-", match.group(0)).lower())
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


class _Own:
    """Whether a module is one of the app's own files (under its import roots, not installed)."""

    def __init__(self, app_roots: list[str]) -> None:
        self.roots = [r.rstrip(os.sep) + os.sep for r in app_roots]
        installed = {os.path.abspath(p).rstrip(os.sep) + os.sep for p in sys.path if p}
        self.installed = [p for p in installed if p not in self.roots]

    def holds(self, spec: Any) -> bool:
        locations = spec.submodule_search_locations
        # A namespace package's locations cannot be listed without importing its parent.
        first = locations[0] if isinstance(locations, list) and locations else None
        origin = spec.origin or first
        if not origin or not os.path.isabs(origin):
            return False
        origin = os.path.abspath(origin)
        # The nearest enclosing directory decides: a venv inside the app's folder is installed.
        root = max((len(r) for r in self.roots if origin.startswith(r)), default=0)
        installed = max((len(p) for p in self.installed if origin.startswith(p)), default=0)
        return root > 0 and root >= installed


def _locate(name: str, roots: list[str]) -> Any:
    """Where ``name`` is, found on the file system without importing anything."""
    parts = name.split(".")
    try:
        if len(parts) == 1 and name in sys.builtin_module_names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(parts[0], roots)
        where: list[str] = list(roots)
        for i in range(1, len(parts)):
            where = scan.search_locations(spec, ".".join(parts[:i]), where) if spec else []
            if not where:
                return None
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), where)
    except Exception:  # noqa: BLE001 - a package that cannot be found this way is not found
        return None
    return spec


def _imported(node: "ast.Import | ast.ImportFrom", path: str) -> list[str]:
    """Absolute names of what an import statement imports (relative ones resolved by file)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0:
        base = node.module or ""
    else:
        # The file's package, found by its directories' __init__.py files.
        parts: list[str] = []
        directory = os.path.dirname(path)
        while os.path.isfile(os.path.join(directory, "__init__.py")):
            parts.insert(0, os.path.basename(directory))
            directory = os.path.dirname(directory)
        if node.level - 1 > len(parts) or not parts:
            return []
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    if not base:
        return []
    return [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]


def _strings(tree: ast.AST) -> list[tuple[str, int]]:
    """String constants of a module, without docstrings and f-string parts."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                skip.add(id(body[0].value))
        elif isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and len(node.value) < 200
    ]


def _django_call(node: ast.Call, path: str, django: dict[str, Any]) -> None:
    """``os.environ.setdefault("DJANGO_SETTINGS_MODULE", "x")`` and ``settings.configure(...)``."""
    func = node.func
    if not isinstance(func, ast.Attribute):
        return
    if (
        func.attr == "setdefault"
        and len(node.args) == 2
        and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        and node.args[0].value == "DJANGO_SETTINGS_MODULE"  # type: ignore[attr-defined]
        and django["settings"] is None
    ):
        django["settings"] = node.args[1].value  # type: ignore[attr-defined]
        django["settings_at"] = f"{path}, line {node.lineno}"
    elif (
        func.attr == "configure"
        and isinstance(func.value, ast.Name)
        and func.value.id == "settings"
    ):
        django["configure"] = f"{path}, line {node.lineno}"
        for keyword in node.keywords:
            if keyword.arg == "INSTALLED_APPS":
                django["apps"] = _literal_strings(keyword.value)


def _django_assign(node: ast.Assign | ast.AugAssign, path: str, django: dict[str, Any]) -> None:
    """``os.environ["DJANGO_SETTINGS_MODULE"] = "x"`` and INSTALLED_APPS (``=`` or ``+=``)."""
    for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
        if (
            isinstance(target, ast.Subscript)
            and isinstance(target.slice, ast.Constant)
            and target.slice.value == "DJANGO_SETTINGS_MODULE"
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            django["settings"] = node.value.value
            django["settings_at"] = f"{path}, line {node.lineno}"
        elif isinstance(target, ast.Name) and target.id == "INSTALLED_APPS":
            django.setdefault("apps_by_file", {}).setdefault(path, []).extend(
                _literal_strings(node.value)
            )


def _literal_strings(node: ast.AST) -> list[str]:
    return [
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def _django(
    django: dict[str, Any],
    args: dict[str, Any],
    roots: list[str],
    own: _Own,
    modules: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """What a Django app needs: its settings module (for Nuitka's Django support), and for each
    installed app its modules Django imports by name, its migrations, template tags and
    management commands, and its templates and static files."""
    settings = args.get("env", {}).get("DJANGO_SETTINGS_MODULE") or django["settings"]
    out: dict[str, Any] = {
        "settings": settings,
        "settings_at": "--env" if args.get("env", {}).get("DJANGO_SETTINGS_MODULE") else None,
        "error": None,
        "packages": [],
        "modules": [],
        "data": [],
    }
    out["settings_at"] = out["settings_at"] or django["settings_at"]
    # Django's own templates (form widgets and errors, error pages) are found like apps' ones.
    apps: list[str] = ["django.forms", "django.views", *django["apps"]]
    if settings:
        spec = _locate(settings, roots)
        if spec is None or not spec.origin:
            out["error"] = (
                f"the Django settings module {settings!r} (set at {out['settings_at']}) is not "
                f"found from the app's directory or the installed packages"
            )
            return out
        # The settings module's INSTALLED_APPS, and those of the app's files it builds on
        # ("from .base import *"): every INSTALLED_APPS of the app's own files.
        for found in django.get("apps_by_file", {}).values():
            apps.extend(found)
    elif not django["configure"]:
        out["error"] = (
            "the app uses Django, but its settings are not known at build time: set "
            "DJANGO_SETTINGS_MODULE (os.environ.setdefault in the app, or --env "
            "DJANGO_SETTINGS_MODULE=mysite.settings) or call settings.configure() in the app"
        )
        return out
    for name in list(modules):
        # A database engine ("django.db.backends.sqlite3"): Django imports its .base
        if ".backends." in name and _locate(f"{name}.base", roots) is not None:
            out["modules"].append(f"{name}.base")
    for entry in dict.fromkeys(apps):
        if not _MODULE_STRING.fullmatch(entry):
            continue
        package = entry
        spec = _locate(package, roots)
        while package and (spec is None or not isinstance(spec.submodule_search_locations, list)):
            package = package.rpartition(".")[0]  # "shop.apps.ShopConfig" -> "shop"
            spec = _locate(package, roots) if package else None
        if spec is None or not spec.submodule_search_locations:
            continue
        location = spec.submodule_search_locations[0]
        if own.holds(spec):
            out["packages"].append(package)
        else:
            for sub in _DJANGO_MODULES:
                if _locate(f"{package}.{sub}", roots) is not None:
                    out["modules"].append(f"{package}.{sub}")
            for sub in _DJANGO_PACKAGES:
                if _locate(f"{package}.{sub}", roots) is not None:
                    out["packages"].append(f"{package}.{sub}")
        for data in _DJANGO_DATA:
            if os.path.isdir(os.path.join(location, data)):
                out["data"].append(
                    [os.path.join(location, data), "/".join([*package.split("."), data])]
                )
    return out


if __name__ == "__main__":
    main()
