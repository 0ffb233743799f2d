"""Corpus check: every dynamic ELF file under /usr/bin and /usr/lib/<multiarch> of this machine
is resolved, and the set of libraries equals what the real loader lists (``ld.so --list``, what
``ldd`` runs). The vDSO and the libraries glibc itself dlopens (not listed by ldd) aside."""

from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from pybin2img.errors import ResolveError
from pybin2img.resolve.elf import read_elf
from pybin2img.resolve.fsview import HostView
from pybin2img.resolve.process import resolve_closure

pytestmark = pytest.mark.integration

LOADER = "/lib64/ld-linux-x86-64.so.2"
DIRS = ("/usr/bin", "/usr/lib/x86_64-linux-gnu")
_LINE = re.compile(r"^\s*(\S+)(?: => (\S+))? \(0x[0-9a-f]+\)$")
_HWCAPS = re.compile(r"/glibc-hwcaps/[^/]+/")


def _dynamic_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(64)
    except OSError:
        return False
    # 64-bit little-endian x86-64 ELF, ET_EXEC or ET_DYN, with program headers.
    return header[:5] == b"\x7fELF\x02" and header[18:20] == b"\x3e\x00" and header[16] in (2, 3)


def _corpus() -> list[str]:
    files = []
    for top in DIRS:
        for dirpath, _, names in os.walk(top):
            for name in names:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path) and os.path.isfile(path) and _dynamic_elf(path):
                    files.append(path)
    return sorted(files)


def _norm(path: str) -> str:
    return _HWCAPS.sub("/", os.path.realpath(path))


def _loader(path: str) -> set[str] | None:
    """What the real loader loads for ``path``; None if it cannot (missing library, static)."""
    proc = subprocess.run([LOADER, "--list", path], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or "not found" in proc.stdout:
        return None
    found = set()
    for line in proc.stdout.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        name, target = match.groups()
        if name.startswith("linux-vdso"):
            continue
        found.add(_norm(target or name))
    found.discard(_norm(path))
    return found


def _resolver(path: str, view: HostView) -> set[str] | None:
    try:
        closure = resolve_closure([path], view)
    except ResolveError:
        return None
    # What `ld.so --list` shows: the DT_NEEDED graph from the root (not what glibc dlopens
    # later, like libgcc_s), plus the interpreter when the root names one.
    objects = {o.path: o for o in closure.objects}
    resolved = {(e.requester, e.needed): e.resolved for e in closure.edges}
    root = closure.objects[0]
    seen = {root.path}
    queue = [root.path]
    while queue:
        current = objects[queue.pop(0)]
        for name in current.needed:
            target = resolved[(current.path, name)]
            if target not in seen:
                seen.add(target)
                queue.append(target)
    if read_elf(root.source).interpreter and closure.interpreter:
        seen.add(closure.interpreter)
    return {_norm(objects[p].source) for p in seen} - {_norm(path)}


def test_resolver_agrees_with_the_loader_on_the_whole_system() -> None:
    corpus = _corpus()
    assert len(corpus) > 500, corpus[:5]
    view = HostView("/")
    with ThreadPoolExecutor(max_workers=4) as pool:
        oracle = dict(zip(corpus, pool.map(_loader, corpus), strict=True))
    checked = 0
    differences = []
    for path in corpus:
        want = oracle[path]
        if want is None:
            continue  # the loader itself cannot load it here (static, or a library missing)
        checked += 1
        got = _resolver(path, view)
        if got != want:
            differences.append(f"{path}: loader {sorted(want)} resolver {sorted(got or [])}")
    print(f"corpus: {len(corpus)} ELF files, {checked} loadable, {len(differences)} differences")
    assert not differences, "\n".join(differences[:20])
