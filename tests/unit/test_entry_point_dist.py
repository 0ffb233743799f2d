"""The code pybin2img appends to ``importlib.metadata`` in the program (named.py,
``_ENTRY_POINT_DIST``): an entry point made from its name, value and group alone, as Nuitka makes
those it answers at compile time, gets the distribution that declares it as ``dist``, as the
interpreter's ``entry_points()`` gives it. Run here against this environment's distributions,
in a namespace of ``importlib.metadata`` whose ``EntryPoint`` is a subclass."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from pybin2img.compile import named

_WHY, _CODE = named.APPENDED["importlib.metadata"]


def _patched(**names: Any) -> Any:
    class EntryPoint(metadata.EntryPoint):
        dist = None

    namespace = {**vars(metadata), "EntryPoint": EntryPoint, **names}
    exec(compile(_CODE, "importlib.metadata", "exec"), namespace)
    assert "_pybin2img_entry_point_dist" not in namespace
    return EntryPoint


def test_every_entry_point_gets_the_distribution_the_interpreter_names() -> None:
    entry_point = _patched()
    groups = {ep.group for dist in metadata.distributions() for ep in dist.entry_points}
    everything = [ep for group in sorted(groups) for ep in metadata.entry_points(group=group)]
    assert len(everything) > 10
    for ep in everything:
        made = entry_point(name=ep.name, value=ep.value, group=ep.group)
        assert made.dist is not None, ep
        assert (made.dist.name, made.dist.version) == (ep.dist.name, ep.dist.version), ep
        assert vars(made)["dist"] is made.dist  # looked up once
        assert made == ep


def test_what_keeps_none_or_its_own() -> None:
    entry_point = _patched()
    assert entry_point.dist is None
    assert entry_point(name="nothing", value="no.such:thing", group="console_scripts").dist is None
    (pytest_script,) = metadata.entry_points(group="console_scripts", name="pytest")
    own = entry_point(name="pytest", value=pytest_script.value, group="console_scripts")
    other = metadata.distribution("pluggy")
    own._for(other)
    assert own.dist is other


def test_a_failing_lookup_is_none_and_missing_names_change_nothing() -> None:
    def broken() -> Any:
        raise OSError("unreadable")

    entry_point = _patched(distributions=broken)
    assert (
        entry_point(name="pytest", value="pytest:console_main", group="console_scripts").dist
        is None
    )
    # a module without these names (another backport's shape) is left as it is
    namespace: dict[str, Any] = {}
    exec(compile(_CODE, "importlib_metadata", "exec"), namespace)
    assert set(namespace) == {"__builtins__"}


def test_a_class_without_the_default_is_left_alone() -> None:
    class EntryPoint(metadata.EntryPoint):
        pass

    namespace = {**vars(metadata), "EntryPoint": EntryPoint}
    exec(compile(_CODE, "importlib.metadata", "exec"), namespace)
    assert "dist" not in vars(EntryPoint)
