"""How pybin2img runs the long programs of a build: Nuitka, pip and the build environment's venv.

:func:`run_logged` checks that the program exists first, captures its output to a log file
(streamed to stderr with ``-v``), records the child's process group so that a killed build's
children can be stopped by the next one (:func:`stop_recorded`), and on failure raises the
caller's error class with the tail of that log.

Short programs whose output is the answer (the build interpreter's probes, the toolchain's
``--version``, ``ldconfig``, ``git``, ``patchelf``, ``strip``, ``ccache``, ``setarch``,
``unshare``, credential helpers) are run with :mod:`subprocess` where they are asked, each with
its own error; so are the runs that the caller drives itself (``--trace`` under strace,
``--compare``'s host run, the smoke test's namespace runner): none of them writes a log worth
keeping.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import HostError, Pybin2imgError
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
    record: Path | None = None,
    unwritable: Callable[[OSError, str], HostError] | None = None,
) -> None:
    """Run ``argv``, writing its combined output to ``log_file`` (and to stderr with ``-v``).

    On a non-zero exit, raise ``error`` whose details are the last lines of the output and the
    path of the full log. Ctrl-C stops the child's whole process group before re-raising.
    ``record``: a file that names the child's process group while it runs, so that if this
    process is killed (``kill -9``) the next run can stop what it left running
    (:func:`stop_recorded`). A log that cannot be written is a :class:`HostError`, made by
    ``unwritable`` (the error and what failed) when given: the cache's, which says what to do.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with log_file.open("w", encoding="utf-8", errors="replace") as out:
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
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
                if record is not None:
                    _write_record(record, proc.pid)
                assert proc.stdout is not None
                for line in proc.stdout:
                    out.write(line)
                    tail.append(line.rstrip("\n"))
                    log.raw(line)
                code = proc.wait()
            except BaseException:
                _kill_group(proc)
                raise
            finally:
                if proc.stdout is not None:
                    proc.stdout.close()
                if record is not None:
                    record.unlink(missing_ok=True)
    except OSError as exc:  # the log (or the record) beside it could not be written
        if unwritable is not None:
            raise unwritable(exc, f"{what}: cannot write its log {log_file}") from exc
        raise HostError(f"{what}: cannot write its log {log_file}: {exc.strerror}") from exc
    if code != 0:
        details = "\n".join(f"  | {line}" for line in tail)
        raise error(
            f"{what} failed (exit code {code}); full log: {log_file}",
            details=details,
        )


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or ``None`` if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count after the last ")".
    return int(stat.rsplit(")", 1)[1].split()[19])


def _write_record(record: Path, pgid: int) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(f"{pgid} {_start_time(pgid) or 0}\n")


def stop_recorded(record: Path) -> None:
    """Stop (``SIGKILL``) the process group named in ``record`` by a run that was killed, then
    remove the record.

    The group is left alone when its leader's process id now belongs to another process (a
    different start time); a group whose leader already exited is stopped, since its id cannot
    be reused while any member lives.
    """
    try:
        pgid_text, start_text = record.read_text().split()
        pgid, start = int(pgid_text), int(start_text)
    except (OSError, ValueError):
        record.unlink(missing_ok=True)
        return
    now = _start_time(pgid)
    if pgid > 1 and (now is None or now == start):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    record.unlink(missing_ok=True)


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
