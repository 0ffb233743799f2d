"""Isolated build environments: a venv from the chosen interpreter with the app's requirements
and Nuitka installed, created once per (interpreter, requirements, Nuitka version) and reused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..cache import Cache, digest_of
from ..errors import CompileError, UsageError
from ..log import Log
from ..runner import run_logged

_READY = ".pybin2img-ready"


def build_environment(
    *,
    python: Path,
    requirements: Path | None,
    packages: Sequence[str] = (),
    nuitka: str,
    cache: Cache,
    log: Log,
) -> Path:
    """Return the interpreter of a venv holding the requirements, ``packages`` and ``nuitka``.

    The venv lives in the cache under a hash of the interpreter (its real path, size and mtime),
    the requirements file's bytes, the package specs, the Nuitka spec and pybin2img's version.
    """
    try:
        real = Path(os.path.realpath(python))
        st = real.stat()
        content = requirements.read_bytes() if requirements else b""
    except FileNotFoundError as exc:
        raise UsageError(f"{exc.filename} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    key = digest_of(
        str(real),
        st.st_size,
        st.st_mtime_ns,
        content.decode(errors="replace"),
        list(packages),
        nuitka,
        __version__,
    )[:32]
    env = cache.path("envs", key)
    env_python = env / "bin" / "python"
    if (env / _READY).exists():
        log.detail(f"build environment {env} (cached)")
        return env_python
    with cache.lock(f"env-{key}"):
        if (env / _READY).exists():
            return env_python
        shutil.rmtree(env, ignore_errors=True)
        cache.ensure("envs")
        log_file = cache.path("logs", f"env-{key}.log")
        what = requirements or ", ".join(packages)
        log.info(f"creating build environment for {what} (once; cached in {env})")
        try:
            run_logged(
                [str(python), "-m", "venv", str(env)],
                log=log,
                log_file=log_file,
                error=CompileError,
                what=f"creating a venv with {python}",
            )
            run_logged(
                [
                    str(env_python),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                    *(["-r", str(requirements.absolute())] if requirements else []),
                    *packages,
                    nuitka,
                ],
                log=log,
                log_file=log_file,
                error=CompileError,
                what=f"installing {what}",
                cwd=requirements.absolute().parent if requirements else None,
            )
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
        (env / _READY).write_text(f"{what}\n")
    return env_python
