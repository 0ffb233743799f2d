"""Smoke test: run the finished image once, locked down, before anything is shipped.

In the Docker engine when one is reachable (``--read-only --network none --cap-drop ALL`` as the
image's user); otherwise in private namespaces (mount, PID, network, IPC, UTS) rooted at the
image's files, with a read-only root. The build fails when the app exits non-zero or its output
shows a failed import or a missing shared object, which some packages only print as a warning.
A program still running when the time is up (a server) passes if its output so far is clean.

Without ``--smoke-test`` the build makes a *start check* (``--no-start-check`` turns it off): the
same run with the image's own arguments, where only the signs of a broken image fail it (those
patterns, a crash); a non-zero exit alone is the app's business (a CLI that wants arguments, a
service missing its configuration). Where neither an engine nor namespaces can run the image,
the start check is skipped with a warning.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, SmokeTestError
from ..log import Log
from ..oci.archive import open_archive
from .load import docker_client

if TYPE_CHECKING:
    from ..oci.write import WrittenImage
    from ..options import BuildOptions

#: Output that means the app is broken even when it exits 0.
FAILURE_PATTERNS = re.compile(
    r"ModuleNotFoundError|ImportError|No module named|cannot open shared object file"
    r"|error while loading shared libraries|failed unexpectedly despite"
    r"|RequestsDependencyWarning|Fatal Python error|Segmentation fault"
    # uvicorn's and python-magic-like "module:app" and ctypes library lookups
    r"|Could not import module|failed to find lib[\w.+-]+"
)
_TAIL = 15
#: The devices the namespace run binds into the image's /dev (what engines give a container).
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
#: Exit codes of a process killed by SIGILL, SIGABRT, SIGBUS, SIGFPE or SIGSEGV (as the engine,
#: tini and a shell report them): a crash, never the app's own choice.
CRASH_CODES = frozenset(128 + n for n in (4, 6, 7, 8, 11))


@dataclass(frozen=True, kw_only=True)
class SmokeResult:
    """How the smoke run went."""

    where: str
    exit_code: int | None
    output: str
    #: True when the app was still running at the timeout (a server) and was stopped.
    still_running: bool = False


def run_smoke_test(options: BuildOptions, written: WrittenImage, log: Log) -> str:
    """The build's smoke test (``--smoke-test``), or its start check: in the engine when one
    is reachable, else in private namespaces; return its one-line summary.

    The start check of an image whose exact bytes already passed it (a rebuild with nothing
    changed: same manifest digest) is not run again; ``--smoke-test`` always runs.
    """
    strict = options.smoke_test is not None
    passed = _verdict_path(options, written)
    if not strict and passed.is_file():
        with contextlib.suppress(OSError):
            os.utime(passed)  # used now: `cache prune` removes the least recently used first
        return "start check: this exact image passed it before"
    summary = _run(options, written, log, strict=strict)
    if not strict and summary != _SKIPPED:
        with contextlib.suppress(OSError):  # a record only saves time; never fail for it
            passed.parent.mkdir(parents=True, exist_ok=True)
            passed.write_text(summary + "\n", encoding="utf-8")
    return summary


_SKIPPED = "start check skipped"


def _verdict_path(options: BuildOptions, written: WrittenImage) -> Path:
    """Where a passed start check of this image (with this timeout) is recorded."""
    digest = written.manifest_digest.partition(":")[2]
    return options.cache_dir / "checks" / f"{digest}-{options.smoke_timeout:g}"


def _run(options: BuildOptions, written: WrittenImage, log: Log, *, strict: bool) -> str:
    try:
        docker_client(options.docker_env).close()
        engine = True
    except EngineError:
        engine = False
    problem = None if engine else _namespace_problem()
    if not strict and problem is not None:
        log.warning(
            "the image was not started: no Docker engine is reachable and no private "
            f"namespaces can be made here ({problem}), so a broken image would go unnoticed "
            "(--no-start-check: do not try)"
        )
        return _SKIPPED
    result = smoke_test(
        tarball=written.path,
        image_id=written.config_digest,
        args=shlex.split(options.smoke_test or ""),
        timeout=options.smoke_timeout,
        docker_env=options.docker_env,
        engine=engine,
        strict=strict,
    )
    what = "" if strict else "start check, "
    if result.still_running:
        return f"{what}{result.where}: still running after {options.smoke_timeout:g}s, stopped"
    if result.exit_code:
        return (
            f"{what}{result.where}: exit code {result.exit_code}, no sign of a broken image "
            "(--smoke-test=ARGS runs it with arguments and wants exit code 0)"
        )
    return f"{what}{result.where}: exit code 0"


def namespaces_available() -> bool:
    """Whether private namespaces can be made here, as the namespace run makes them."""
    return _namespace_problem() is None


def _namespace_problem() -> str | None:
    """Why no private namespaces can be made here (``unshare``'s own words), or ``None``.

    Without root they are made inside a user namespace, which the kernel or a security module
    may refuse to unprivileged users.
    """
    for program in ("unshare", "mount"):
        if not shutil.which(program):
            return f"{program} is not installed"
    rootless = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
    argv = ["unshare", *rootless, "--mount", "--pid", "--fork", "--net", "--ipc", "--uts", "true"]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    said = (proc.stderr.strip().splitlines() or ["unshare failed"])[-1]
    if "propagation" in said:
        # In a chroot whose root is a plain directory, not a mount point: mounts made there
        # could not be kept from reaching the machine's own namespace, so none are made.
        return (
            f"{said}: / is not a mount point here (a chroot into a plain directory); "
            "bind-mount the root onto itself before entering it (mount --bind ROOT ROOT), as "
            "schroot and systemd-nspawn do"
        )
    return said


def smoke_test(
    *,
    tarball: Path,
    image_id: str,
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
    engine: bool,
    strict: bool = True,
) -> SmokeResult:
    """Run the image once; raise :class:`SmokeTestError` when it fails.

    ``engine``: use the Docker engine (the caller checked it is reachable); otherwise run in
    private namespaces. ``strict``: a non-zero exit fails too, not only a crash or the output
    of a broken image (:data:`FAILURE_PATTERNS`).
    """
    if engine:
        result = _run_in_engine(tarball, image_id, args, timeout, docker_env)
    else:
        result = _run_in_namespace(tarball, args, timeout)
    tail = "\n".join(f"  | {line}" for line in result.output.splitlines()[-_TAIL:])
    crashed = result.exit_code in CRASH_CODES
    if result.exit_code not in (0, None) and not result.still_running and (strict or crashed):
        raise SmokeTestError(
            f"smoke test ({result.where}): the app exited with code {result.exit_code}",
            details=tail,
        )
    match = FAILURE_PATTERNS.search(result.output)
    if match:
        raise SmokeTestError(
            f"smoke test ({result.where}): the output shows {match.group(0)!r}", details=tail
        )
    return result


def _run_in_engine(
    tarball: Path, image_id: str, args: Sequence[str], timeout: float, docker_env: Mapping[str, str]
) -> SmokeResult:
    import docker
    import requests

    client = docker_client(docker_env)
    previous: dict[str, str | None] | None = None
    try:
        try:
            client.images.get(image_id)
        except docker.errors.ImageNotFound:
            previous = _tag_targets(client, _repo_tags(tarball))
            with tarball.open("rb") as f:
                client.images.load(f)
        container = client.containers.create(
            image_id,
            command=list(args),
            network_mode="none",
            read_only=True,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
        try:
            container.start()
            still_running = False
            try:
                status: dict[str, Any] = container.wait(timeout=timeout)
            except requests.exceptions.RequestException as exc:
                if not _timed_out(exc):
                    raise
                still_running = True
                container.stop(timeout=5)
                code: int | None = None
            else:
                error = (status.get("Error") or {}).get("Message")
                if error:
                    raise EngineError(f"smoke test: the Docker engine failed: {error}")
                code = int(status.get("StatusCode", 1))
            output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        finally:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                # v: with the anonymous volume the engine made for /tmp (the image's volume).
                container.remove(force=True, v=True)  # an engine gone meanwhile fails anyway
    except docker.errors.APIError as exc:
        raise EngineError(
            f"smoke test: the Docker engine failed: {exc.explanation or exc}"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"smoke test: the Docker engine failed: {exc}") from exc
    finally:
        if previous is not None:
            _restore(client, previous, image_id)
        client.close()
    return SmokeResult(
        where="Docker engine", exit_code=code, output=output, still_running=still_running
    )


def _timed_out(exc: BaseException) -> bool:
    """``container.wait`` gave up at its timeout: the app is still running.

    The engine sends the response's headers at once and its body when the container exits, so
    the timeout strikes while reading the body, where requests reports urllib3's
    ``ReadTimeoutError`` as a ``ConnectionError``; before the headers it is a ``ReadTimeout``.
    """
    import requests
    import urllib3

    if isinstance(exc, requests.exceptions.ReadTimeout):
        return True
    return isinstance(exc, requests.exceptions.ConnectionError) and any(
        isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args
    )


def _repo_tags(tarball: Path) -> tuple[str, ...]:
    with open_archive(tarball) as archive:
        return archive.repo_tags


def _tag_targets(client: Any, tags: Sequence[str]) -> dict[str, str | None]:
    """Which image each tag names now (``None``: the tag does not exist)."""
    import docker

    targets: dict[str, str | None] = {}
    for tag in tags:
        try:
            targets[tag] = client.images.get(tag).id
        except docker.errors.ImageNotFound:
            targets[tag] = None
    return targets


def _restore(client: Any, previous: Mapping[str, str | None], image_id: str) -> None:
    """Undo the load the smoke test needed: the user did not ask for the image in the engine.

    Tags that named another image before point at it again; the tested image is removed.
    """
    import docker
    import requests

    # Best effort: an engine that went away meanwhile already failed the smoke test.
    errors = (docker.errors.DockerException, requests.exceptions.RequestException)
    for tag, old in previous.items():
        with contextlib.suppress(*errors):
            if old is not None:
                client.images.get(old).tag(tag)
            else:
                client.images.remove(tag)
    with contextlib.suppress(*errors):  # still tagged elsewhere: leave it
        client.images.remove(image_id)


def _run_in_namespace(tarball: Path, args: Sequence[str], timeout: float) -> SmokeResult:
    problem = _namespace_problem()
    if problem is not None:
        raise SmokeTestError(
            "smoke test: no Docker engine is reachable, and no private namespaces can be made "
            f"here to run the image in ({problem}); give this user a Docker engine, allow "
            "unprivileged user namespaces, or run as root"
        )
    with tempfile.TemporaryDirectory(prefix="pybin2img-smoke-") as tmp:
        root = Path(tmp) / "rootfs"
        config = _extract(tarball, root)
        run = config.get("config", {})
        command = [*run.get("Entrypoint", []), *(args or run.get("Cmd") or [])]
        user = run.get("User") or "0"
        uid, _, gid = user.partition(":")
        env = dict(entry.split("=", 1) for entry in run.get("Env", []) if "=" in entry)
        # In fresh namespaces: a read-only bind of the root and a /proc for the new PID space,
        # then the command inside that root, in its working directory, as the image's user.
        # No network peers: the new network namespace has only loopback. Without root, the
        # namespaces are made in a user namespace where the caller is root, and the command
        # runs in a nested one that maps the image's user to the caller.
        rootless = os.geteuid() != 0
        become = (
            '--map-user="$uid" --map-group="$gid"'
            if rootless
            else '--setuid="$uid" --setgid="$gid"'
        )
        # The image's volumes (/tmp) are writable, as the engine's anonymous volumes are.
        volumes = "".join(
            f'mount -t tmpfs -o mode=1777 tmpfs "$1"{shlex.quote(volume)}; '
            for volume in sorted(run.get("Volumes") or {})
            if volume.startswith("/") and _directory_inside(root, volume)
        )
        # A minimal /dev, as engines make it: a tmpfs with the host's harmless devices bound
        # in (ctypes.util.find_library opens /dev/null to run ldconfig; os.urandom, ttys).
        devices = "".join(
            f'touch "$1/dev/{d}"; mount --bind /dev/{d} "$1/dev/{d}"; ' for d in DEVICES
        )
        script = (
            'set -e; mount --make-rprivate /; mount --bind "$1" "$1"; '
            'mount -o remount,bind,ro "$1"; mount -t proc proc "$1/proc"; '
            'mount -t tmpfs -o mode=755,nosuid,size=64k tmpfs "$1/dev"; '
            f"{devices}"
            'ln -s /proc/self/fd "$1/dev/fd"; ln -s /proc/self/fd/0 "$1/dev/stdin"; '
            'ln -s /proc/self/fd/1 "$1/dev/stdout"; ln -s /proc/self/fd/2 "$1/dev/stderr"; '
            'mkdir "$1/dev/shm"; '
            'mount -t tmpfs -o mode=1777,nosuid,nodev,size=64m shm "$1/dev/shm"; '
            f"{volumes}"
            'root="$1"; wd="$2"; uid="$3"; gid="$4"; shift 4; '
            f'exec unshare {"--user " if rootless else ""}--root="$root" --wd="$wd" {become} "$@"'
        )
        for mount_point in ("proc", "dev"):
            if not (root / mount_point).is_dir() or (root / mount_point).is_symlink():
                (root / mount_point).unlink(missing_ok=True)
                (root / mount_point).mkdir()
        argv = [
            "unshare",
            *(["--user", "--map-root-user"] if rootless else []),
            "--mount",
            "--pid",
            "--fork",
            "--net",
            "--ipc",
            "--uts",
            "sh",
            "-c",
            script,
            "sh",
            str(root),
            run.get("WorkingDir") or "/",
            uid,
            gid or uid,
            *command,
        ]
        try:
            proc = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else (exc.stdout or b"").decode()
            return SmokeResult(
                where="private namespaces", exit_code=None, output=output, still_running=True
            )
    return SmokeResult(
        where="private namespaces", exit_code=proc.returncode, output=proc.stdout + proc.stderr
    )


def _directory_inside(root: Path, path: str) -> bool:
    """Whether ``path`` of the image is a directory in ``root`` itself, not through a link
    that leads out of it (a mount there must not land on the build machine's files)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / path.lstrip("/"))
    return os.path.commonpath([real_root, real]) == real_root and os.path.isdir(real)


def _extract(tarball: Path, root: Path) -> dict[str, Any]:
    """Unpack the image's layers in order into ``root``; return its config."""
    root.mkdir(parents=True)
    with open_archive(tarball) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                tar = stream.tar()
                if hasattr(tarfile, "tar_filter"):
                    tar.extractall(root, numeric_owner=True, filter="tar")
                else:
                    members = _inside(tar, root)  # checked one by one as they are unpacked
                    tar.extractall(root, members=members, numeric_owner=True)  # noqa: S202
        return archive.config_document


def _inside(members: Iterable[tarfile.TarInfo], root: Path) -> Iterator[tarfile.TarInfo]:
    """What ``filter="tar"`` does, for Pythons without extraction filters (before 3.11.4 and
    3.10.12, such as Debian 12's 3.11.2): no member lands outside ``root``, through ``..``, an
    absolute name or a symlink unpacked before it, and no setuid, setgid, sticky or group- and
    world-writable modes. Members are checked as they are unpacked, so links are seen."""
    real_root = os.path.realpath(root)

    def outside(name: str) -> bool:
        path = os.path.realpath(os.path.join(real_root, name.lstrip("/")))
        return os.path.commonpath([real_root, path]) != real_root

    for member in members:
        if outside(member.name) or (member.islnk() and outside(member.linkname)):
            raise SmokeTestError(
                f"smoke test: the image's layer member {member.name!r} would be unpacked "
                "outside its root"
            )
        member.name = member.name.lstrip("/")
        member.mode &= ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWGRP | stat.S_IWOTH)
        yield member
