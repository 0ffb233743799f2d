"""Running the finished image once, locked down, with no verdict (the smoke test's and
``--compare``'s run): in the Docker engine when one is reachable (``--read-only --network none
--cap-drop ALL`` as the image's user, its tags restored afterwards), otherwise in private
namespaces (mount, PID, network, IPC, UTS) rooted at the image's extracted files, with a
read-only root. :class:`SmokeResult` is how the run went; ``smoke`` judges it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import EngineError, SmokeTestError
from ..oci import LayerBlob, open_archive
from .load import docker_client, find_image, has_zstd, zstd_problem

#: The repository of the tags that keep an engine's images while the smoke test loads its own.
_KEEP = "pybin2img-start-check-keep"
#: How many lines of a run's output an error shows.
_TAIL = 15
#: The devices the namespace run binds into the image's /dev (what engines give a container).
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


@dataclass(frozen=True, kw_only=True)
class SmokeResult:
    """How the smoke run went."""

    where: str
    exit_code: int | None
    #: stdout and stderr together, as the run printed them.
    output: str
    #: True when the app was still running at the timeout (a server) and was stopped.
    still_running: bool = False
    #: stdout alone.
    stdout: str = ""


def engine_reachable(docker_env: Mapping[str, str], layers: Iterable[LayerBlob] = ()) -> bool:
    """Whether the Docker engine answers and can load an image of ``layers`` (the image then
    runs there, else in namespaces)."""
    try:
        client = docker_client(docker_env)
    except EngineError:
        return False
    try:
        return not has_zstd(layers) or zstd_problem(client) is None
    finally:
        client.close()


def namespaces_available() -> bool:
    """Whether private namespaces can be made here, as the namespace run makes them."""
    return namespace_problem() is None


def namespace_problem() -> str | None:
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


def run_image(
    *,
    tarball: Path,
    image_ids: Sequence[str],
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
    engine: bool,
) -> SmokeResult:
    """Run the image once, locked down, with ``args`` (none: its own ``Cmd``), for at most
    ``timeout`` seconds: in the Docker engine (``engine``, the caller checked it is
    reachable; ``image_ids``: the IDs an engine may know the image by, see
    :func:`~.load.find_image`), else in private namespaces. No verdict: see
    :func:`smoke_test`."""
    if engine:
        return _run_in_engine(tarball, image_ids, args, timeout, docker_env)
    return _run_in_namespace(tarball, args, timeout)


def output_tail(output: str, lines: int = _TAIL) -> str:
    """The last lines of a run's output, indented, for an error's details."""
    return "\n".join(f"  | {line}" for line in output.splitlines()[-lines:])


def _run_in_engine(
    tarball: Path,
    image_ids: Sequence[str],
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
) -> SmokeResult:
    import docker
    import requests

    client = docker_client(docker_env)
    borrowed = _Borrowed()
    try:
        container = client.containers.create(
            _image_in(client, tarball, image_ids, borrowed),
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
            stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        finally:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                # v: with the anonymous volume the engine made for /tmp (the image's volume).
                container.remove(force=True, v=True)  # an engine gone meanwhile fails anyway
    except docker.errors.APIError as exc:
        raise EngineError(
            f"smoke test: the Docker engine failed: {exc.explanation or exc}"
        ) from exc
    except docker.errors.ImageLoadError as exc:  # the engine's error, in the load's stream
        raise EngineError(f"smoke test: the Docker engine refused the image: {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"smoke test: the Docker engine failed: {exc}") from exc
    finally:
        if borrowed.previous is not None:
            _restore(client, borrowed)
        client.close()
    return SmokeResult(
        where="Docker engine",
        exit_code=code,
        output=output,
        still_running=still_running,
        stdout=stdout,
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


@dataclass
class _Borrowed:
    """What the smoke test's load changed in the engine, for :func:`_restore` to undo."""

    #: Each tag of the tarball: the ID of the image it named before (``None``: no image).
    previous: dict[str, str | None] | None = None
    #: Tag of the tarball -> the tag :func:`_keep` gave the image it named.
    kept: dict[str, str] = field(default_factory=dict)
    #: The engine's ID of the loaded image.
    image_id: str = ""


def _image_in(client: Any, tarball: Path, image_ids: Sequence[str], borrowed: _Borrowed) -> str:
    """The engine's ID of the image: found there, or loaded (``borrowed`` records what the load
    changed)."""
    image = find_image(client, image_ids)
    if image is None:
        borrowed.previous = _tag_targets(client, _repo_tags(tarball))
        _keep(client, borrowed)
        with tarball.open("rb") as f:
            client.images.load(f)
        image = find_image(client, image_ids)
        if image is None:
            raise EngineError(
                f"smoke test: the Docker engine loaded {tarball} but has no image "
                + " or ".join(image_ids)
            )
        borrowed.image_id = image.id
    return str(image.id)


def _keep(client: Any, borrowed: _Borrowed) -> None:
    """A tag of pybin2img's own for each image a tag of the tarball names now, so that the load
    cannot drop it: the containerd image store forgets an image whose last tag a load takes.
    Each is recorded in ``borrowed`` as soon as it is made."""
    for index, (tag, old) in enumerate((borrowed.previous or {}).items()):
        if old is not None:
            keep = f"{_KEEP}:{os.getpid()}-{index}"
            client.images.get(old).tag(keep)
            borrowed.kept[tag] = keep


def _restore(client: Any, borrowed: _Borrowed) -> None:
    """Undo the load the smoke test needed: the user did not ask for the image in the engine.

    Tags that named another image before point at it again (found through the tag
    :func:`_keep` gave it, then dropped); the tested image is removed.
    """
    import docker
    import requests

    # Best effort: an engine that went away meanwhile already failed the smoke test.
    errors = (docker.errors.DockerException, requests.exceptions.RequestException)
    kept = borrowed.kept
    for tag, old in (borrowed.previous or {}).items():
        with contextlib.suppress(*errors):
            if old is None:
                client.images.remove(tag)
                continue
            client.images.get(kept.get(tag, old)).tag(tag)
            if tag in kept:  # only once the image has its tag back: it would go with its last
                client.images.remove(kept[tag])
    if borrowed.image_id:
        with contextlib.suppress(*errors):  # still tagged elsewhere: leave it
            client.images.remove(borrowed.image_id)


def _run_in_namespace(tarball: Path, args: Sequence[str], timeout: float) -> SmokeResult:
    problem = namespace_problem()
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
        # Loopback up, as in the engine's `--network none`: an app may talk to itself.
        ip = shutil.which("ip")
        loopback = f"{shlex.quote(ip)} link set lo up 2>/dev/null || true; " if ip else ""
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
            f"{loopback}{volumes}"
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
                argv,
                env=env,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            stdout, stderr = (
                part if isinstance(part, str) else (part or b"").decode(errors="replace")
                for part in (exc.stdout, exc.stderr)
            )
            return SmokeResult(
                where="private namespaces",
                exit_code=None,
                output=stdout + stderr,
                still_running=True,
                stdout=stdout,
            )
    return SmokeResult(
        where="private namespaces",
        exit_code=proc.returncode,
        output=proc.stdout + proc.stderr,
        stdout=proc.stdout,
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


def exit_code_text(exit_code: int | None) -> str:
    """An exit code, with the signal it means when it is 128+N: ``139 (SIGSEGV)``."""
    if exit_code is not None and 128 < exit_code < 128 + 65:
        with contextlib.suppress(ValueError):
            return f"{exit_code} ({signal.Signals(exit_code - 128).name})"
    return str(exit_code)
