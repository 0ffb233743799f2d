"""What the compatibility suite's checks share: a check per package, one line each.

    PROGRAM              lists the packages it checks (and imports none of them)
    PROGRAM NAME...      runs those packages' checks
    PROGRAM all          runs every check

Each check imports its package and does something real with it offline, then returns a short
deterministic result, printed as ``NAME: RESULT``. A check that raises prints
``NAME: error: TYPE: MESSAGE`` and the others still run; the exit code is 1 when one failed.
The same program run by the interpreter and in the image must print the same lines.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHECKS: dict[str, Callable[[], str]] = {}


def check(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register the check of the package ``name``."""

    def register(function: Callable[[], str]) -> Callable[[], str]:
        CHECKS[name] = function
        return function

    return register


class _Echo(BaseHTTPRequestHandler):
    """Answers every GET and POST with JSON: the method, the path and the body it got."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        answer = json.dumps({"method": self.command, "path": self.path, "body": body}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    """A JSON echo server on loopback (the image runs with no network but loopback): its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    if not names:
        print("packages:", " ".join(CHECKS))
        return 0
    if names == ["all"]:
        names = list(CHECKS)
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        print(f"unknown package: {', '.join(unknown)}; known: {' '.join(CHECKS)}")
        return 2
    failed = False
    for name in names:
        try:
            result = CHECKS[name]()
        except Exception as exc:  # noqa: BLE001 - one package's failure must not hide the rest
            failed = True
            result = f"error: {type(exc).__name__}: {exc}"
        print(f"{name}: {result}", flush=True)
    return 1 if failed else 0
