"""The compiled-dist cache: a key of every input but the app's sources, then entries that
record those sources' hashes, so a hit needs every file Nuitka compiled from to be unchanged.

Each entry also carries a manifest of its own files (sizes and sha256), checked whenever it is
reused: a damaged entry is reported in one warning line, removed, and compiled again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from .._version import __version__
from ..cache import Cache, digest_of, file_digest, listing_digest, tree_damage, tree_manifest
from ..log import Log
from ..options import BuildOptions
from ..pending import write_replacing
from ..toolchain import program_versions
from .pkgfiles import included_files
from .probe import Interpreter
from .target import CompileTarget

#: Changes whenever what pybin2img does to a dist after Nuitka changes (stripping, …), so
#: that cached dists made the old way are not reused.
_DIST_FORMAT = 9
#: In each entry: the manifest of everything else in it (see :func:`pybin2img.cache.tree_manifest`).
_MANIFEST = "manifest.json"


def compile_key(
    options: BuildOptions,
    target: CompileTarget,
    interpreter: Interpreter,
    *,
    choices: Sequence[str] = (),
) -> str:
    """Hash of every input that can change the dist, except the app's own source files: the
    app's options, the interpreter and its distributions, Nuitka, and the programs after it
    (the C compiler, patchelf, strip: :func:`~pybin2img.toolchain.program_versions`).

    Those are only known after a compile (Nuitka follows the app's imports); each cached dist
    records them with their hashes, and a hit requires every one to be unchanged.
    ``choices``: what pybin2img itself asks of Nuitka (its own arguments, the packages it
    ships as bytecode).
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
        target.dist_info.files if target.dist_info else None,
        interpreter.identity,
        _import_path(interpreter),
        interpreter.python_version,
        interpreter.nuitka_version,
        program_versions(),
        interpreter.distributions,
        options.nuitka_args,
        options.include_data,
        # Their files' contents are sources of the entry; a file added is a new dist.
        included_files(options.include_data),
        interpreter.named.cache_key(),
        options.bytecode,
        options.compile,
        list(choices),
        options.as_files,
        options.no_package_data,
    )[:32]


def _import_path(interpreter: Interpreter) -> list[str]:
    """The interpreter's ``sys.path``, where Nuitka finds what it compiles (an editable
    install's directory added there is a new dist), with the interpreter's own environment
    written ``{prefix}``: a build environment's path in the cache is not part of the key."""
    prefix = str(interpreter.executable.absolute().parent.parent)
    return [
        "{prefix}" + p[len(prefix) :] if p == prefix or p.startswith(prefix + "/") else p
        for p in interpreter.sys_path
    ]


_KEEP_PER_KEY = 3


def cached_entry(cache: Cache, key: str, name: str, log: Log | None = None) -> Path | None:
    """The newest cache entry for ``key`` whose recorded app sources are all unchanged and
    whose files are all as they were made (a damaged one is removed, with a warning)."""
    try:
        entries = json.loads(cache.path("dists", f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    for entry_key in entries:
        entry = cache.path("dists", entry_key)
        try:
            sources = json.loads((entry / "sources.json").read_text())
        except (OSError, ValueError):
            sources = None
        if sources is not None and not all(
            _hash_or_none(Path(path)) == digest for path, digest in sources.items()
        ):
            continue  # made from other sources: not this build's entry
        damage = _entry_damage(entry, name)
        if damage is None:
            return entry
        if entry.exists():
            (log or Log()).warning(
                f"cached dist {entry} is damaged ({damage}); removed, it is compiled again"
            )
            cache.remove_damaged(entry)
    return None


def _entry_damage(entry: Path, name: str) -> str | None:
    try:
        manifest = json.loads((entry / _MANIFEST).read_text())
    except (OSError, ValueError):
        return "its manifest is missing" if entry.exists() else "it is missing"
    damage = tree_damage(entry, manifest, skip=frozenset({_MANIFEST}))
    if damage is None and f"dist/{name}" not in manifest["files"]:
        return f"it has no {name}"
    return damage


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
    try:
        write_replacing(index, json.dumps(entries[:_KEEP_PER_KEY]).encode())
    except OSError as exc:
        raise cache.unusable(exc, f"cannot write {index.name}") from exc


def _hash_or_none(path: Path) -> str | None:
    """The hash a source was recorded with: a file's bytes, or a directory's file names (an
    editable install's package, whose data files are shipped: a file added there)."""
    try:
        return listing_digest(path) if path.is_dir() else file_digest(path)
    except OSError:
        return None


def entry_path(cache: Cache, key: str, sources: Mapping[str, str]) -> Path:
    """Where the entry for ``key`` made from ``sources`` (the app's files and their hashes) is."""
    return cache.path("dists", digest_of(key, dict(sources))[:32])


@contextmanager
def new_entry(cache: Cache, key: str, sources: Mapping[str, str]) -> Iterator[Path]:
    """A staging directory that becomes :func:`entry_path` when the block succeeds; yields it
    for the dist to go in. Its manifest is written last, over everything put in it."""
    entry_key = entry_path(cache, key, sources).name
    with cache.staging("dists", entry_key) as staging:
        (staging / "sources.json").write_text(json.dumps(sources, indent=1, sort_keys=True))
        yield staging
        manifest = tree_manifest(staging)
        (staging / _MANIFEST).write_text(json.dumps(manifest, sort_keys=True))
    remember(cache, key, entry_key)
