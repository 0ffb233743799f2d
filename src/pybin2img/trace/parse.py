"""What a traced run's records say: pure functions over strace's and the loader's text.

strace (``-ff``: one file per process) gives every ``open``/``openat``/``openat2`` that
succeeded, every ``execve`` and every fork; glibc's ``LD_DEBUG=files`` gives, per process, which
object was loaded and why (``needed by`` / ``dynamically loaded by``) and the paths of the
objects it initialised. Only the app's own processes count: a process that ``exec``\\ s another
program (``/sbin/ldconfig`` run by ``ctypes.util.find_library``, a shell), and its children, are
that program's, and only reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: ``openat(AT_FDCWD, "/etc/x", O_RDONLY|O_CLOEXEC) = 3`` (and ``open``/``openat2``), succeeded.
_OPEN = re.compile(
    r'^(?:open|openat|openat2)\((?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)"(?:, ([^)]*))?\)\s*=\s*(\d+)'
)
_EXEC = re.compile(r'^execve(?:at)?\((?:AT_FDCWD, )?"((?:[^"\\]|\\.)*)".*\)\s*=\s*0\b')
_FORK = re.compile(r"^(?:clone3?|fork|vfork)\(.*\)\s*=\s*(\d+)\b")
_LD_LOAD = re.compile(
    r"^\s*\d+:\s+file=(\S+) \[\d+\];\s+(needed|dynamically loaded) by (\S+) \[\d+\]"
)
_LD_INIT = re.compile(r"^\s*\d+:\s+calling init: (\S+)")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f"}

#: Paths the image must never take from the build machine, whatever the app opened: the
#: kernel's and the engine's (mounted into every container), the loader's own configuration,
#: and the machine's identity and time zone.
NEVER_ADDED = (
    "/proc",
    "/sys",
    "/dev",
    "/run",
    "/tmp",
    "/var/tmp",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/etc/mtab",
    "/etc/machine-id",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.preload",
)


@dataclass(frozen=True)
class Opened:
    """A file a process opened: its path as given, and whether it asked for a directory."""

    path: str
    directory: bool = False
    #: Opened to write (``O_WRONLY``, ``O_RDWR``, ``O_CREAT``): the app's output, not its input.
    writing: bool = False


@dataclass(frozen=True, kw_only=True)
class ProcessTrace:
    """One process's strace record."""

    pid: int
    opened: tuple[Opened, ...] = ()
    #: Programs it ``exec``\\ ed (successfully), in order.
    executed: tuple[str, ...] = ()
    #: Processes it started.
    children: tuple[int, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LoaderLog:
    """What the loader said in the app's processes."""

    #: Basename of each object loaded -> why (``dlopen by /app/_ctypes.so``).
    why: Mapping[str, str]
    #: Paths of the objects it initialised (``calling init:``).
    initialised: tuple[str, ...]


def unescape(text: str) -> str:
    """A string as strace prints it (C escapes) back to the path."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code.isdigit():
            return chr(int(code, 8))
        return _SIMPLE_ESCAPES.get(code, code)

    raw = _ESCAPE.sub(one, text)
    # strace prints bytes; paths are bytes on Linux: decode them as the os module does.
    return raw.encode("latin-1").decode("utf-8", "surrogateescape")


def parse_strace(pid: int, text: str) -> ProcessTrace:
    """One ``strace -ff`` file: the files the process opened, what it ran and started."""
    opened: list[Opened] = []
    executed: list[str] = []
    children: list[int] = []
    for line in text.splitlines():
        if match := _OPEN.match(line):
            flags = match.group(2) or ""
            opened.append(
                Opened(
                    unescape(match.group(1)),
                    directory="O_DIRECTORY" in flags,
                    writing=any(f in flags for f in ("O_WRONLY", "O_RDWR", "O_CREAT")),
                )
            )
        elif match := _EXEC.match(line):
            executed.append(unescape(match.group(1)))
        elif match := _FORK.match(line):
            children.append(int(match.group(1)))
    return ProcessTrace(
        pid=pid, opened=tuple(opened), executed=tuple(executed), children=tuple(children)
    )


def app_processes(processes: Iterable[ProcessTrace], first: int, binary: str) -> set[int]:
    """The pids that ran the app: the first process and those it started, except any that
    ``exec``\\ ed a program other than ``binary`` (and everything those started)."""
    by_pid = {p.pid: p for p in processes}
    mine: set[int] = set()
    queue = [first]
    while queue:
        pid = queue.pop()
        process = by_pid.get(pid)
        if process is None or pid in mine:
            continue
        # The first exec is the app's own start (strace's child running the binary).
        runs = process.executed[1:] if pid == first else process.executed
        if any(program != binary for program in runs):
            continue
        mine.add(pid)
        queue.extend(process.children)
    return mine


def parse_loader(texts: Iterable[str]) -> LoaderLog:
    """``LD_DEBUG=files`` output of the app's processes: why each object was loaded, and the
    objects initialised. A ``dlopen`` wins over ``needed by`` as the reason."""
    why: dict[str, str] = {}
    initialised: list[str] = []
    for text in texts:
        for line in text.splitlines():
            if match := _LD_LOAD.match(line):
                name, how, requester = match.groups()
                base = name.rsplit("/", 1)[-1]
                reason = (
                    f"dlopen({name}) by {requester}"
                    if how == "dynamically loaded"
                    else f"needed by {requester}"
                )
                if base not in why or how == "dynamically loaded":
                    why[base] = reason
            elif match := _LD_INIT.match(line):
                initialised.append(match.group(1))
    return LoaderLog(why=why, initialised=tuple(dict.fromkeys(initialised)))


def inside(path: str, directory: str) -> bool:
    """Whether ``path`` is ``directory`` or below it (both absolute, normalised)."""
    directory = directory.rstrip("/") or "/"
    return directory in ("/", path) or path.startswith(directory + "/")


def excluded(path: str, private: Sequence[str]) -> str | None:
    """Why ``path`` must not go into the image, or ``None`` when it may.

    ``private`` are the build's own places (the dist, the build tree, home, the temp and cache
    directories), checked before the fixed :data:`NEVER_ADDED` list.
    """
    if not path.startswith("/"):
        return "a relative path (the run's working directory)"
    for root in private:
        if inside(path, root):
            return f"under {root}, which is the build's own"
    for root in NEVER_ADDED:
        if inside(path, root):
            return f"under {root}, which the kernel, the engine or the machine provides"
    return None
