"""The app's own files, read by the probe under the build interpreter: which modules are the
app's (:class:`Own`), where a module is without importing it (:func:`locate`), what an import
statement imports and a file's string constants, and what a Django app needs (its settings
module, and its installed apps' modules, packages and data).

Standard library only: the probe imports this file next to it as part of a package of their
own (``_probe_main.py``).
"""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
import sys
from typing import Any

from ._probe_scan import MODULE_STRING, not_strings, search_locations

#: Submodules and subpackages of a Django app that Django imports by name or finds by listing.
_DJANGO_MODULES = ("apps", "models", "admin", "urls", "signals", "checks")
_DJANGO_PACKAGES = ("migrations", "templatetags", "management")
_DJANGO_DATA = ("templates", "static")


def module_name(path: str, app_roots: list[str]) -> tuple[str, bool]:
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


class Own:
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


def locate(name: str, roots: list[str]) -> Any:
    """Where ``name`` is, found on the file system without importing anything."""
    parts = name.split(".")
    try:
        if len(parts) == 1 and name in sys.builtin_module_names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(parts[0], roots)
        where: list[str] = list(roots)
        for i in range(1, len(parts)):
            where = search_locations(spec, ".".join(parts[:i]), where) if spec else []
            if not where:
                return None
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), where)
    except Exception:  # noqa: BLE001 - a package that cannot be found this way is not found
        return None
    return spec


def import_names(node: ast.Import | ast.ImportFrom, path: str) -> list[str]:
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


def string_constants(tree: ast.AST) -> list[tuple[str, int]]:
    """String constants of a module, without docstrings and f-string parts."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        not_strings(node, skip)
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in skip
        and len(node.value) < 200
    ]


#: Directories beside the app that web frameworks read by convention (Flask's default
#: ``template_folder`` and ``static_folder``; Starlette's and FastAPI's ``Jinja2Templates`` and
#: ``StaticFiles`` as their documentation names them): shipped when the app imports one.
WEB_DATA_DIRS = ("templates", "static")
WEB_FRAMEWORKS = frozenset({"flask", "fastapi", "starlette"})


def app_paths(strings: list[tuple[str, str, int]], app_roots: list[str]) -> list[dict[str, Any]]:
    """The files and directories beside the app (in one of ``app_roots``) that its own code
    names in a string, ``(value, file, line)``, as relative paths: ``"logging.json"``,
    ``"templates"``, ``"conf/app.toml"``. Not code (``.py`` files, packages), not the roots
    themselves."""
    found: dict[str, dict[str, Any]] = {}
    for value, file, line in strings:
        path = value.strip().rstrip("/")
        while path.startswith("./"):
            path = path[2:]
        if (
            not path
            or path in found
            or len(path) > 200
            or path.startswith(("/", "~"))
            or "://" in path
            or "\n" in path
            or "\0" in path
            or {".", ".."} & set(path.split("/"))
            or path.endswith((".py", ".pyc", ".pyi", ".so"))
        ):
            continue
        for root in app_roots:
            full = os.path.join(root, path)
            if not os.path.lexists(full) or os.path.isfile(os.path.join(full, "__init__.py")):
                continue
            found[path] = {
                "path": path,
                "source": full,
                "dir": os.path.isdir(full),
                "file": file,
                "line": line,
            }
            break
    return sorted(found.values(), key=lambda p: p["path"])


#: Trees of the build machine that hold no file an app would take along: the kernel's and the
#: runtime's state, temporary files, and the image's own /app. And the files every engine
#: gives a container of its own.
_NOT_HOST_FILES = ("/proc", "/sys", "/dev", "/run", "/var/run", "/tmp", "/var/tmp", "/app")
_ENGINE_FILES = frozenset({"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"})
#: Font files a string may name by their file name alone, and where Pillow's
#: ``ImageFont.truetype`` then looks for one, in its order (the ``fonts`` directories of
#: ``XDG_DATA_HOME`` and ``XDG_DATA_DIRS``' defaults, walked), which the image has only with
#: what is added to it. A font of the user's own is given the image's system directory.
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
FONT_DIRS = ("~/.local/share/fonts", "/usr/local/share/fonts", "/usr/share/fonts")
#: At most so many font files are listed.
FONTS_LISTED = 20000


def host_paths(strings: list[tuple[str, str, int]], app_roots: list[str]) -> list[dict[str, Any]]:
    """Files and directories of the build machine, outside the app, that the app's own code
    names in a string, ``(value, file, line)``: an absolute path that exists here
    (``"/usr/share/dict/words"``; two parts at least, as ``"/media"`` is more often a URL's
    path than a directory), or a font by its file name (``"DejaVuSans.ttf"``) that is not
    beside the app but among the machine's fonts, where Pillow finds it. The build checks them
    against the image."""
    found: dict[str, dict[str, Any]] = {}
    fonts: dict[str, tuple[str, str]] | None = None
    for value, file, line in strings:
        text = value.strip()
        if not text or len(text) > 300 or "\n" in text or "\0" in text:
            continue
        if text.startswith("/"):
            path = dest = os.path.normpath(text)
            font = None
            if (
                path.count("/") < 2
                or path in _ENGINE_FILES
                or any(path.startswith(p + "/") for p in _NOT_HOST_FILES)
                or any(path == r or path.startswith(r.rstrip("/") + "/") for r in app_roots)
                or not os.path.exists(path)
            ):
                continue
        elif "/" not in text and text.lower().endswith(FONT_SUFFIXES):
            if any(os.path.exists(os.path.join(root, text)) for root in app_roots):
                continue
            fonts = _fonts() if fonts is None else fonts
            (path, dest), font = fonts.get(text, ("", "")), text
            if not path:
                continue
        else:
            continue
        if path not in found:
            found[path] = {
                "path": path,
                "dest": dest,
                "dir": os.path.isdir(path),
                "font": font,
                "file": file,
                "line": line,
            }
    return sorted(found.values(), key=lambda p: str(p["path"]))


def _fonts() -> dict[str, tuple[str, str]]:
    """The machine's font files by file name: where the first of each name is in Pillow's
    walk, and where it goes in the image (there, or in ``/usr/share/fonts`` for a user's)."""
    fonts: dict[str, tuple[str, str]] = {}
    listed = 0
    for directory in FONT_DIRS:
        top = os.path.expanduser(directory)
        for dirpath, _dirnames, filenames in os.walk(top):
            for name in filenames:
                path = os.path.join(dirpath, name)
                dest = path if directory.startswith("/") else os.path.join(FONT_DIRS[-1], name)
                fonts.setdefault(name, (path, dest))
            listed += len(filenames)
            if listed > FONTS_LISTED:
                return fonts
    return fonts


#: A name in a configuration file that may be a module's: ``pkg.mod.Class``, ``pkg.mod:attr``.
_CONFIG_NAME = re.compile(r"(?<![\w.])[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?")
#: Larger configuration files are not read for module names.
CONFIG_MAX_BYTES = 1 << 20


def config_names(path: str) -> list[tuple[str, int]]:
    """The dotted names (``pythonjsonlogger.json.JsonFormatter``, ``app.workers:Worker``) of
    a configuration file the app ships, with their lines: what logging's ``dictConfig``, a
    plugin list or a worker setting imports by name at run time. Not a binary file, nor one
    over :data:`CONFIG_MAX_BYTES`."""
    try:
        with open(path, "rb") as f:
            data = f.read(CONFIG_MAX_BYTES + 1)
    except OSError:
        return []
    if len(data) > CONFIG_MAX_BYTES or b"\0" in data:
        return []
    found = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        for token in _CONFIG_NAME.findall(line):
            name = token.rstrip(".")  # the end of a sentence in a comment
            if ("." in name or ":" in name) and MODULE_STRING.fullmatch(name):
                found.append((name, number))
    return found


def script_strings(path: str) -> list[tuple[str, int]]:
    """The string constants of a ``.py`` file the app ships as data (``gunicorn.conf.py``'s
    ``worker_class``, a script loaded by path), with their lines."""
    try:
        with open(path, "rb") as f:
            return string_constants(ast.parse(f.read(), path))
    except (OSError, SyntaxError, ValueError):
        return []


#: ``pkg_resources`` functions whose first argument is a module's name (``"certifi"``): the
#: module is imported by that name when called.
_RESOURCE_CALLS = frozenset(
    {
        "resource_exists",
        "resource_isdir",
        "resource_listdir",
        "resource_string",
        "resource_stream",
        "resource_filename",
        "get_provider",
    }
)


#: Calls that run another program, by ``(module, function)``: whether they always run it through
#: ``/bin/sh``. One the image does not have is a build warning (``plan.missing_programs``).
_RUNS = {
    ("os", "system"): True,
    ("os", "popen"): True,
    ("subprocess", "getoutput"): True,
    ("subprocess", "getstatusoutput"): True,
    ("asyncio", "create_subprocess_shell"): True,
    ("subprocess", "run"): False,
    ("subprocess", "call"): False,
    ("subprocess", "check_call"): False,
    ("subprocess", "check_output"): False,
    ("subprocess", "Popen"): False,
    ("asyncio", "create_subprocess_exec"): False,
    ("os", "execlp"): False,
    ("os", "execlpe"): False,
    ("os", "execvp"): False,
    ("os", "execvpe"): False,
}


def program_run(node: ast.Call) -> tuple[str, str] | None:
    """``(program, call)`` when ``node`` runs a program the code names: ``/bin/sh`` for a
    shell (``os.system(…)``, ``shell=True``), else the literal first word of the command
    (``subprocess.run(["git", …])``: ``git``), or ``sys.executable``; ``None`` for any other
    call, or a program only known at run time."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    key = (func.value.id, func.attr)
    if key not in _RUNS:
        return None
    call = f"{key[0]}.{key[1]}"
    shell = any(
        kw.arg == "shell" and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in node.keywords
    )
    if _RUNS[key] or shell:
        return "/bin/sh", call
    if not node.args:
        return None
    first = node.args[0]
    if isinstance(first, (ast.List, ast.Tuple)):
        first = first.elts[0] if first.elts else first
    if (
        isinstance(first, ast.Attribute)
        and isinstance(first.value, ast.Name)
        and (first.value.id, first.attr) == ("sys", "executable")
    ):
        return "sys.executable", call
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        program = first.value
        if program and not program.split()[1:] and not program.startswith("-"):
            return program, call
    return None


#: Calls and imports by which code reads the source of what it is given (``inspect``'s, and
#: typeguard's ``@typechecked``, which parses the module it decorates): code compiled to C has
#: no source in the image unless its file is shipped.
_SOURCE_CALLS = frozenset(
    {("inspect", n) for n in ("getsource", "getsourcelines", "findsource", "getcomments")}
    | {("typeguard", "typechecked")}
)


def source_read(node: ast.Call | ast.ImportFrom) -> str | None:
    """``module.name`` when ``node`` calls one of :data:`_SOURCE_CALLS` by its module's name
    (``inspect.getsource(f)``) or imports it by name (``from inspect import getsource``)."""
    if isinstance(node, ast.ImportFrom):
        for alias in node.names:
            if not node.level and (node.module, alias.name) in _SOURCE_CALLS:
                return f"{node.module}.{alias.name}"
        return None
    func = node.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) in _SOURCE_CALLS
    ):
        return f"{func.value.id}.{func.attr}"
    return None


#: Packages whose ``delayed`` hands a function to joblib's process workers (sklearn wraps it).
_DELAYED_FROM = frozenset({"joblib", "sklearn"})


def _called(node: ast.Call) -> str | None:
    """The name a call calls (``f(...)``, ``module.f(...)``)."""
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _in_processes(parallel: ast.Call) -> bool:
    """Whether ``Parallel(...)`` runs its tasks in joblib's process workers, as far as its
    arguments say: not with ``prefer="threads"``, a thread, multiprocessing or sequential
    backend, or ``n_jobs=1``."""
    values = {kw.arg: kw.value for kw in parallel.keywords}
    if parallel.args:
        values.setdefault("n_jobs", parallel.args[0])
    said = {k: v.value for k, v in values.items() if isinstance(v, ast.Constant)}
    return not (
        said.get("prefer") == "threads"
        or said.get("backend") in ("threading", "multiprocessing", "sequential")
        or said.get("n_jobs") == 1
    )


def main_functions_to_workers(tree: ast.Module) -> list[tuple[str, int]]:
    """The functions of the app's main script (its top-level ``def``s, and lambdas) that it
    gives to joblib's ``delayed``, with the line: joblib's default process backend (loky)
    pickles them by value, as code, which a function compiled to C has not got."""
    imported = {
        name.split(".")[0]
        for n in ast.walk(tree)
        for name in (
            [n.module or ""]
            if isinstance(n, ast.ImportFrom)
            else [a.name for a in n.names]
            if isinstance(n, ast.Import)
            else []
        )
    }
    uses_joblib = bool(imported & _DELAYED_FROM)
    if not uses_joblib:
        return []
    defs = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    # What a Parallel(...) that says it runs in threads, or in one process, is called with.
    elsewhere = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Call)
        and _called(node.func) == "Parallel"
        and not _in_processes(node.func)
        for given in node.args
        for inner in ast.walk(given)
    }
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args) or id(node) in elsewhere:
            continue
        if _called(node) != "delayed":
            continue
        given = node.args[0]
        if isinstance(given, ast.Name) and given.id in defs:
            found.append((given.id, node.lineno))
        elif isinstance(given, ast.Lambda):
            found.append(("a lambda", node.lineno))
    return found


def shipped_as(path: str, app_roots: list[str]) -> str | None:
    """Where the app's file ``path`` is in the dist (relative to it), as Nuitka names the file
    of the module compiled from it: its path under the app root that holds it."""
    for root in sorted(app_roots, key=len, reverse=True):
        relative = os.path.relpath(path, root)
        if not relative.startswith("..") and relative.endswith(".py"):
            return relative.replace(os.sep, "/")
    return None


def resource_module(node: ast.Call) -> str | None:
    """The module a ``pkg_resources.resource_*("pkg", ...)`` call names by its first argument
    (imported by that name, a bare top-level name included), else ``None``."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _RESOURCE_CALLS or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        value: str = first.value
        return value if value and all(p.isidentifier() for p in value.split(".")) else None
    return None


def django_call(node: ast.Call, path: str, django: dict[str, Any]) -> None:
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


def django_assign(node: ast.Assign | ast.AugAssign, path: str, django: dict[str, Any]) -> None:
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


def django_needs(
    django: dict[str, Any],
    args: dict[str, Any],
    roots: list[str],
    own: Own,
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
        spec = locate(settings, roots)
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
        if ".backends." in name and locate(f"{name}.base", roots) is not None:
            out["modules"].append(f"{name}.base")
    for entry in dict.fromkeys(apps):
        if not MODULE_STRING.fullmatch(entry):
            continue
        package = entry
        spec = locate(package, roots)
        while package and (spec is None or not isinstance(spec.submodule_search_locations, list)):
            package = package.rpartition(".")[0]  # "shop.apps.ShopConfig" -> "shop"
            spec = locate(package, roots) if package else None
        if spec is None or not spec.submodule_search_locations:
            continue
        location = spec.submodule_search_locations[0]
        if own.holds(spec):
            out["packages"].append(package)
        else:
            for sub in _DJANGO_MODULES:
                if locate(f"{package}.{sub}", roots) is not None:
                    out["modules"].append(f"{package}.{sub}")
            for sub in _DJANGO_PACKAGES:
                if locate(f"{package}.{sub}", roots) is not None:
                    out["packages"].append(f"{package}.{sub}")
        for data in _DJANGO_DATA:
            if os.path.isdir(os.path.join(location, data)):
                out["data"].append(
                    [os.path.join(location, data), "/".join([*package.split("."), data])]
                )
    return out
