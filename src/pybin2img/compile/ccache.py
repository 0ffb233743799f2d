"""ccache for the C compiles Nuitka runs: its remote storage tried before use, its counts read
after.

ccache keeps its results in pybin2img's cache first (``nuitka/ccache/<python>``: Nuitka sets
``CCACHE_DIR`` there). With ``CCACHE_REMOTE_STORAGE`` (or ``--ccache-remote-storage``) it also
looks results up in, and stores them to, a storage every CI runner reaches, such as a Redis
server. A storage that does not answer would cost each C file ccache's own time-outs, so it is
tried once before the compile: one that is down, slow or refuses the password is left out with
one warning line, and the compile goes on with the local cache alone.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..log import Log

#: ccache's names for the remote storage setting: today's, then the one before 4.7.
_SETTINGS = ("CCACHE_REMOTE_STORAGE", "CCACHE_SECONDARY_STORAGE")
#: Seconds a storage may take to connect, and again to answer.
TIMEOUT = 2.0


def checked_remote(env: Mapping[str, str], log: Log, timeout: float = TIMEOUT) -> dict[str, str]:
    """``env`` (ccache's settings) without the remote storages that do not answer."""
    checked = dict(env)
    for setting in _SETTINGS:
        urls = checked.get(setting, "").split()
        if not urls:
            continue
        kept = []
        for url in urls:
            problem = probe(url, timeout)
            if problem is None:
                kept.append(url)
                log.detail(f"ccache remote storage {redacted(url)} answers")
            else:
                log.warning(
                    f"ccache remote storage {redacted(url)}: {problem}; the C compiles use the "
                    "local ccache only"
                )
        if kept:
            checked[setting] = " ".join(kept)
        else:
            del checked[setting]
    return checked


def probe(url: str, timeout: float = TIMEOUT) -> str | None:
    """Why the storage ``url`` (with ccache's ``|attribute`` suffixes) cannot serve, or
    ``None`` when it answers. Redis gets ``AUTH`` (when the URL has a password) and ``PING``,
    an HTTP storage a ``HEAD /``; other kinds (``file:``) are left to ccache."""
    parts = urlsplit(url.split("|", 1)[0])
    try:
        if parts.scheme == "redis":
            address: tuple[str, int] | str = (parts.hostname or "localhost", parts.port or 6379)
            return _redis(address, parts.username, parts.password, timeout)
        if parts.scheme == "redis+unix":
            return _redis(parts.path, parts.username, parts.password, timeout)
        if parts.scheme == "http":
            return _http((parts.hostname or "localhost", parts.port or 80), timeout)
    except TimeoutError:
        return f"no answer within {timeout:g}s"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    return None


def _redis(
    address: tuple[str, int] | str, user: str | None, password: str | None, timeout: float
) -> str | None:
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    if family == socket.AF_INET and ":" in address[0]:
        family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        if password is not None:
            credentials = [unquote(user)] if user else []
            reply = _command(sock, "AUTH", *credentials, unquote(password))
            if not reply.startswith("+"):
                return f"refused the password ({reply[1:]})"
        reply = _command(sock, "PING")
        if reply.startswith("+PONG"):
            return None
        return f"refused ({reply[1:]})" if reply.startswith("-") else f"answered {reply!r}"


def _command(sock: socket.socket, *words: str) -> str:
    """One Redis command; its one-line reply (``+OK``, ``-NOAUTH …``)."""
    request = f"*{len(words)}\r\n".encode()
    for word in words:
        data = word.encode()
        request += b"$%d\r\n%s\r\n" % (len(data), data)
    sock.sendall(request)
    reply = b""
    while not reply.endswith(b"\r\n"):
        data = sock.recv(4096)
        if not data:
            raise OSError("the connection was closed")
        reply += data
        if len(reply) > 65536:
            break
    return reply.decode(errors="replace").split("\r\n", 1)[0]


def _http(address: tuple[str, int], timeout: float) -> str | None:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(b"HEAD / HTTP/1.0\r\nHost: %s\r\n\r\n" % address[0].encode())
        if not sock.recv(64).startswith(b"HTTP/"):
            return "does not answer HTTP"
    return None


def redacted(url: str) -> str:
    """``url`` without its password (and ccache's attributes)."""
    parts = urlsplit(url.split("|", 1)[0])
    if parts.password is None:
        return parts.geturl()
    host = parts.hostname or ""
    netloc = f"{parts.username + '@' if parts.username else ''}{host}"
    netloc += f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=netloc).geturl()


# --- how ccache served a compile ---------------------------------------------------------------


@contextmanager
def ccache_report(env: Mapping[str, str], nuitka_cache: Path, log: Log) -> Iterator[None]:
    """With ``-v``: after the block, one line on how ccache served its C compiles (local hits,
    remote hits, compiled), from ``ccache --print-stats`` before and after."""
    ccache = shutil.which("ccache")
    if not log.verbose or ccache is None:
        yield
        return
    before = _stats(ccache, _directories(env, nuitka_cache))
    yield
    after = _stats(ccache, _directories(env, nuitka_cache))
    delta = Counter({k: after[k] - before[k] for k in after})
    files = delta["direct_cache_hit"] + delta["preprocessed_cache_hit"] + delta["cache_miss"]
    remote = next((env[s] for s in _SETTINGS if env.get(s)), None)
    line = (
        f"ccache: {files} C files: {delta['local_storage_hit']} local hits, "
        f"{delta['remote_storage_hit']} remote hits, {delta['cache_miss']} compiled"
    )
    if remote:
        line += f" (remote storage {' '.join(redacted(u) for u in remote.split())}"
        failures = delta["remote_storage_error"] + delta["remote_storage_timeout"]
        line += f", {failures} errors)" if failures else ")"
    log.detail(line)


def _directories(env: Mapping[str, str], nuitka_cache: Path) -> list[Path]:
    """ccache's directories: ``CCACHE_DIR`` when set, else Nuitka's, one per Python."""
    if env.get("CCACHE_DIR"):
        return [Path(env["CCACHE_DIR"])]
    try:
        return sorted(p for p in (nuitka_cache / "ccache").iterdir() if p.is_dir())
    except OSError:
        return []


def _stats(ccache: str, directories: list[Path]) -> Counter[str]:
    total: Counter[str] = Counter()
    for directory in directories:
        try:
            proc = subprocess.run(
                [ccache, "--print-stats"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                env={"CCACHE_DIR": str(directory), "PATH": "/usr/bin:/bin"},
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in proc.stdout.splitlines():
            name, _, value = line.partition("\t")
            if value.strip().isdigit():
                total[name] += int(value)
    return total
