"""Smoke test: run the finished image once, locked down, before anything is shipped.

In the Docker engine when one is reachable (``--read-only --network none --cap-drop ALL`` as the
image's user); otherwise in private namespaces (mount, PID, network, IPC, UTS) rooted at the
image's files, with a read-only root. The build fails when the app exits non-zero or its output
shows a failed import or a missing shared object, which some packages only print as a warning.
A program still running when the time is up (a server) passes if its output so far is clean.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, SmokeTestError
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
)
_TAIL = 15


@dataclass(frozen=True, kw_only=True)
class SmokeResult:
    """How the smoke run went."""

    where: str
    exit_code: int | None
    output: str
    #: True when the app was still running at the timeout (a server) and was stopped.
    still_running: bool = False


def run_smoke_test(options: BuildOptions, written: WrittenImage) -> str:
    """The build's smoke test (``--smoke-test``): in the engine when one is reachable, else in
    private namespaces; return its one-line summary."""
    try:
        docker_client(options.docker_env).close()
        engine = True
    except EngineError:
        engine = False
    result = smoke_test(
        tarball=written.path,
        image_id=written.config_digest,
        args=shlex.split(options.smoke_test or ""),
        timeout=options.smoke_timeout,
        docker_env=options.docker_env,
        engine=engine,
    )
    if result.still_running:
        return f"{result.where}: still running after {options.smoke_timeout:g}s, stopped"
    return f"{result.where}: exit code 0"


def smoke_test(
    *,
    tarball: Path,
    image_id: str,
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
    engine: bool,
) -> SmokeResult:
    """Run the image once; raise :class:`SmokeTestError` when it fails.

    ``engine``: use the Docker engine (the caller checked it is reachable); otherwise run in
    private namespaces.
    """
    if engine:
        result = _run_in_engine(tarball, image_id, args, timeout, docker_env)
    else:
        result = _run_in_namespace(tarball, args, timeout)
    tail = "\n".join(f"  | {line}" for line in result.output.splitlines()[-_TAIL:])
    if result.exit_code not in (0, None) and not result.still_running:
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
            # v: with the anonymous volume the engine made for /tmp (the image's volume).
            container.remove(force=True, v=True)
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

    for tag, old in previous.items():
        try:
            if old is not None:
                client.images.get(old).tag(tag)
            else:
                client.images.remove(tag)
        except docker.errors.APIError:
            pass
    with contextlib.suppress(docker.errors.APIError):  # still tagged elsewhere: leave it
        client.images.remove(image_id)


def _run_in_namespace(tarball: Path, args: Sequence[str], timeout: float) -> SmokeResult:
    for program in ("unshare", "mount"):
        if not shutil.which(program):
            raise SmokeTestError(
                f"smoke test: no Docker engine is reachable and {program} is not installed"
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
        # No network peers: the new network namespace has only loopback.
        script = (
            'set -e; mount --make-rprivate /; mount --bind "$1" "$1"; '
            'mount -o remount,bind,ro "$1"; mount -t proc proc "$1/proc"; '
            'root="$1"; wd="$2"; uid="$3"; gid="$4"; shift 4; '
            'exec unshare --root="$root" --wd="$wd" --setuid="$uid" --setgid="$gid" "$@"'
        )
        (root / "proc").mkdir(exist_ok=True)
        argv = [
            "unshare",
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


def _extract(tarball: Path, root: Path) -> dict[str, Any]:
    """Unpack the image's layers in order into ``root``; return its config."""
    root.mkdir(parents=True)
    with open_archive(tarball) as archive:
        for layer in archive.layers:
            with archive.open_layer(layer) as stream:
                stream.tar().extractall(root, numeric_owner=True, filter="tar")
        return archive.config_document
