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
interrupted or fails never leaves a half-written entry that a later build would trust. The whole
directory can be deleted at any time.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import HostError


def digest_of(*parts: Any) -> str:
    """A stable hex key for JSON-serializable parts."""
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Cache:
    """Access to the cache directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def ensure(self, *parts: str) -> Path:
        path = self.path(*parts)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HostError(f"cannot create cache directory {path}: {exc.strerror}") from exc
        return path

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """An exclusive lock shared by every pybin2img process using this cache."""
        lock_dir = self.ensure("locks")
        with (lock_dir / f"{name}.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    @contextmanager
    def staging(self, area: str, key: str) -> Iterator[Path]:
        """A temporary directory that becomes ``area/key`` when the block ends without error.

        The caller holds the lock for ``key``. On failure the temporary directory is removed.
        """
        parent = self.ensure(area)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=parent))
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        final = parent / key
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)

    @contextmanager
    def workspace(self) -> Iterator[Path]:
        """A private scratch directory, removed whatever happens."""
        tmp_root = self.ensure("tmp")
        try:
            path = Path(tempfile.mkdtemp(prefix="build-", dir=tmp_root))
        except OSError as exc:
            raise HostError(f"cannot create a work directory in {tmp_root}: {exc}") from exc
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
