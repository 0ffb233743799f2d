"""The compiled-dist cache: a key of every input but the app's sources, then entries that
record those sources' hashes, so a hit needs every file Nuitka compiled from to be unchanged."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .. import __version__
from ..cache import Cache, digest_of, file_digest
from ..options import BuildOptions
from .app import CompileTarget
from .probe import Interpreter

#: Changes whenever what pybin2img does to a dist after Nuitka changes (stripping, …), so
#: that cached dists made the old way are not reused.
_DIST_FORMAT = 3


def compile_key(options: BuildOptions, target: CompileTarget, interpreter: Interpreter) -> str:
    """Hash of every input that can change the dist, except the app's own source files.

    Those are only known after a compile (Nuitka follows the app's imports); each cached dist
    records them with their hashes, and a hit requires every one to be unchanged.
    """
    return digest_of(
        "dist",
        _DIST_FORMAT,
        __version__,
        str(target.main),
        target.binary_name,
        target.nuitka_args,
        [str(p) for p in target.pythonpath],
        target.launcher,
        interpreter.identity,
        interpreter.python_version,
        interpreter.nuitka_version,
        interpreter.distributions,
        options.nuitka_args,
        options.include_data,
    )[:32]


_KEEP_PER_KEY = 3


def cached_entry(cache: Cache, key: str, name: str) -> Path | None:
    """The newest cache entry for ``key`` whose recorded app sources are all unchanged."""
    try:
        entries = json.loads(cache.path("dists", f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    for entry_key in entries:
        entry = cache.path("dists", entry_key)
        try:
            sources = json.loads((entry / "sources.json").read_text())
        except (OSError, ValueError):
            continue
        if (
            (entry / "dist" / name).is_file()
            and (entry / "contents.json").is_file()
            and all(_hash_or_none(Path(path)) == digest for path, digest in sources.items())
        ):
            return entry
    return None


def remember(cache: Cache, key: str, entry_key: str) -> None:
    """Put ``entry_key`` first in the index of ``key``; drop the oldest entries beyond a few."""
    index = cache.path("dists", f"{key}.json")
    try:
        entries = [e for e in json.loads(index.read_text()) if e != entry_key]
    except (OSError, ValueError):
        entries = []
    entries.insert(0, entry_key)
    for old in entries[_KEEP_PER_KEY:]:
        shutil.rmtree(cache.path("dists", old), ignore_errors=True)
    tmp = index.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(entries[:_KEEP_PER_KEY]))
    os.replace(tmp, index)


def _hash_or_none(path: Path) -> str | None:
    try:
        return file_digest(path)
    except OSError:
        return None


def entry_path(cache: Cache, key: str, sources: Mapping[str, str]) -> Path:
    """Where the entry for ``key`` made from ``sources`` (the app's files and their hashes) is."""
    return cache.path("dists", digest_of(key, dict(sources))[:32])


@contextmanager
def new_entry(cache: Cache, key: str, sources: Mapping[str, str]) -> Iterator[Path]:
    """A staging directory that becomes :func:`entry_path` when the block succeeds; yields it
    for the dist to go in."""
    entry_key = entry_path(cache, key, sources).name
    with cache.staging("dists", entry_key) as staging:
        (staging / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True))
        yield staging
    remember(cache, key, entry_key)
