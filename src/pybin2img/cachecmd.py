"""``pybin2img cache info`` and ``pybin2img cache prune``: what the cache directory holds, by
kind, and keeping it under a size or an age (a CI cache within its quota).

The kinds: build environments (``envs/``), compiled dists (``dists/``), layer blobs
(``blobs/``), ccache's files (``nuitka/ccache/``), Nuitka's own caches (the rest of
``nuitka/``), and the rest (logs, launchers, locks, work directories), which is not pruned.

Pruning removes whole entries, the least recently used first (a build marks the dists and
environments it uses). It never removes one that a running build holds: a build locks the dists
and environments it uses for its length, and blobs, ccache's and Nuitka's files are only
pruned while no build runs.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import Cache, use_lock
from .errors import UsageError

#: Kind -> what ``cache info`` calls it, in the order it lists them.
KINDS = {
    "envs": "build environments",
    "dists": "compiled dists",
    "blobs": "layer blobs",
    "ccache": "ccache",
    "nuitka": "Nuitka's caches",
    "other": "other",
}
#: Kinds that only go while no build runs (they have no lock of their own).
_SHARED = frozenset({"blobs", "ccache", "nuitka"})


@dataclass(frozen=True)
class Entry:
    """One thing pruning removes whole."""

    kind: str
    path: Path
    size: int
    #: When it was last used (its mtime: seconds since the epoch).
    used: float
    #: Files removed with it (a blob's record).
    extra: tuple[Path, ...] = ()
    #: Locks a build using it holds.
    locks: tuple[str, ...] = ()


@dataclass
class CacheInfo:
    root: Path
    #: Kind -> (entries, bytes).
    kinds: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(size for _, size in self.kinds.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "kinds": {k: {"entries": n, "bytes": b} for k, (n, b) in self.kinds.items()},
            "total_bytes": self.total,
        }


@dataclass
class PruneResult:
    removed: list[Entry] = field(default_factory=list)
    #: Entries that would have gone but a running build holds.
    held: int = 0
    #: Whether a build was running, so that blobs, ccache's and Nuitka's files stayed.
    busy: bool = False
    before: int = 0
    after: int = 0


def cache_info(cache: Cache) -> CacheInfo:
    """The size of each kind of entry in the cache directory."""
    entries, other = _scan(cache.root)
    info = CacheInfo(root=cache.root, kinds={kind: (0, 0) for kind in KINDS})
    for entry in entries:
        count, size = info.kinds[entry.kind]
        info.kinds[entry.kind] = (count + 1, size + entry.size)
    for kind, size in other.items():
        count, total = info.kinds[kind]
        info.kinds[kind] = (count, total + size)
    return info


def format_info(info: CacheInfo) -> str:
    lines = [f"cache directory {info.root}"]
    for kind, title in KINDS.items():
        count, size = info.kinds[kind]
        number = "" if kind == "other" else str(count)
        lines.append(f"  {title:<20} {number:>7}  {_mb(size):>10}")
    lines.append(f"  {'total':<20} {'':>7}  {_mb(info.total):>10}")
    return "\n".join(lines)


def prune(
    cache: Cache,
    *,
    max_size: int | None = None,
    older_than: float | None = None,
    now: float | None = None,
) -> PruneResult:
    """Remove the least recently used entries until the cache is at most ``max_size`` bytes,
    and every entry unused for more than ``older_than`` days; never one a build holds."""
    if max_size is None and older_than is None:
        raise UsageError("give --max-size SIZE, --older-than DAYS or both")
    now = time.time() if now is None else now
    entries, other = _scan(cache.root)
    result = PruneResult(before=sum(e.size for e in entries) + sum(other.values()))
    total = result.before
    removed_ccache = False
    with cache.unless_held("build") as idle:
        result.busy = not idle
        for entry in sorted(entries, key=lambda e: e.used):
            too_old = older_than is not None and now - entry.used > older_than * 86400
            too_big = max_size is not None and total > max_size
            if not (too_old or too_big):
                break  # every later entry was used later still, and the size is met
            if entry.kind in _SHARED and not idle:
                continue
            with cache.unless_held(*entry.locks) as free:
                if not free:
                    result.held += 1
                    continue
                _remove(entry)
            total -= entry.size
            result.removed.append(entry)
            removed_ccache |= entry.kind == "ccache"
    if removed_ccache:
        _recount_ccache(cache.root / "nuitka" / "ccache")
    result.after = total
    return result


def format_prune(result: PruneResult) -> str:
    kinds = {kind: 0 for kind in KINDS}
    for entry in result.removed:
        kinds[entry.kind] += 1
    parts = [f"{n} {KINDS[k]}" for k, n in kinds.items() if n]
    freed = sum(e.size for e in result.removed)
    line = (
        f"removed {len(result.removed)} entries ({_mb(freed)}"
        f"{': ' + ', '.join(parts) if parts else ''}); {_mb(result.before)} -> {_mb(result.after)}"
    )
    if result.held:
        line += f"; {result.held} in use by a running build left alone"
    if result.busy:
        line += "; a build is running: blobs, ccache's and Nuitka's files left alone"
    return line


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GB``, ``800MiB``, ``1048576``: bytes (K, M, G, T decimal; Ki, Mi,
    Gi, Ti binary)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", text, re.IGNORECASE)
    if not found:
        raise UsageError(f"--max-size {text!r} is not a size (like 500M, 2G or 1.5GiB)")
    number, unit, binary = found.groups()
    power = "KMGT".find(unit.upper()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


# --- the directory ---------------------------------------------------------------------------


def _scan(root: Path) -> tuple[list[Entry], dict[str, int]]:
    """Every entry pruning may remove, and the bytes of what it never removes, by kind."""
    entries: list[Entry] = []
    other = {"other": 0, "dists": 0, "blobs": 0, "ccache": 0, "nuitka": 0}
    for path in _children(root / "envs"):
        if path.is_dir() and not path.is_symlink():
            held = (f"env-{path.name}", use_lock(Path("envs", path.name)))
            entries.append(Entry("envs", path, _tree_size(path), _used(path), locks=held))
    for path in _children(root / "dists"):
        if path.name.startswith(".") or not path.is_dir() or path.is_symlink():
            other["dists"] += _tree_size(path)  # indexes, entries being made
            continue
        locks = (use_lock(Path("dists", path.name)),)
        entries.append(Entry("dists", path, _tree_size(path), _used(path), locks=locks))
    for codec in _children(root / "blobs"):
        for path in _children(codec):
            if path.suffix == ".json" or not path.is_file():
                continue
            record = path.with_name(path.name + ".json")
            size = _size(path) + _size(record)
            entries.append(Entry("blobs", path, size, _used(path), extra=(record,)))
    for path in _children(root / "nuitka"):
        if path.name == "ccache":
            for file, size, used in _files(path):
                # ccache's results (…R) and manifests (…M); its stats and config stay.
                if file.name.endswith(("R", "M")) and len(file.name) > 20:
                    entries.append(Entry("ccache", file, size, used))
                else:
                    other["ccache"] += size
        elif path.name == "module-cache":
            for file, size, used in _files(path):
                entries.append(Entry("nuitka", file, size, used))
        else:
            entries.append(Entry("nuitka", path, _tree_size(path), _used(path)))
    for path in _children(root / "checks"):  # passed start checks, by image digest
        if path.is_file():
            entries.append(Entry("other", path, _size(path), _used(path)))
    for path in _children(root):
        if path.name not in ("envs", "dists", "blobs", "nuitka", "checks"):
            other["other"] += _tree_size(path)
    return entries, other


def _children(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError:
        return []


def _files(directory: Path) -> Iterator[tuple[Path, int, float]]:
    for dirpath, _, filenames in os.walk(directory):
        for name in filenames:
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            yield path, st.st_size, st.st_mtime


def _size(path: Path) -> int:
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _tree_size(path: Path) -> int:
    if not path.is_dir() or path.is_symlink():
        return _size(path)
    return sum(size for _, size, _ in _files(path))


def _used(path: Path) -> float:
    """When ``path`` was last used: its mtime, which a build sets on what it uses (access
    times are not kept on many file systems, and reading the cache would change them)."""
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _remove(entry: Entry) -> None:
    """Out of use at once (a rename for a directory), then deleted."""
    path = entry.path
    if path.is_dir() and not path.is_symlink():
        doomed = path.with_name(f".pruned-{path.name}-{os.getpid()}")
        try:
            os.replace(path, doomed)
        except OSError:
            return
        shutil.rmtree(doomed, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    for extra in entry.extra:
        extra.unlink(missing_ok=True)


def _recount_ccache(directory: Path) -> None:
    """Have ccache count its files again after some were removed (its size counters)."""
    ccache = shutil.which("ccache")
    if ccache is None:
        return
    for path in _children(directory):
        if path.is_dir() and stat.S_ISDIR(path.lstat().st_mode):
            subprocess.run(
                [ccache, "--dir", str(path), "--cleanup"],
                capture_output=True,
                check=False,
                timeout=120,
            )


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
