"""GObject introspection namespaces the app imports, as the build interpreter has them.

``from gi.repository import GLib`` is made at run time by PyGObject from a typelib (a file in
``girepository-1.0``), never a module file. Nuitka's gi plugin compiles each such import into a
module of its own, with the namespace's typelib and those of the namespaces it depends on; and
it stops the whole build ("Plugin issue") when the build machine cannot load one: a namespace
without its typelib (Gtk on a server, where the app's ``except ImportError`` handles its
absence), and for GLib and Gio the platform namespaces GLibUnix and GioUnix, which GLib has
only since 2.80 (Debian 12 has 2.74).

So: when Nuitka's plugin can make every namespace reached (those imported and those they depend
on), it does (``"plugin": "nuitka"``). When it cannot, pybin2img does what the plugin does,
the way PyGObject does it under the interpreter (``"plugin": "pybin2img"``): the imports are
left to PyGObject in the program, which makes each namespace from the typelib pybin2img ships
(``"shipped"``; its overrides module is compiled in), or fails to, as on this machine, where
there is none (``"absent"``). Either way the libraries each typelib names (PyGObject opens them
by those names) join the image.

Standard library only (:mod:`_probe_main`): the typelibs are found by the build interpreter in
a process of its own, so that the probe never loads PyGObject, and read here as files.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from collections.abc import Callable
from typing import Any

#: The platform namespaces Nuitka's gi plugin (4.3) asks for with GLib and Gio.
COMPANIONS = {"GLib": "GLibUnix", "Gio": "GioUnix"}

_QUERY = """
import json, sys
try:
    import gi
    repository = gi.Repository.get_default()
except Exception as e:
    print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
    raise SystemExit(0)

def loads(namespace):
    try:
        repository.require(namespace, None)
        return True
    except Exception:
        return False

out = {}
todo = json.loads(sys.argv[1])
while todo:
    namespace = todo.pop(0)
    if namespace in out:
        continue
    if not loads(namespace):
        out[namespace] = {"typelib": None, "dependencies": []}
        continue
    dependencies = sorted(
        {d.rsplit("-", 1)[0] for d in repository.get_immediate_dependencies(namespace)}
    )
    out[namespace] = {
        "typelib": repository.get_typelib_path(namespace),
        "version": repository.get_version(namespace),
        "dependencies": dependencies,
    }
    todo += dependencies
for namespace, companion in json.loads(sys.argv[2]).items():
    if namespace in out and out[namespace]["typelib"]:
        out[namespace]["companion"] = companion
        out[namespace]["companion_found"] = loads(companion)
print(json.dumps({"namespaces": out}))
"""


def shared_libraries(typelib: str) -> list[str]:
    """The libraries a typelib names (its header's ``shared_library``: comma-separated
    sonames), which PyGObject opens to call into; none when it cannot be read."""
    try:
        with open(typelib, "rb") as f:
            data = f.read()
        if not data.startswith(b"GOBJ\nMETADATA\r\n\x1a"):
            return []
        (offset,) = struct.unpack_from("<I", data, 52)
        if not offset:
            return []
        names = data[offset : data.index(b"\0", offset)].decode("ascii")
    except (OSError, ValueError, struct.error, UnicodeDecodeError):
        return []
    return [name for name in names.split(",") if name]


def namespaces(imported: dict[str, dict[str, Any]], locate: Callable[[str], Any]) -> dict[str, Any]:
    """``imported`` (namespace -> where it is imported) and those they depend on, as the build
    interpreter's PyGObject finds them (:func:`classify`)."""
    if not imported:
        return {"namespaces": []}
    proc = None
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-I",
                "-c",
                _QUERY,
                json.dumps(sorted(imported)),
                json.dumps(COMPANIONS),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        last = (proc.stderr if proc is not None else "").strip().splitlines()
        return {"namespaces": [], "error": last[-1] if last else type(e).__name__}
    if "error" in answer:
        return {"namespaces": [], "error": answer["error"]}
    return classify(answer["namespaces"], imported, locate)


def classify(
    found: dict[str, dict[str, Any]],
    imported: dict[str, dict[str, Any]],
    locate: Callable[[str], Any],
) -> dict[str, Any]:
    """Who makes the namespaces ``found`` (name -> its typelib, version, dependencies and, for
    GLib and Gio, whether Nuitka's companion loads): ``plugin``, what stops Nuitka's plugin
    here, and each one's record (see the module's text). ``locate`` finds a module (the
    namespace's overrides)."""
    stops = sorted(
        f"{name} (no typelib)" if not info.get("typelib") else f"{info['companion']} for {name}"
        for name, info in found.items()
        if not info.get("typelib") or info.get("companion_found") is False
    )
    records = []
    for name, info in sorted(found.items()):
        where = imported.get(name) or {"file": "", "line": 0}
        typelib = info.get("typelib")
        records.append(
            {
                "namespace": name,
                "file": where["file"],
                "line": where["line"],
                "imported": name in imported,
                "handled": "nuitka" if not stops else "shipped" if typelib else "absent",
                "typelib": typelib,
                "version": info.get("version"),
                "libraries": shared_libraries(typelib) if typelib else [],
                "overrides": bool(typelib) and locate(f"gi.overrides.{name}") is not None,
            }
        )
    return {
        "namespaces": records,
        "plugin": "pybin2img" if stops else "nuitka",
        # What Nuitka's plugin could not load here: why pybin2img does its work.
        "stops": stops,
    }
