"""Runs under the build interpreter (``python -I _probe_main.py ARGS_JSON``), not imported.

Prints JSON: its version, Nuitka's, the installed distributions (part of the compile cache key),
where a ``-m`` module is, and whether the app's files parse and their module-level imports are
installed. Standard library only: it runs under whichever Python the user builds with.
"""

import ast
import importlib.util
import json
import sys
from importlib.metadata import distributions, version
from typing import Any


def main() -> None:
    args = json.loads(sys.argv[1])
    out: dict[str, Any] = {
        "python": ".".join(str(n) for n in sys.version_info[:3]),
        "executable": sys.executable,
    }
    try:
        out["nuitka"] = version("nuitka")
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        out["nuitka"] = None
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
    out["missing_import"] = _check(sources, out)
    print(json.dumps(out))


def _check(sources: list[str], out: dict[str, Any]) -> dict[str, Any] | None:
    """The first module-level import that cannot be found; records a syntax error in ``out``."""
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
                try:
                    found = importlib.util.find_spec(top) is not None
                except (ImportError, ValueError):
                    found = False
                if not found and top != "__main__":
                    return {"file": path, "line": node.lineno, "module": top}
    return None


main()
