"""GObject introspection namespaces the app imports, as the build interpreter has them.

``from gi.repository import GLib`` is made at run time by PyGObject from a typelib (a file in
``girepository-1.0``), never a module file. Nuitka's gi plugin compiles each such import into a
module of its own, and that went wrong both ways: on Debian 12 it stopped the build ("Plugin
issue") over any namespace the machine cannot load (Gtk without its typelib on a server, where
the app's ``except ImportError`` handles it; with GLib and Gio, the GLibUnix and GioUnix
namespaces it asks for, which GLib has only from 2.80 on), and on Debian 13 (PyGObject 3.50)
the program it made had a ``GObject`` without ``Object``.

So pybin2img leaves the namespaces to PyGObject in the program, as under the interpreter: each
namespace reached (those imported and those they depend on) is made from the typelib pybin2img
ships (``"shipped"``; its overrides module is compiled in), or fails to be, as on this machine,
where there is none (``"absent"``). The libraries each typelib names (PyGObject opens them by
those names) join the image, but for namespaces only modules reached because code names them
import (matplotlib's GUI backends, which Nuitka's configuration leaves out): their typelibs and
overrides are small, Gtk's libraries are not.

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
    """The record of each namespace ``found`` (name -> its typelib, version and dependencies):
    ``shipped`` or ``absent``, where it is imported, the libraries its typelib names (none
    for the namespaces only those ``imported`` with ``named_only`` reach), whether PyGObject
    has overrides for it (``locate`` finds a module)."""
    linked: set[str] = set()
    todo = [name for name, where in imported.items() if not where.get("named_only")]
    while todo:
        name = todo.pop()
        if name not in linked and name in found:
            linked.add(name)
            todo += found[name].get("dependencies", [])
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
                "handled": "shipped" if typelib else "absent",
                "typelib": typelib,
                "version": info.get("version"),
                "libraries": shared_libraries(typelib) if typelib and name in linked else [],
                "overrides": bool(typelib) and locate(f"gi.overrides.{name}") is not None,
            }
        )
    return {"namespaces": records}
