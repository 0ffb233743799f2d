"""Roots of other Debian releases, made with ``debootstrap`` and cached on the machine.

Debian 13 (trixie: Python 3.13, glibc 2.41, skopeo 1.18 with sigstore) and sid (Python 3.14)
are where users build today. A root is made once, by the project's own setup script run inside
it (``ci/install-system-packages.sh``: everything on trixie, the build set on sid), and kept in
``/var/cache/pybin2img-roots`` (``PYBIN2IMG_ROOTS_CACHE``) under a key of what went into it: the
suite, the mirror, the script's bytes and this module's recipe. Files that make later runs fast
(pip's wheels, ccache, Nuitka's module cache) are kept beside each root, never inside it.

Commands run in a root through :func:`run_in_root`: a private mount namespace (nothing it mounts
is seen outside, and it all goes away with the process), the root bind-mounted onto itself so
that it is a mount point as schroot and systemd-nspawn make it, ``/proc``, ``/dev``, a fresh
``/tmp``, the host's CA bundle for pip (this machine may reach PyPI through a TLS proxy only the
host trusts), and a clean environment: the host's ``PIP_*`` variables name host paths.

Making a root takes minutes, mostly downloads: :func:`prepare` starts it in a background thread
when the test session starts, so it overlaps with the compiles of other tests.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = Path(os.environ.get("PYBIN2IMG_ROOTS_CACHE", "/var/cache/pybin2img-roots"))
MIRROR = os.environ.get("PYBIN2IMG_DEBIAN_MIRROR", "http://deb.debian.org/debian")
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
SCRIPT = REPO / "ci" / "install-system-packages.sh"
#: Changes whenever the steps below change what a root holds.
RECIPE = "3"
#: Where the kept files (pip, ccache, Nuitka's module cache) appear inside a root.
KEPT_IN_ROOT = "/var/cache/pybin2img-kept"
#: Where a test's work directory (a copy of the source, venvs, outputs) appears inside a root.
WORK_IN_ROOT = "/work"
#: Where the repository's ci/ scripts appear inside a root.
CI_IN_ROOT = "/opt/pybin2img-ci"
#: A PATH for commands in a root (never the host's).
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Suite:
    """A Debian release a root is made of."""

    name: str
    #: The Python its ``python3`` is (``3.13``).
    python: str
    #: Which set of ``ci/install-system-packages.sh`` goes in: ``all`` or ``build``.
    packages: str
    #: Its Release file is past Valid-Until on some mirrors (sid's, here).
    ignore_valid_until: bool = False


SUITES = {
    "trixie": Suite("trixie", "3.13", "all"),
    "sid": Suite("sid", "3.14", "build", ignore_valid_until=True),
}


class RootError(Exception):
    """A root could not be made; the message holds the failing step and its output's tail."""


def key(suite: Suite) -> str:
    digest = hashlib.sha256()
    for part in (suite.name, suite.packages, MIRROR, RECIPE, SCRIPT.read_bytes().hex()):
        digest.update(str(part).encode() + b"\0")
    return digest.hexdigest()[:16]


def root_path(suite: Suite) -> Path:
    return ROOTS / f"{suite.name}-{key(suite)}" / "root"


def kept_path(suite: Suite) -> Path:
    """pip's wheels, ccache and Nuitka's module cache for builds in the root; kept between runs
    (per suite, not per key: a new root reuses them)."""
    return ROOTS / f"{suite.name}-kept"


_threads: dict[str, threading.Thread] = {}
_errors: dict[str, Exception] = {}
_guard = threading.Lock()


def prepare(names: Sequence[str]) -> None:
    """Start making the roots ``names`` in the background (a no-op for those ready or started)."""
    with _guard:
        for name in names:
            if name in _threads:
                continue
            thread = threading.Thread(target=_make_recorded, args=(name,), daemon=True)
            _threads[name] = thread
            thread.start()


def debian_root(name: str) -> Path:
    """The root of ``name`` (``trixie``, ``sid``), made now if no background thread made it."""
    prepare([name])
    _threads[name].join()
    if name in _errors:
        raise RootError(str(_errors[name])) from _errors[name]
    return root_path(SUITES[name])


def _make_recorded(name: str) -> None:
    try:
        make_root(SUITES[name])
    except Exception as exc:  # noqa: BLE001 - reported by debian_root, in the test that needs it
        _errors[name] = exc


def make_root(suite: Suite) -> Path:
    """Make (or find) the cached root of ``suite``; safe to call from several processes."""
    root = root_path(suite)
    entry = root.parent
    if (entry / ".ready").is_file():
        return root
    ROOTS.mkdir(parents=True, exist_ok=True)
    with open(ROOTS / f".{suite.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (entry / ".ready").is_file():
            return root
        # What a run killed while making this root left behind (the lock is ours, and every
        # program that ran for it held the lock too, so none of them still runs).
        for stale in ROOTS.glob(f".{suite.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{suite.name}-", dir=ROOTS))
        staging.chmod(0o755)
        try:
            _debootstrap(suite, staging / "root", lock.fileno())
            # Older roots of this suite go: they are several hundred MB each.
            for old in ROOTS.glob(f"{suite.name}-*"):
                if old.name != f"{suite.name}-kept" and old != entry:
                    shutil.rmtree(old, ignore_errors=True)
            shutil.rmtree(entry, ignore_errors=True)
            (staging / ".ready").write_text(f"{suite.name} {key(suite)}\n")
            os.replace(staging, entry)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return root


def _debootstrap(suite: Suite, root: Path, lock: int) -> None:
    """Make the root; every program run for it holds ``lock`` (inherits the descriptor), so a
    test session killed meanwhile does not let another one start on the same directory."""
    for program in ("debootstrap", "unshare", "chroot"):
        if not shutil.which(program):
            raise RootError(f"{program} is not installed (ci/install-system-packages.sh)")
    _step(
        [
            "unshare",
            "--mount",
            "debootstrap",
            "--variant=minbase",
            "--include=ca-certificates",
            suite.name,
            str(root),
            MIRROR,
        ],
        f"debootstrap {suite.name}",
        timeout=1800,
        lock=lock,
    )
    if suite.ignore_valid_until:
        (root / "etc/apt/apt.conf.d/99pybin2img-valid-until").write_text(
            'Acquire::Check-Valid-Until "false";\n'
        )
    # No service starts inside the root: its packages' scripts would start them on the host's
    # network (docker-registry, redis).
    (root / "usr/sbin/policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (root / "usr/sbin/policy-rc.d").chmod(0o755)
    (root / "opt/ci").mkdir(parents=True)
    shutil.copy2(SCRIPT, root / "opt/ci" / SCRIPT.name)
    args = [] if suite.packages == "all" else [suite.packages]
    # Mount points for what runs in the root later: a test's work directory, the kept files,
    # the repository's ci/ scripts, the engine's socket.
    for directory in (WORK_IN_ROOT, KEPT_IN_ROOT, CI_IN_ROOT):
        (root / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    inside(root, "/var/run/docker.sock").touch()
    _step(
        run_in_root_argv(root, ["/opt/ci/install-system-packages.sh", *args], writable=True),
        f"ci/install-system-packages.sh {' '.join(args)} in the {suite.name} root",
        timeout=1800,
        lock=lock,
    )


def inside(root: Path, path: str) -> Path:
    """The host path of ``path`` as seen inside ``root``: symlinks on the way are followed
    within the root (``/var/run -> /run`` must not lead to the host's ``/run``)."""
    resolved = Path(root)
    parts = [p for p in path.split("/") if p and p != "."]
    for _ in range(64):
        if not parts:
            return resolved
        part = parts.pop(0)
        if part == "..":
            resolved = resolved.parent if resolved != root else resolved
            continue
        candidate = resolved / part
        if candidate.is_symlink():
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p and p != "."] + parts
            if target.startswith("/"):
                resolved = Path(root)
            continue
        resolved = candidate
    raise RootError(f"too many symbolic links resolving {path} in {root}")


def run_in_root_argv(
    root: Path,
    argv: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    binds: Mapping[str, str] | None = None,
    own_mount: bool = True,
    writable: bool = False,
    cwd: str = "/",
    sysfs: bool = False,
    own_network: bool = False,
) -> list[str]:
    """The argv that runs ``argv`` inside ``root``: see the module's docstring.

    ``env`` adds to (or, with ``None``, removes from) the clean environment: PATH, HOME, LANG
    and the host's CA bundle for pip, requests and OpenSSL (``SSL_CERT_FILE``).
    ``binds``: host path -> path in the root, bind-mounted read-write (created when missing).
    ``own_mount``: the root is a mount point (without: a directory inside one, as a plain
    ``chroot`` into a directory makes it). ``writable``: the root itself may be written (only
    while it is made: a cached root stays as it was made, whatever runs in it later).
    ``sysfs``: the host's ``/sys`` with its cgroup hierarchy (an engine that runs containers
    needs it). ``own_network``: a network namespace of its own, empty.
    """
    environment = {
        "PATH": ROOT_PATH,
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PIP_CERT": "/tmp/host-ca.crt",
        "SSL_CERT_FILE": "/tmp/host-ca.crt",
        "REQUESTS_CA_BUNDLE": "/tmp/host-ca.crt",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_ROOT_USER_ACTION": "ignore",
        **{k: v for k, v in os.environ.items() if k.lower() in ("http_proxy", "https_proxy")},
    }
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    # Without its own mount the root is a directory inside one (its parent's), read-only too.
    mount = '"$R"' if own_mount else '"$(dirname "$R")"'
    lines = ["set -e", 'R="$1"; shift', f"mount --bind {mount} {mount}"]
    if not writable:
        lines.append(f"mount -o remount,bind,ro {mount}")
    lines += [
        'mount -t proc proc "$R/proc"',
        'mount --rbind /dev "$R/dev"',
        *(['mount --rbind /sys "$R/sys"'] if sysfs else []),
        'mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"',
    ]
    if HOST_CA.is_file():
        lines.append(f'cp {shlex.quote(str(HOST_CA))} "$R/tmp/host-ca.crt"')
    for host, where in (binds or {}).items():
        target = inside(root, where)
        if not target.exists():
            if not writable:
                raise RootError(f"{where} does not exist in the read-only root {root}")
            lines.append(
                f"mkdir -p {shlex.quote(str(target))}"
                if Path(host).is_dir()
                else f"touch {shlex.quote(str(target))}"
            )
        lines.append(f"mount --bind {shlex.quote(host)} {shlex.quote(str(target))}")
    lines.append(f'exec chroot "$R" sh -c \'cd "$1"; shift; exec "$@"\' sh {shlex.quote(cwd)}')
    script = "; ".join(lines[:-1]) + "; " + lines[-1] + ' env -i "$@"'
    return [
        "unshare",
        "--mount",
        *(["--net"] if own_network else []),
        "sh",
        "-c",
        script,
        "sh",
        str(root),
        *(f"{k}={v}" for k, v in environment.items()),
        *argv,
    ]


def run_in_root(
    root: Path,
    argv: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    binds: Mapping[str, str] | None = None,
    own_mount: bool = True,
    cwd: str = "/",
    timeout: float = 1800,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` inside ``root``, read-only (see :func:`run_in_root_argv`); output captured
    as text."""
    return subprocess.run(
        run_in_root_argv(root, argv, env=env, binds=binds, own_mount=own_mount, cwd=cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _step(argv: Sequence[str], what: str, *, timeout: float, lock: int) -> None:
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, pass_fds=(lock,)
        )
    except subprocess.TimeoutExpired as exc:
        raise RootError(f"{what}: still running after {timeout:g}s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RootError(f"{what} failed ({proc.returncode}):\n{tail}")
