"""Runs under the build interpreter (``python -I _probe_main.py ARGS_JSON``), not imported.

Prints JSON: its version, Nuitka's (and where Nuitka's ``__main__.py`` is), the installed
distributions (part of the compile cache key), its standard library's module names and its own
``sys.path``, where a ``-m`` module is, and whether the app's files parse and their module-level
imports are installed and not the app's own files named like standard library modules.
Standard library only: it runs under whichever Python the user builds with.
"""

import ast
import importlib.machinery
import importlib.util
import json
import os
import sys
from importlib.metadata import distributions, version
from typing import Any


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


main()
