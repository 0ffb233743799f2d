"""The shape of the package, held by its own imports (read with ``ast``; nothing is imported).

A *room* is a top-level module (``options``, ``errors``...) or a stage package (``compile/``,
``resolve/``...) taken as one. Two rules:

**Faces.** A module outside a package imports it only through its face: ``from pybin2img.plan
import plan_image`` (or ``from ..plan import plan_image``), a name in the package's
``__all__``; never ``pybin2img.plan.planner``. Inside a package, modules import each other
freely. No private name (``_x``) crosses rooms, ``__version__`` from ``_version`` aside.

**Direction.** The rooms stand on floors, :data:`FLOORS`, top to ground; a room imports only
rooms on floors below its own (so there is no circle between rooms). The floors follow the
pipeline, compile -> trace -> resolve -> plan -> (oci's writer) -> ship: a stage consumes what
the stages before it made, so it stands above them and may import their result types, never
the reverse. ``oci/`` is the image format (the tree's entries and layers, documents, the
writer and the readers) and ``registry/`` the registry client: layers *under* every stage,
which import no stage; compile's cache repository and ship both use them. ``build`` sequences
the stages and ``cli`` (beside the library's face, ``pybin2img/__init__``) parses the command
line on top of it. Under the stages stand the modules every stage reads: ``options`` (the
build's frozen options) over ``app``, ``cache``, ``toolchain``, then the leaves that import
nothing of pybin2img but errors, log and ``_version``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "pybin2img"

#: Top to ground. A room may import only rooms on lower floors.
FLOORS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli", "__init__"),
    ("build",),
    ("ship",),
    ("plan",),
    ("resolve",),
    ("trace",),
    ("compile",),
    ("provenance", "cachecmd"),
    ("options",),
    ("app", "cache", "toolchain", "oci", "registry"),
    ("settings", "reference", "runner", "dpkg", "pending"),
    ("errors", "log", "_version"),
)

#: Imports that break a rule for now, each with its reason: ``(importing module, imported
#: module)``. Empty: keep it so.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}

PACKAGES = frozenset(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path, source: str) -> list[tuple[str, tuple[str, ...], int]]:
    """``(absolute module, names, line)`` for every pybin2img import in ``source`` (the text of
    ``path``), deferred and ``TYPE_CHECKING`` ones included."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = tuple(alias.name for alias in node.names)
            if node.level:
                base = package[: len(package) - node.level + 1]
                if node.module is None:  # from . import x: x may be a submodule
                    for name in names:
                        target = ".".join([*base, name])
                        if (SRC.parent / (target.replace(".", "/") + ".py")).is_file():
                            found.append((target, (), node.lineno))
                        else:
                            found.append((".".join(base), (name,), node.lineno))
                    continue
                target = ".".join([*base, node.module])
            else:
                target = node.module or ""
            if target == "pybin2img" or target.startswith("pybin2img."):
                found.append((target, names, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pybin2img"):
                    found.append((alias.name, (), node.lineno))
    return found


def _faces() -> dict[str, frozenset[str]]:
    faces = {}
    for package in PACKAGES:
        tree = ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8"))
        names: frozenset[str] = frozenset()
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                names = frozenset(ast.literal_eval(node.value))
        faces[package] = names
    return faces


def _cross_imports(
    extra: Mapping[Path, str] | None = None,
) -> list[tuple[str, str, tuple[str, ...], str]]:
    """``(module, imported module, names, where)`` for every import from one room into another
    (``extra``: more modules, by path and text)."""
    sources = {path: path.read_text(encoding="utf-8") for path in sorted(SRC.rglob("*.py"))}
    rows = []
    for path, source in {**sources, **(extra or {})}.items():
        module = _module_name(path)
        for target, names, line in _imports(path, source):
            if _room(target) != _room(module):
                where = f"{path.relative_to(SRC.parent)}:{line}"
                rows.append((module, target, names, where))
    return rows


def _violations(extra: Mapping[Path, str] | None = None) -> list[str]:
    floor = {room: height for height, rooms in enumerate(FLOORS) for room in rooms}
    faces = _faces()
    problems = []
    for module, target, names, where in _cross_imports(extra):
        if (module, target) in KNOWN_EXCEPTIONS:
            continue
        here, there = _room(module), _room(target)
        said = f"{where}: {module} imports {target} ({', '.join(names) or 'the module'})"
        if here not in floor or there not in floor:
            problems.append(f"{said}: {here if here not in floor else there} has no floor")
        elif floor[there] <= floor[here]:
            problems.append(f"{said}: against the direction ({here} -> {there})")
        if there in PACKAGES:
            outside = [n for n in names if n not in faces[there]]
            if target != f"pybin2img.{there}" or not names:
                problems.append(f"{said}: past the face of {there}/")
            elif outside:
                problems.append(f"{said}: not in {there}.__all__: {', '.join(outside)}")
        private = [n for n in names if n.startswith("_") and n != "__version__"]
        if private:
            problems.append(f"{said}: private names {', '.join(private)}")
    return problems


def test_every_room_has_a_floor() -> None:
    rooms = {_room(_module_name(p)) for p in SRC.rglob("*.py")}
    placed = {room for rooms in FLOORS for room in rooms}
    assert rooms == placed


def test_imports_go_through_faces_and_down_the_floors() -> None:
    problems = _violations()
    assert not problems, "\n".join(problems)


def test_known_exceptions_are_still_needed() -> None:
    seen = {(module, target) for module, target, _, _ in _cross_imports()}
    assert set(KNOWN_EXCEPTIONS) <= seen


def test_every_face_name_exists() -> None:
    """``__all__`` names only what the face binds (a stale name would pass the check above)."""
    for package, names in _faces().items():
        tree = ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8"))
        bound = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
        }
        assert names <= bound, f"{package}: {sorted(names - bound)}"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("from ..plan.planner import plan_image\n", "past the face of plan/"),
        ("from ..plan import _inside\n", "not in plan.__all__"),
        ("from ..ship import run_smoke_test\n", "against the direction (compile -> ship)"),
    ],
)
def test_the_check_sees_a_bad_import(source: str, problem: str) -> None:
    """A compile module that reaches past a face, or up the floors, is reported."""
    fake = {SRC / "compile" / "_fixture.py": source}
    assert any(problem in line for line in _violations(fake)), _violations(fake)
