"""The unit tier is pure: no test in it starts a program or opens a network socket.

Every unit test runs with both refused. A refusal raises ``AssertionError`` (which no ``except
OSError`` in pybin2img swallows) and is also recorded, so a test whose code caught it anyway
still fails at teardown. Unix sockets stay open to all: a stub of the Docker API on one is
pure.

A test that truly needs one of them says so, with its reason:

    @pytest.mark.allow_programs("…")
    @pytest.mark.allow_network("…")

Whatever needs more than that belongs in tests/integration.
"""

from __future__ import annotations

import _posixsubprocess
import marshal
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# urllib3 (under requests and the docker SDK) binds a socket to ::1 when it is imported, to learn
# whether the host has IPv6: the first import must happen here, before any test.
import urllib3  # noqa: F401

ALLOWANCES = {
    "allow_programs": "allow_programs(reason): this unit test may start programs, and says why",
    "allow_network": "allow_network(reason): this unit test may open network sockets "
    "and look up names, and says why",
}


def pytest_configure(config: pytest.Config) -> None:
    for line in ALLOWANCES.values():
        config.addinivalue_line("markers", line)


def _allowed(request: pytest.FixtureRequest, name: str) -> bool:
    marker = request.node.get_closest_marker(name)
    if marker is None:
        return False
    if not (marker.args and isinstance(marker.args[0], str) and marker.args[0].strip()):
        pytest.fail(f"@pytest.mark.{name} needs its reason: {ALLOWANCES[name]}", pytrace=False)
    return True


@pytest.fixture(autouse=True)
def pure(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse programs and network sockets for this test, unless its markers allow them; the
    refusals so far (a test of the refusals themselves takes back the ones it caused)."""
    refused: list[str] = []

    def refusal(what: str, hint: str) -> Callable[..., Any]:
        def refuse(*args: Any, **_: Any) -> Any:
            shown = args[0] if args else ""
            message = f"a unit test {what}: {shown!r}; {hint}"
            refused.append(message)
            raise AssertionError(message)

        return refuse

    if not _allowed(request, "allow_programs"):
        hint = (
            "the unit tier starts no programs (move the test to tests/integration, or mark it "
            "@pytest.mark.allow_programs(reason))"
        )
        started = refusal("started a program", hint)

        def execute_child(_popen: subprocess.Popen[Any], args: Any, *_: Any, **__: Any) -> None:
            started(args)

        # Every way a program starts: subprocess (whatever name it was imported under),
        # multiprocessing's spawn and forkserver, and the os functions.
        monkeypatch.setattr(subprocess.Popen, "_execute_child", execute_child)
        monkeypatch.setattr(_posixsubprocess, "fork_exec", started)
        for name in ("system", "posix_spawn", "posix_spawnp", "fork", "forkpty", "execv", "execve"):
            monkeypatch.setattr(os, name, started)

    if not _allowed(request, "allow_network"):
        hint = (
            "the unit tier has no network, only unix sockets (use a stub on a unix socket, move "
            "the test to tests/integration, or mark it @pytest.mark.allow_network(reason))"
        )
        opened = refusal("opened a network socket", hint)
        looked_up = refusal("looked up a network name", hint)
        original_init = socket.socket.__init__

        def init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            if self.family != socket.AF_UNIX:
                kind = f"{self.family.name} {self.type.name}"
                self.close()
                opened(kind)

        monkeypatch.setattr(socket.socket, "__init__", init)
        for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr"):
            monkeypatch.setattr(socket, name, looked_up)

    yield refused
    assert refused == [], "a refusal was caught and ignored:\n" + "\n".join(refused)


@pytest.fixture(params=[None, b"", b"not marshal", marshal.dumps([1, 2])])
def unreadable_table(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A table beside the program that cannot be read: missing, empty, not marshal data, or
    rows of another shape (the start-up hook's tables, regex and generated code)."""
    table = tmp_path / "table"
    if request.param is not None:
        table.write_bytes(request.param)
    return table
