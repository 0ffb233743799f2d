"""The one way pybin2img runs another program.

Checks that the program exists first, captures its output to a log file (streamed to stderr with
``-v``), and on failure raises the caller's error class with the tail of that log.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import Pybin2imgError
from .log import Log

TAIL_LINES = 25


def require_program(name: str, error: type[Pybin2imgError], hint: str) -> str:
    """Return the full path of ``name`` on PATH, or raise ``error`` with ``hint``."""
    found = shutil.which(name)
    if not found:
        raise error(f"{name} was not found on PATH; {hint}")
    return found


def run_logged(
    argv: Sequence[str],
    *,
    log: Log,
    log_file: Path,
    error: type[Pybin2imgError],
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run ``argv``, writing its combined output to ``log_file`` (and to stderr with ``-v``).

    On a non-zero exit, raise ``error`` whose details are the last lines of the output and the
    path of the full log. Ctrl-C stops the child's whole process group before re-raising.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with log_file.open("w", encoding="utf-8", errors="replace") as out:
        out.write("$ " + " ".join(argv) + "\n")
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except OSError as exc:
            raise error(f"{what}: cannot run {argv[0]}: {exc.strerror}") from exc
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                tail.append(line.rstrip("\n"))
                log.raw(line)
            code = proc.wait()
        except BaseException:
            _kill_group(proc)
            raise
    if code != 0:
        details = "\n".join(f"  | {line}" for line in tail)
        raise error(
            f"{what} failed (exit code {code}); full log: {log_file}",
            details=details,
        )


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
