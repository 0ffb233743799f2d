"""Where the app came from: its git commit, commit time and repository URL.

Used for ``SOURCE_DATE_EPOCH`` (the app's last commit time by default) and the
``org.opencontainers.image.source`` / ``.revision`` annotations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

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
