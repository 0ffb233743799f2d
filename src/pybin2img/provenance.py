"""Where the app came from and what made it: its git commit, commit time and repository URL,
and the toolchain.

Used for ``SOURCE_DATE_EPOCH`` (the app's last commit time by default), the
``org.opencontainers.image.*`` annotations and labels and the ``dev.pybin2img.toolchain.*``
ones (:func:`oci_keys`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .oci import rfc3339

if TYPE_CHECKING:
    from .oci import BaseImage
    from .options import BuildOptions
    from .toolchain import Toolchain

_CREDENTIALS = re.compile(r"^(\w+://)[^/@]+@")


@dataclass(frozen=True, kw_only=True)
class GitInfo:
    """What git says about the directory holding the app (all ``None`` outside a repository)."""

    commit: str | None = None
    #: Commit time of the last commit touching the app's directory, in seconds.
    commit_time: int | None = None
    #: ``origin``'s URL with any credentials removed.
    source: str | None = None


def git_info(app_dir: Path) -> GitInfo:
    """Ask git about ``app_dir``; an empty :class:`GitInfo` when git or a repository is absent."""
    git = shutil.which("git")
    if not git:
        return GitInfo()

    def run(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                [git, "-C", str(app_dir), *args],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return GitInfo()
    when = run("log", "-1", "--format=%ct", "--", ".")
    source = run("config", "--get", "remote.origin.url")
    return GitInfo(
        commit=commit,
        commit_time=int(when) if when and when.isdigit() else None,
        source=_CREDENTIALS.sub(r"\1", source) if source else None,
    )


def oci_keys(
    options: BuildOptions,
    git: GitInfo,
    epoch: int,
    base_image: BaseImage | None = None,
    toolchain: Toolchain | None = None,
) -> dict[str, str]:
    """The ``org.opencontainers.image.*`` keys pybin2img fills in from git, the tag, the
    project's metadata and the base, and the ``dev.pybin2img.toolchain.*`` keys naming what
    compiled the app (:meth:`~pybin2img.toolchain.Toolchain.labels`); used as manifest
    annotations and as config labels."""
    keys = {
        "org.opencontainers.image.created": rfc3339(epoch),
        "org.opencontainers.image.base.name": base_image.name if base_image else options.base,
    }
    if base_image is not None and base_image.digest:
        keys["org.opencontainers.image.base.digest"] = base_image.digest
    if options.reference.explicit_tag and options.reference.tag != "latest":
        keys["org.opencontainers.image.version"] = options.reference.tag
    if git.source:
        keys["org.opencontainers.image.source"] = git.source
    if git.commit:
        keys["org.opencontainers.image.revision"] = git.commit
    if options.licenses:
        keys["org.opencontainers.image.licenses"] = options.licenses
    if toolchain is not None:
        keys.update(toolchain.labels())
    return keys
