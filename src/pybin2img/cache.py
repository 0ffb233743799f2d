"""The one cache directory: build environments, Nuitka's cache, compiled dists, layer blobs.

Layout under ``PYBIN2IMG_CACHE_DIR`` (default ``$XDG_CACHE_HOME/pybin2img``)::

    envs/<key>/            isolated build environments (venv + requirements + Nuitka)
    nuitka/                NUITKA_CACHE_DIR: Nuitka's own caches and ccache's files
    dists/<key>/           compiled dists, keyed by a hash of every input of the compile
    blobs/<codec>/<hex>    compressed layers, keyed by the diff_id of the uncompressed tar
    logs/                  the last compile log of each app
    locks/                 lock files: concurrent builds sharing the cache wait for each other
    tmp/                   private work directories of running builds

Every entry is created under a temporary name and renamed into place, so a build that is
interrupted or fails never leaves a half-written entry that a later build would trust; every
entry is checked before it is used (a manifest of its files' sizes and hashes, or its digest),
and one that fails the check is removed and made again. A running build holds a lock on its
work directories; the next build removes those of builds that were killed, and stops the
programs they left running. The whole directory can be deleted at any time.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import HostError
from .runner import stop_recorded

#: In a work directory: the process group of the program it runs (see ``runner.run_logged``).
PROCESSES = ".processes"


def digest_of(*parts: Any) -> str:
    """A stable hex key for JSON-serializable parts."""
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | os.PathLike[str]) -> str:
    """The sha256 of a file's bytes, in hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def listing_digest(root: str | os.PathLike[str]) -> str:
    """The sha256 of the names of every file under the directory ``root`` (``__pycache__`` and
    hidden directories left out): what changes when a file is added, removed or renamed."""
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        rel = os.path.relpath(dirpath, root)
        names.extend(os.path.normpath(os.path.join(rel, name)) for name in filenames)
    if not os.path.isdir(root):
        raise NotADirectoryError(root)
    return hashlib.sha256("\n".join(sorted(names)).encode(errors="surrogateescape")).hexdigest()


# --- manifests: what a cached tree held when it was made ---------------------------------------


def tree_manifest(root: Path, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Every file under ``root`` with its size, sha256 and whether it is executable, every
    symlink with its target and every directory. ``skip``: relative paths, and names of
    directories wherever they are (``__pycache__``), that are left out."""
    files: dict[str, list[Any]] = {}
    links: dict[str, str] = {}
    dirs: list[str] = []
    for rel, path, st in _walk(root, skip):
        if stat.S_ISLNK(st.st_mode):
            links[rel] = os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            dirs.append(rel)
        else:
            files[rel] = [st.st_size, file_digest(path), bool(st.st_mode & 0o111)]
    return {"files": files, "links": links, "dirs": sorted(dirs)}


def tree_damage(
    root: Path, manifest: Any, *, hashes: bool = True, skip: frozenset[str] = frozenset()
) -> str | None:
    """What differs between ``root`` and its ``manifest`` (a file added, missing, changed), or
    ``None`` when nothing does. Without ``hashes`` only the file sizes are compared."""
    try:
        files: dict[str, list[Any]] = manifest["files"]
        links: dict[str, str] = manifest["links"]
        dirs = set(manifest["dirs"])
    except (TypeError, KeyError):
        return "its manifest is unreadable"
    seen = 0
    try:
        for rel, path, st in _walk(root, skip):
            seen += 1
            if stat.S_ISLNK(st.st_mode):
                if links.get(rel) != os.readlink(path):
                    return f"{rel} is not the link it was"
            elif stat.S_ISDIR(st.st_mode):
                if rel not in dirs:
                    return f"{rel} was added"
            else:
                expected = files.get(rel)
                if expected is None:
                    return f"{rel} was added"
                size, digest, executable = expected
                if st.st_size != size or bool(st.st_mode & 0o111) != executable:
                    return f"{rel} changed"
                if hashes and file_digest(path) != digest:
                    return f"{rel} changed"
    except OSError as exc:
        return f"{exc.filename or root} cannot be read ({exc.strerror})"
    if seen != len(files) + len(links) + len(dirs):
        return "files of it are missing"
    return None


def _walk(root: Path, skip: frozenset[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    """``(relative path, path, lstat)`` of everything under ``root`` but ``skip`` (see
    :func:`tree_manifest`); symlinks are not followed."""
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [
            d for d in dirnames if d not in skip and os.path.normpath(f"{rel_dir}/{d}") not in skip
        ]
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel not in skip:
                yield rel, path, os.lstat(path)


def _raise(exc: OSError) -> None:
    raise exc


# --- the cache directory -----------------------------------------------------------------------


def use_lock(entry: Path) -> str:
    """The lock a build holds on an entry it uses (``dists/<key>``, relative to the cache)."""
    return "use-" + "-".join(entry.parts)


class Cache:
    """Access to the cache directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Locks this process holds shared on what its build uses (:meth:`use`).
        self._held: list[IO[str]] = []
        self._checked = False

    def path(self, *parts: str) -> Path:
        self._check_root()
        return self.root.joinpath(*parts)

    def ensure(self, *parts: str) -> Path:
        self._check_root()
        path = self.path(*parts)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self.unusable(exc, f"cannot create {path}") from exc
        return path

    def unusable(self, exc: OSError, doing: str) -> HostError:
        """The error for a cache that cannot be written: what failed, why, and what to do."""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "free some space, or set PYBIN2IMG_CACHE_DIR to a folder on another disk"
        else:
            hint = "set PYBIN2IMG_CACHE_DIR to a folder you can write"
        return HostError(f"cache directory {self.root}: {doing}: {exc.strerror or exc}; {hint}")

    def out_of_space(self, doing: str, output: str | None) -> HostError | None:
        """The error for a program that failed (``output``: its last lines) because the cache's
        disk is full, or ``None`` when that is not why."""
        try:
            st = os.statvfs(self.root)
            full = st.f_bavail * st.f_frsize < 1 << 20
        except OSError:
            full = False
        if not full and "No space left on device" not in (output or ""):
            return None
        return self.unusable(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), doing)

    def _check_root(self) -> None:
        """The cache must be this user's own: another user's entries are not to be trusted
        (they could ship in the image), and entries made here would be unusable to its owner."""
        if self._checked:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            owner = self.root.stat().st_uid
        except OSError as exc:
            raise self.unusable(exc, "cannot create it") from exc
        me = os.geteuid()
        if owner != me:
            raise HostError(
                f"cache directory {self.root} belongs to {_user(owner)}, not to {_user(me)} who "
                "runs pybin2img; its entries would be trusted and shipped, so only a folder of "
                "your own is used: set PYBIN2IMG_CACHE_DIR (or chown it)"
            )
        if not os.access(self.root, os.W_OK | os.X_OK):
            error = errno.EROFS if _read_only(self.root) else errno.EACCES
            raise self.unusable(OSError(error, os.strerror(error)), "cannot write to it")
        self._checked = True

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock shared by every pybin2img process using this cache."""
        lock_dir = self.ensure("locks")
        try:
            f = (lock_dir / f"{name}.lock").open("a")
        except OSError as exc:
            raise self.unusable(exc, f"cannot create the lock {name}") from exc
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """For the length of a build: a shared lock that says a build is running, and one
        on each entry it uses (:meth:`use`); ``pybin2img cache prune`` leaves them alone."""
        self.hold("build")
        try:
            yield
        finally:
            for f in self._held:
                f.close()  # closing releases the lock
            self._held.clear()

    def hold(self, name: str) -> None:
        """Take lock ``name`` shared until the end of :meth:`holding` (or of the process)."""
        try:
            f = self.ensure("locks").joinpath(f"{name}.lock").open("a")
        except OSError as exc:
            raise HostError(f"cannot create the lock {name}: {exc.strerror}") from exc
        fcntl.flock(f, fcntl.LOCK_SH)
        self._held.append(f)

    def use(self, entry: Path) -> bool:
        """Hold ``entry`` (``dists/<key>``, ``envs/<key>``) for this build and mark it used
        now, for pruning by age; ``False`` when it is gone (pruned just before)."""
        self.hold(use_lock(entry.relative_to(self.root)))
        try:
            os.utime(entry)
        except OSError:
            return False
        return True

    @contextmanager
    def unless_held(self, *names: str) -> Iterator[bool]:
        """Locks ``names`` exclusively if no build holds any of them (without waiting); yields
        whether it did, for removing what they protect."""
        taken: list[IO[str]] = []
        try:
            for name in names:
                lock = self.ensure("locks").joinpath(f"{name}.lock").open("a")
                taken.append(lock)
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
            yield True
        finally:
            for taken_lock in taken:
                taken_lock.close()

    @contextmanager
    def staging(self, area: str, key: str) -> Iterator[Path]:
        """A temporary directory that becomes ``area/key`` when the block ends without error.

        The caller holds the lock for ``key``. On failure the temporary directory is removed;
        a failure to write it (a full disk) is a :class:`HostError`.
        """
        parent = self.ensure(area)
        with self._private_directory("stage-") as tmp:
            try:
                yield tmp
                final = parent / key
                if final.exists():
                    shutil.rmtree(final)
                os.replace(tmp, final)
            except OSError as exc:
                raise self.unusable(exc, f"cannot store {area}/{key}") from exc

    @contextmanager
    def workspace(self) -> Iterator[Path]:
        """A private scratch directory, removed whatever happens (by the next build, if this
        one is killed)."""
        with self._private_directory("build-") as path:
            yield path

    @contextmanager
    def _private_directory(self, prefix: str) -> Iterator[Path]:
        """A new directory in ``tmp/``, locked while this process uses it, removed after.

        Creating one first removes those whose process is gone (their lock is free) and stops
        the programs they recorded as running. A cache-wide lock keeps a sweep from taking a
        directory that another build has made but not yet locked.
        """
        tmp_root = self.ensure("tmp")
        with self.lock("tmp"):
            sweep_abandoned(tmp_root)
            try:
                path = Path(tempfile.mkdtemp(prefix=prefix, dir=tmp_root))
            except OSError as exc:
                raise self.unusable(exc, "cannot create a work directory") from exc
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield path
        finally:
            try:
                stop_recorded(path / PROCESSES)
                shutil.rmtree(path, ignore_errors=True)
            finally:
                os.close(fd)

    def remove_damaged(self, path: Path) -> None:
        """Take a damaged entry out of use at once (a rename), then delete it."""
        try:
            doomed = Path(tempfile.mkdtemp(prefix="damaged-", dir=self.ensure("tmp")))
            os.replace(path, doomed / "entry")
        except OSError:
            shutil.rmtree(path, ignore_errors=True)
            return
        shutil.rmtree(doomed, ignore_errors=True)


def sweep_abandoned(tmp_root: Path) -> list[Path]:
    """Remove the entries of ``tmp_root`` that no live process holds a lock on; return them."""
    removed: list[Path] = []
    try:
        entries = list(tmp_root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its build is running
        try:
            if entry.is_dir():
                stop_recorded(entry / PROCESSES)
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
        finally:
            os.close(fd)
    return removed


def _user(uid: int) -> str:
    try:
        return f"user {pwd.getpwuid(uid).pw_name} ({uid})"
    except KeyError:
        return f"user {uid}"


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False
