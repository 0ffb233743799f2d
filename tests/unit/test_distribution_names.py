"""Nuitka's distributions given the normalized name from the headers of their METADATA alone
(``_startup_hook.distribution_names``): the very names ``importlib.metadata`` computes from the
whole text, for every distribution installed here and for METADATA of odd shapes."""

from __future__ import annotations

import email
import importlib.metadata
import importlib.util
import re
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pybin2img.compile import _startup_hook, startup


def _nuitka_class_source() -> str:
    """The Python source of Nuitka's class of distributions, as its C string spells it."""
    spec = importlib.util.find_spec("nuitka")
    assert spec is not None
    assert spec.origin is not None
    text = (Path(spec.origin).parent / startup._DISTRIBUTION_FILE).read_text(encoding="utf-8")
    literal = re.search(r'nuitka_distribution_code = "(.*?)";', text, re.S)
    assert literal is not None
    return literal.group(1).replace("\\n\\\n", "\n").replace("\\\\", "\\")


def _module() -> types.ModuleType:
    module = types.ModuleType("nuitka_distribution_patch")
    exec(compile(_nuitka_class_source(), "<exec>", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="module")
def distribution_class() -> type:
    module = _module()
    _startup_hook.distribution_names(module)
    cls: type = module.nuitka_distribution
    assert "_normalized_name" in vars(cls)
    return cls


def _whole(distribution: Any) -> Any:
    """``importlib.metadata``'s own normalized name, from the whole METADATA."""
    return importlib.metadata.Distribution._normalized_name.fget(distribution)  # type: ignore[attr-defined]


def _outcome(function: Any, distribution: Any) -> tuple[Any, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value: Any = function(distribution)
        except Exception as exc:  # noqa: BLE001 - the same failure is the expected outcome
            value = (type(exc), str(exc))
    return value, [f"{w.category.__name__}: {w.message}" for w in caught]


def _installed() -> Iterator[tuple[str, str]]:
    for distribution in importlib.metadata.distributions():
        text = distribution.read_text("METADATA")
        if text:
            yield str(getattr(distribution, "_path", "")), text


def test_every_installed_distribution_gets_the_name_of_its_whole_metadata(
    distribution_class: type,
) -> None:
    seen = 0
    for path, text in _installed():
        made = distribution_class("pkg", path, text, "")
        assert _outcome(lambda d: d._normalized_name, made) == _outcome(_whole, made), path
        seen += 1
    assert seen > 20


ODD = {
    "a long description after the headers": "Metadata-Version: 2.1\nName: Foo.Bar_baz\n"
    "Version: 1\n\nName: other\n" + "text\n" * 1000,
    "CRLF": "Metadata-Version: 2.1\r\nName: Foo_Bar\r\nVersion: 1\r\n\r\nName: other\r\n",
    "CR": "Metadata-Version: 2.1\rName: Foo-Bar\rVersion: 1\r\rName: other\r",
    "CR then LF lines": "Name: first\r\n\nName: second\n",
    "no empty line": "Metadata-Version: 2.1\nName: Foo\nVersion: 1\n",
    "no line end": "Name: Foo",
    "a line that is no header before the empty line": "Version: 1\nnot a header\nName: late\n\n",
    "a folded header": "Name:\n Folded.Name\nVersion: 1\n\nbody\n",
    "no name": "Metadata-Version: 2.1\nVersion: 1\n\nName: in the body\n",
    "empty": "",
    "a blank line first": "\nName: body\n",
    "a Unix From line": "From someone\nName: Foo\n\nbody\n",
}


@pytest.mark.parametrize("text", ODD.values(), ids=list(ODD))
def test_odd_metadata_gets_the_name_of_its_whole_text(distribution_class: type, text: str) -> None:
    made = distribution_class("pkg", "/app/pkg", text, "")
    assert _outcome(lambda d: d._normalized_name, made) == _outcome(_whole, made)


def test_the_whole_text_is_not_parsed(
    distribution_class: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    original = email.message_from_string

    def counted(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(len(text))
        return original(text, *args, **kwargs)

    monkeypatch.setattr(email, "message_from_string", counted)
    text = ODD["a long description after the headers"]
    made = distribution_class("pkg", "/app/pkg", text, "")
    assert made._normalized_name == "foo_bar_baz"
    assert parsed == [len("Metadata-Version: 2.1\nName: Foo.Bar_baz\nVersion: 1\n")]
    # The distribution itself is as it was: its metadata is the whole text.
    assert made.metadata["Name"] == "Foo.Bar_baz"
    assert made.read_text("METADATA") == text


def test_a_class_with_its_own_name_is_left_alone() -> None:
    module = _module()
    own = property(lambda _self: "own")
    module.nuitka_distribution._normalized_name = own
    _startup_hook.distribution_names(module)
    assert vars(module.nuitka_distribution)["_normalized_name"] is own
    _startup_hook.distribution_names(types.ModuleType("other"))  # no class: nothing happens
