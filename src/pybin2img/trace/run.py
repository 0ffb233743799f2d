"""Running the dist under strace and glibc's loader log, and sorting what it touched.

The program runs as the current user with ARGS, a fresh ``HOME`` and ``TMPDIR`` and its working
directory in a private temporary directory, stdin closed, for at most ``timeout`` seconds: a
server still running then is stopped and its trace so far used. strace (Debian's ``strace``)
records the files opened; ``LD_DEBUG=files`` records why each shared object was loaded.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import HostError
from .parse import (
    LoaderLog,
    Opened,
    ProcessTrace,
    app_processes,
    excluded,
    inside,
    parse_loader,
    parse_strace,
)

_SYSCALLS = "open,openat,openat2,execve,execveat,clone,clone3,fork,vfork"
_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_TAIL = 10


@dataclass(frozen=True)
class TracedPath:
    """A path of the build machine the traced run used, and why it is (or is not) added."""

    path: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "why": self.why}


@dataclass(frozen=True, kw_only=True)
class Trace:
    """What the traced run needs from the build machine."""

    #: System libraries the program loaded that are not in the dist: roots for the resolver.
    libraries: tuple[TracedPath, ...]
    #: Regular files outside the dist it read: added to the image at the same path.
    files: tuple[TracedPath, ...]
    #: What it used but is never added, and why (build tree, home, temp, /proc, directories...).
    skipped: tuple[TracedPath, ...]
    #: Other programs it ran (their files are not the app's and are not added).
    programs: tuple[str, ...]
    #: The run's exit status; ``None`` when it was still running at the timeout.
    exit_code: int | None
    #: The last lines of its output.
    output: str

    @property
    def summary(self) -> str:
        """The trace stage's line."""
        return f"{len(self.libraries)} libraries, {len(self.files)} files loaded at run time"

    @property
    def warning(self) -> str | None:
        """What a build warns of: a run that failed, whose findings may be incomplete."""
        if self.exit_code in (0, None):
            return None
        return (
            f"the traced run exited {self.exit_code}; what it loaded until then is added "
            f"(--trace ARGS, --trace-env)\n{self.output}"
        )

    def report(self) -> tuple[str, ...]:
        """The build log's detail lines: what is added and why, what is not."""
        return (
            *(f"trace: library {item.path}  ({item.why})" for item in self.libraries),
            *(f"trace: file {item.path}  ({item.why})" for item in self.files),
            *(f"trace: not added {item.path}  ({item.why})" for item in self.skipped),
            *(
                f"trace: not added {program}  (a program the app ran; --add-file if needed)"
                for program in self.programs
            ),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "libraries": [p.to_json() for p in self.libraries],
            "files": [p.to_json() for p in self.files],
            "skipped": [p.to_json() for p in self.skipped],
            "programs": list(self.programs),
            "exit_code": self.exit_code,
        }


def trace_dist(
    binary: Path,
    dist_dir: Path,
    *,
    args: str,
    env: Sequence[str],
    timeout: float,
    workdir: Path,
    private: Sequence[str],
) -> Trace:
    """Run ``binary`` once under strace (with ``args``, shell-quoted, and ``env``'s
    ``KEY=VALUE`` entries) and return what it loaded and read outside ``dist_dir``.

    ``workdir`` is an empty private directory for the run's records, home, temp and working
    directory; ``private`` are the build's own places (the build tree, home, caches), whose files
    are never added.
    """
    strace = shutil.which("strace")
    if strace is None:
        raise HostError("--trace needs strace on this machine (Debian: apt-get install strace)")
    records, home, tmp, cwd = (workdir / n for n in ("records", "home", "tmp", "cwd"))
    for directory in (records, home, tmp, cwd):
        directory.mkdir(parents=True, exist_ok=True)
    environment = private_environment(home=home, tmp=tmp, env=env)
    environment |= {"LD_DEBUG": "files", "LD_DEBUG_OUTPUT": str(records / "ld")}
    command = [
        strace,
        "-ff",
        "-qq",
        "-s",
        "4096",
        "-e",
        f"trace={_SYSCALLS}",
        "-e",
        "signal=none",
        "-o",
        str(records / "st"),
        "--",
        str(binary),
        *shlex.split(args),
    ]
    exit_code, output = _run(command, environment, cwd, timeout, workdir / "output")
    loader_log, processes, programs = _read_records(records, str(binary))
    dist = os.path.realpath(dist_dir)
    libraries, files, skipped = _sort(processes, loader_log, [dist, *private, str(workdir)])
    return Trace(
        libraries=libraries,
        files=files,
        skipped=skipped,
        programs=programs,
        exit_code=exit_code,
        output=output,
    )


def private_environment(*, home: Path, tmp: Path, env: Sequence[str]) -> dict[str, str]:
    """The environment of a run on the build machine: nothing of pybin2img's own, a standard
    ``PATH``, ``LANG=C.UTF-8`` as in the image, private ``HOME`` and ``TMPDIR``, then ``env``'s
    ``KEY=VALUE`` entries (the image's ``--env``)."""
    entries = (_PATH, "LANG=C.UTF-8", f"HOME={home}", f"TMPDIR={tmp}", *env)
    return dict(entry.split("=", 1) for entry in entries)


def _run(
    command: list[str], env: Mapping[str, str], cwd: Path, timeout: float, log: Path
) -> tuple[int | None, str]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            exit_code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            exit_code = None
        finally:
            stop_session(process)
    lines = log.read_bytes().decode("utf-8", "replace").splitlines()
    return exit_code, "\n".join(lines[-_TAIL:])


def stop_session(process: subprocess.Popen[bytes]) -> None:
    """End the run's whole session: a server and anything it started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


def _read_records(
    records: Path, binary: str
) -> tuple[LoaderLog, list[ProcessTrace], tuple[str, ...]]:
    """The app's processes, the loader's log of them, and the other programs that ran."""
    processes = [
        parse_strace(int(path.suffix[1:]), path.read_bytes().decode("latin-1"))
        for path in records.glob("st.*")
    ]
    first = next(
        (p.pid for p in sorted(processes, key=lambda p: p.pid) if p.executed[:1] == (binary,)),
        None,
    )
    mine = app_processes(processes, first, binary) if first is not None else set()
    texts = [
        path.read_bytes().decode("utf-8", "replace")
        for path in records.glob("ld.*")
        if path.suffix[1:].isdigit() and int(path.suffix[1:]) in mine
    ]
    programs = {
        program
        for p in processes
        if p.pid not in mine
        for program in p.executed
        if program != binary
    }
    return parse_loader(texts), [p for p in processes if p.pid in mine], tuple(sorted(programs))


def _sort(
    processes: Sequence[ProcessTrace], loader_log: LoaderLog, private: Sequence[str]
) -> tuple[tuple[TracedPath, ...], tuple[TracedPath, ...], tuple[TracedPath, ...]]:
    """Libraries, data files and skipped paths, each once, sorted by path."""
    libraries: dict[str, TracedPath] = {}
    files: dict[str, TracedPath] = {}
    skipped: dict[str, TracedPath] = {}
    opened = [o for p in processes for o in p.opened]
    opened += [Opened(path) for path in loader_log.initialised]
    for item in opened:
        path = os.path.normpath(item.path) if item.path.startswith("/") else item.path
        if path in libraries or path in files or path in skipped:
            continue
        real = os.path.realpath(path)
        reason = excluded(path, private) or (excluded(real, private) if real != path else None)
        if reason is not None:
            # The dist and the trace's own records are expected: not worth a line.
            if not any(inside(real, root) for root in (private[0], private[-1])):
                skipped[path] = TracedPath(path, reason)
            continue
        if item.directory or os.path.isdir(real):
            skipped[path] = TracedPath(
                path, "a directory: its listing is not copied, the files opened in it are"
            )
        elif not os.path.isfile(real):
            continue  # gone since (the app's own temporary file) or not a file at all
        elif item.writing:
            skipped[path] = TracedPath(path, "opened for writing: the app's output")
        elif _is_elf(real):
            why = loader_log.why.get(os.path.basename(path), "loaded by the app")
            libraries[path] = TracedPath(path, why)
        else:
            files[path] = TracedPath(path, "opened by the app")
    return (
        tuple(sorted(libraries.values(), key=lambda t: t.path)),
        tuple(sorted(files.values(), key=lambda t: t.path)),
        tuple(sorted(skipped.values(), key=lambda t: t.path)),
    )


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False
