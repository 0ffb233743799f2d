"""The unit tier's conftest: programs and network sockets are refused, unix sockets are not,
and a marker with a reason lets one test have what it needs."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
from collections.abc import Callable
from subprocess import Popen

import pytest


@pytest.mark.parametrize(
    "start",
    [
        lambda: subprocess.run(["true"], check=False),
        lambda: Popen(["true"]),  # imported under its own name before the test began
        lambda: os.system("true"),
        lambda: os.posix_spawnp("true", ["true"], os.environ),
        lambda: os.fork(),  # noqa: PLW0108 (os.fork as it is when called: refused)
        lambda: multiprocessing.get_context("spawn").Process(target=print).start(),
    ],
    ids=["run", "Popen", "system", "posix_spawnp", "fork", "multiprocessing"],
)
def test_programs_are_refused(pure: list[str], start: Callable[[], object]) -> None:
    with pytest.raises(AssertionError, match="a unit test started a program"):
        start()
    assert pure, "the refusal is recorded, so catching it does not hide it"
    pure.clear()


@pytest.mark.parametrize(
    "reach",
    [
        lambda: socket.create_connection(("127.0.0.1", 9), timeout=0.1),
        socket.socket,
        lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM),
        lambda: socket.getaddrinfo("registry.example.com", 443),
        lambda: socket.gethostbyname("registry.example.com"),
    ],
    ids=["connect", "tcp", "udp6", "getaddrinfo", "gethostbyname"],
)
def test_network_is_refused(pure: list[str], reach: Callable[[], object]) -> None:
    with pytest.raises(AssertionError, match=r"a unit test (opened a network socket|looked up)"):
        reach()
    assert pure
    pure.clear()


def test_unix_sockets_are_open(pure: list[str]) -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM):
        pass
    assert pure == []


@pytest.mark.allow_programs("the allowance's own test")
@pytest.mark.allow_network("the allowance's own test")
def test_a_marker_with_its_reason_allows() -> None:
    assert subprocess.Popen._execute_child.__name__ == "_execute_child"
    assert os.fork.__name__ == "fork"
    with socket.socket():  # created, never connected
        pass
