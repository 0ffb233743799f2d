"""A small JSON web service: what most Python container images run.

Listens on $PORT (default 8080) on all interfaces; stops cleanly on SIGTERM (docker stop).

    GET /          -> {"service": "web", "python": "3.11.7", "compiled": true}
    GET /add?a=1&b=2 -> {"sum": 3}
"""

from __future__ import annotations

import os
import platform
import signal
import sys
from types import FrameType

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():  # type: ignore[no-untyped-def]
    return jsonify(
        service="web",
        python=platform.python_version(),
        compiled="__compiled__" in globals(),
    )


@app.get("/add")
def add():  # type: ignore[no-untyped-def]
    try:
        a = int(request.args["a"])
        b = int(request.args["b"])
    except (KeyError, ValueError):
        return jsonify(error="give integers a and b"), 400
    return jsonify(sum=a + b)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    print("web: stopping", flush=True)
    sys.exit(0)


def main() -> None:
    # PID 1 in a container gets no default SIGTERM action: handle it to stop cleanly.
    signal.signal(signal.SIGTERM, _stop)
    port = int(os.environ.get("PORT", "8080"))
    print(f"web: listening on port {port}", flush=True)
    app.run(host="0.0.0.0", port=port)  # noqa: S104 - a container listens on all interfaces


if __name__ == "__main__":
    main()
