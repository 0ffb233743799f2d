"""Isolated build environments: a venv from the chosen interpreter with the app's requirements
and Nuitka installed, created once per (interpreter, requirements, Nuitka version) and reused.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import __version__
from .cache import Cache, digest_of
from .errors import CompileError, UsageError
from .log import Log
from .runner import run_logged

_READY = ".pybin2img-ready"


def build_environment(
    *, python: Path, requirements: Path, nuitka: str, cache: Cache, log: Log
) -> Path:
    """Return the interpreter of a venv holding ``requirements`` and ``nuitka`` (a pip spec).

    The venv lives in the cache under a hash of the interpreter (its real path, size and mtime),
    the requirements file's bytes, the Nuitka spec and pybin2img's version.
    """
    try:
        real = Path(os.path.realpath(python))
        st = real.stat()
        content = requirements.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{exc.filename} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    key = digest_of(
        str(real), st.st_size, st.st_mtime_ns, content.decode(errors="replace"), nuitka, __version__
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
        log.info(f"creating build environment for {requirements} (once; cached in {env})")
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
                    "-r",
                    str(requirements.absolute()),
                    nuitka,
                ],
                log=log,
                log_file=log_file,
                error=CompileError,
                what=f"installing {requirements}",
                cwd=requirements.absolute().parent,
            )
        except BaseException:
            shutil.rmtree(env, ignore_errors=True)
            raise
        (env / _READY).write_text(str(requirements.absolute()) + "\n")
    return env_python
