"""``pybin2img deps FILE...``: the shared-library tree of ELF files, as the resolver sees it.

Like ``lddtree``, but with glibc's own search rules and nothing executed. Each FILE is resolved
as a program of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .closure import Closure
from .fsview import HostView
from .process import resolve_closure


def resolve_files(
    files: Sequence[str], *, root: str = "/", library_path: Sequence[str] = ()
) -> list[Closure]:
    """One closure per file (absolute paths inside ``root``)."""
    view = HostView(root)
    return [resolve_closure([f], view, library_path=library_path) for f in files]


def format_tree(closure: Closure) -> str:
    """The closure as an indented tree; a library already shown is not expanded again."""
    children: dict[str, list[tuple[str, str]]] = {}
    for edge in closure.edges:
        children.setdefault(edge.requester, []).append((edge.needed, edge.resolved))
    root = closure.roots[0]
    lines = [f"{root} (interpreter => {closure.interpreter or 'none, static'})"]
    shown: set[str] = {root}

    def walk(path: str, depth: int) -> None:
        for needed, resolved in children.get(path, []):
            expanded = resolved in shown
            lines.append(f"{'    ' * depth}{needed} => {resolved}")
            if not expanded:
                shown.add(resolved)
                walk(resolved, depth + 1)

    walk(root, 1)
    implicit = [
        o
        for o in closure.objects
        if o.reason in ("dlopen", "hwcaps", "extra") and o.path not in shown
    ]
    for obj in implicit:
        lines.append(f"    {obj.soname or obj.path} => {obj.path}  ({obj.reason})")
        shown.add(obj.path)
    for conflict in closure.conflicts:
        lines.append(f"    conflict: {conflict}")
    for warning in closure.warnings:
        lines.append(f"    warning: {warning}")
    return "\n".join(lines)


def closure_json(closure: Closure) -> dict[str, Any]:
    """The closure as JSON for machines."""
    return {
        "root": closure.roots[0],
        "interpreter": closure.interpreter,
        "libc": closure.libc,
        "glibc_version": ".".join(map(str, closure.glibc_version))
        if closure.glibc_version
        else None,
        "objects": [
            {
                "path": o.path,
                "realpath": o.realpath,
                "soname": o.soname,
                "needed": list(o.needed),
                "reason": o.reason,
                "needed_by": o.needed_by,
            }
            for o in closure.objects
        ],
        "edges": [
            {"requester": e.requester, "needed": e.needed, "resolved": e.resolved}
            for e in closure.edges
        ],
        "conflicts": [str(c) for c in closure.conflicts],
        "warnings": list(closure.warnings),
    }
