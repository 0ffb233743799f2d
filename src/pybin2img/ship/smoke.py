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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..app import AppKind, AppSpec
from ..errors import EngineError, SmokeTestError
from ..log import Log
from ..oci import open_archive
from .load import docker_client

if TYPE_CHECKING:
    from ..compile import CompileTarget
    from ..oci import WrittenImage
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
class ImportFailure:
    """The app died of an uncaught exception raised while a package's module was imported."""

    #: The package (top-level import name) whose module was being imported: ``wordcloud``.
    package: str
    #: That module: ``wordcloud.wordcloud``.
    module: str
    #: The exception's line: ``FileNotFoundError: [Errno 2] No such file or directory: …``.
    error: str

    def message(self, what: str) -> str:
        """The one message for this failure, wherever it is found (start check, smoke test,
        ``--compare``): ``what`` says which run found it."""
        return (
            f"{what}: the app died of an exception raised while the package {self.package!r} "
            f"was imported (module {self.module}): {self.error}; a package that reads files "
            "next to its code or finds its parts at run time may need them shipped (README "
            '"Packages that fail in the image")'
        )


#: A frame of a traceback, as CPython and a compiled app print it: a module's frame is
#: ``<module>`` (``<module NAME>`` in some Nuitka versions), importlib's are
#: ``<frozen importlib._bootstrap>``.
_FRAME = re.compile(r'^\s+File "(?P<file>[^"]*)", line \d+, in (?P<name>.+?)\s*$')
_TRACEBACK = "Traceback (most recent call last):"
#: Where installed packages live on a build machine (a traceback printed by an interpreter).
_SITE = re.compile(r"/(?:site|dist)-packages/")


def import_failure(
    exit_code: int | None, output: str, own_modules: frozenset[str] = frozenset()
) -> ImportFailure | None:
    """Whether the run died of an uncaught exception raised while a package's module was
    being imported: wordcloud's ``FileNotFoundError`` for the data file it reads at import, a
    plugin registry found empty. No working image does that.

    The signs, all needed: the exit code of an uncaught exception (1); the output ends with
    a traceback (the one that ended the program: a traceback logged by an app that went on is
    not); in it, after the program's own first frame, a module-level frame (a module being
    imported, the innermost one counts) of a module that is not the app's own
    (``own_modules``: its top-level names; an app that raises while its own module is
    imported, say for a missing setting, exits as it chooses).
    """
    if exit_code != 1:
        return None
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    if not starts:
        return None
    frames: list[tuple[str, str]] = []
    error: list[str] = []
    for line in lines[starts[-1] + 1 :]:
        frame = _FRAME.match(line)
        if frame and not error:
            frames.append((frame.group("file"), frame.group("name")))
        elif line.startswith((" ", "\t")) and not error:
            continue  # the source line of a frame, CPython's ^^^^ markers
        elif line.strip():
            error.append(line.strip())
    if not frames or not error:
        return None
    if not error[0].partition(":")[0].replace(".", "").isidentifier():
        return None  # what follows the frames is no exception's line
    for path, name in reversed(frames[1:]):
        module = _module_of_frame(path, name)
        if module is None:
            continue
        top = module.split(".")[0]
        if top in own_modules or module == "__main__":
            return None
        return ImportFailure(package=top, module=module, error=error[0])
    return None


def _module_of_frame(path: str, name: str) -> str | None:
    """The module a module-level frame runs, ``None`` for any other frame (a function's,
    importlib's own ``<frozen importlib._bootstrap>``)."""
    if name.startswith("<module ") and name.endswith(">"):
        return name[len("<module ") : -1]
    if name != "<module>" or path.startswith("<") or not path.endswith(".py"):
        return None
    site = _SITE.search(path)
    if site is not None:
        relative = path[site.end() :]
    elif path.startswith(APP_PREFIX):
        relative = path[len(APP_PREFIX) :]
    else:
        relative = os.path.basename(path)
    parts = relative[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or None


#: Where the dist is in the image: a frame's file there names its module by its path.
APP_PREFIX = "/app/"


def own_modules(app: AppSpec, target: CompileTarget) -> frozenset[str]:
    """The app's own top-level module names: the modules and packages beside its script, or
    in its project's source root or its package's directory; for ``-m MODULE``, that module's.
    """
    if app.kind is AppKind.MODULE:
        return frozenset({(app.module or "").split(".")[0]} - {""})
    roots = target.pythonpath or (target.cwd,)
    names = {app.path.stem} if app.kind is AppKind.SCRIPT else set()
    for root in roots:
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            stem, dot, suffix = entry.name.partition(".")
            module = suffix in ("py", "pyc") or suffix.endswith("so")
            if module or (not dot and entry.is_dir()):
                names.add(stem)
    return frozenset(name for name in names if name.isidentifier())


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


@contextmanager
def hint_trace(loaded_by_name: Iterable[str], *, traced: bool) -> Iterator[None]:
    """A failed smoke test of an image with libraries loaded by name (``loaded_by_name``: the
    libraries added for them) says that they are in the image, and that a file they need
    beyond their packages' is found by ``--trace``."""
    try:
        yield
    except SmokeTestError as exc:
        added = sorted(set(loaded_by_name))
        if not added or traced:
            raise
        raise SmokeTestError(
            f"{exc.message}; the libraries the code loads by name are in the image "
            f"({', '.join(added)}, with their Debian packages' data files): if the app "
            "needs another file at run time, build with --trace to find it",
            details=exc.details,
        ) from exc


def run_smoke_test(
    options: BuildOptions,
    written: WrittenImage,
    log: Log,
    *,
    own_modules: frozenset[str] = frozenset(),
) -> str:
    """The build's smoke test (``--smoke-test``), or its start check: in the engine when one
    is reachable, else in private namespaces; return its one-line summary.

    ``own_modules``: the app's own top-level modules (:func:`own_modules`); an exception that
    kills the app while one of them is imported is the app's business, not a broken image.
    The start check of an image whose exact bytes already passed it (a rebuild with nothing
    changed: same manifest digest) is not run again; ``--smoke-test`` always runs.
    """
    strict = options.smoke_test is not None
    passed = _verdict_path(options, written)
    if not strict and passed.is_file():
        with contextlib.suppress(OSError):
            os.utime(passed)  # used now: `cache prune` removes the least recently used first
        return "start check: this exact image passed it before"
    summary = _run(options, written, log, strict=strict, own_modules=own_modules)
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


def engine_reachable(docker_env: Mapping[str, str]) -> bool:
    """Whether the Docker engine answers (the image then runs there, else in namespaces)."""
    try:
        docker_client(docker_env).close()
    except EngineError:
        return False
    return True


def _run(
    options: BuildOptions,
    written: WrittenImage,
    log: Log,
    *,
    strict: bool,
    own_modules: frozenset[str],
) -> str:
    engine = engine_reachable(options.docker_env)
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
        own_modules=own_modules,
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
    own_modules: frozenset[str] = frozenset(),
) -> SmokeResult:
    """Run the image once; raise :class:`SmokeTestError` when it fails.

    ``engine``: use the Docker engine (the caller checked it is reachable); otherwise run in
    private namespaces. ``strict``: a non-zero exit fails too, not only a crash, the output
    of a broken image (:data:`FAILURE_PATTERNS`) or the app dying while a package was
    imported (:func:`import_failure`; ``own_modules`` are the app's, not packages).
    """
    result = run_image(
        tarball=tarball,
        image_id=image_id,
        args=args,
        timeout=timeout,
        docker_env=docker_env,
        engine=engine,
    )
    tail = output_tail(result.output)
    failure = import_failure(result.exit_code, result.output, own_modules)
    if failure is not None:
        what = "smoke test" if strict else "start check"
        raise SmokeTestError(failure.message(f"{what} ({result.where})"), details=tail)
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


def run_image(
    *,
    tarball: Path,
    image_id: str,
    args: Sequence[str],
    timeout: float,
    docker_env: Mapping[str, str],
    engine: bool,
) -> SmokeResult:
    """Run the image once, locked down, with ``args`` (none: its own ``Cmd``), for at most
    ``timeout`` seconds: in the Docker engine (``engine``, the caller checked it is
    reachable), else in private namespaces. No verdict: see :func:`smoke_test`."""
    if engine:
        return _run_in_engine(tarball, image_id, args, timeout, docker_env)
    return _run_in_namespace(tarball, args, timeout)


def output_tail(output: str, lines: int = _TAIL) -> str:
    """The last lines of a run's output, indented, for an error's details."""
    return "\n".join(f"  | {line}" for line in output.splitlines()[-lines:])


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
            stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
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
