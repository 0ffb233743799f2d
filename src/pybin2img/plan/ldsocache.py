"""``/etc/ld.so.cache`` for the image, so that ``ctypes.util.find_library`` finds its libraries.

On Linux, ``find_library`` runs ``/sbin/ldconfig -p`` and reads the library names from what it
prints, the cache's entries; its other ways (``gcc``, ``ld``) need a toolchain no image has. So
when the plan asks for it (:attr:`~.planner.ImagePlan.library_dirs`), the image gets the build
machine's static ``ldconfig`` (placed by the planner) and a cache of its own libraries, written
by that same ``ldconfig`` over a copy of the image's library directories: the bytes depend only
on the libraries and on ``ldconfig``'s version, so two builds write the same cache. The cache
goes into the system-libraries layer, with the libraries it lists.

The dynamic loader in the image reads the cache too. It lists the files the loader would find in
its default directories anyway, so what the app loads does not change.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from ..errors import HostError
from ..oci import Entry, Kind
from .planner import APP_DIR, SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, ImagePlan
from .rootfs import RootfsBuilder

#: Where the cache is, in the image and for every glibc ``ldconfig``.
CACHE_PATH = "etc/ld.so.cache"
_TIMEOUT = 60


def add_ld_so_cache(plan: ImagePlan, ldconfig: str, workdir: Path) -> ImagePlan:
    """``plan`` with an ``/etc/ld.so.cache`` of its :attr:`~.planner.ImagePlan.library_dirs`,
    written by the host's static ``ldconfig``; ``plan`` itself when it asks for none."""
    if not plan.library_dirs:
        return plan
    cache = ld_so_cache(plan.nodes, plan.library_dirs, ldconfig, workdir)
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    with builder.into(SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, after=("base",)):
        builder.add_data(CACHE_PATH, cache)
    return dataclasses.replace(
        plan, layers=builder.finish(), nodes=MappingProxyType(dict(builder.nodes))
    )


def ld_so_cache(
    nodes: Mapping[str, Entry], directories: Sequence[str], ldconfig: str, workdir: Path
) -> bytes:
    """The cache ``ldconfig`` writes for ``directories`` of the planned image ``nodes``.

    The image's symlinks and its shared libraries (outside the app's directory) are laid out in
    a scratch root under ``workdir``; ``ldconfig -r`` reads them there, without touching the
    host's cache or making links (``-X``).
    """
    with tempfile.TemporaryDirectory(prefix="ld.so.cache-", dir=workdir) as tmp:
        root = Path(tmp)
        _stage(nodes, root)
        (root / "etc").mkdir(exist_ok=True)
        (root / "etc" / "ld.so.conf").write_bytes(b"")
        argv = [
            ldconfig,
            "-r",
            str(root),
            "-X",
            "-C",
            "/" + CACHE_PATH,
            "-f",
            "/etc/ld.so.conf",
            *directories,
        ]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, check=False, timeout=_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostError(
                f"cannot run {ldconfig} to write the image's ld.so.cache: {exc}"
            ) from exc
        cache = root / CACHE_PATH
        if proc.returncode != 0 or not cache.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise HostError(
                f"{ldconfig} failed to write the image's ld.so.cache (exit code "
                f"{proc.returncode}): {last}; pass --ldconfig never to build without it"
            )
        return cache.read_bytes()


def _stage(nodes: Mapping[str, Entry], root: Path) -> None:
    """Recreate the image's symlinks and shared libraries under ``root``."""
    app = APP_DIR.strip("/")
    for path in sorted(nodes, key=lambda p: p.encode()):
        entry = nodes[path]
        if path == app or path.startswith(app + "/"):
            continue
        where = root / path
        if entry.kind is Kind.DIR:
            where.mkdir(parents=True, exist_ok=True)
        elif entry.kind is Kind.SYMLINK:
            assert entry.target is not None
            where.parent.mkdir(parents=True, exist_ok=True)
            where.symlink_to(entry.target)
        elif entry.source is not None and ".so" in posixpath.basename(path):
            where.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(entry.source, where)


def _link_or_copy(source: str, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)
