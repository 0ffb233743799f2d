"""The build interpreter, asked once before compiling: versions, installed distributions, and
whether the app's files parse and import (so a typo fails in seconds, not inside Nuitka)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CompileError, HostError, UsageError
from .named import NamedModules

#: The CPython versions pybin2img builds with: what the Nuitka it installs (4.3) compiles, and
#: what pybin2img itself runs on. Tested: 3.11 (Debian 12, pyenv), 3.13 (Debian 13), 3.14 (sid).
SUPPORTED_PYTHON = ((3, 10), (3, 14))

#: The program the build interpreter runs: a file, so that it is linted like the rest.
_PROBE = Path(__file__).with_name("_probe_main.py")


def probe_code_digest() -> str:
    """A digest of the probe's own files (``_probe_*.py``): what it found in a file is kept
    under it, so that other scanners never reuse what these found."""
    digest = hashlib.sha256()
    for path in sorted(_PROBE.parent.glob("_probe_*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class NuitkaMissingError(CompileError):
    """The interpreter has no Nuitka (the caller makes a build environment from it)."""


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """The build interpreter, as probed."""

    executable: Path
    python_version: str
    nuitka_version: str
    #: ``(name, version)`` of every installed distribution: a change means a recompile.
    distributions: tuple[tuple[str, str], ...] = ()
    #: What identifies the interpreter's build (real path, size, mtime).
    identity: tuple[str, int, int] = ("", 0, 0)
    #: Where the interpreter finds the ``-m`` module, if one was asked for.
    module_origin: Path | None = None
    #: Nuitka's ``__main__.py``, run by its path (``-m`` would put the app's directory first).
    nuitka_main: Path | None = None
    #: The interpreter's own ``sys.path`` (isolated: no current directory, no user site).
    sys_path: tuple[str, ...] = ()
    #: Top-level names of its standard library's modules (``sys.stdlib_module_names``).
    stdlib_modules: frozenset[str] = frozenset()
    #: File name endings it imports modules from (``.py``, ``.pyc``, ``.cpython-311-….so``).
    module_suffixes: tuple[str, ...] = (".py", ".pyc", ".so")
    #: The standard library's C accelerators it has as extension modules, which Nuitka would
    #: leave out (``_probe_main.ACCELERATORS``).
    accelerators: tuple[str, ...] = ()
    #: Its ``LIBPL`` and ``LDVERSION`` (where its static libpython archives are, and the
    #: version in their names): :mod:`.libpython`.
    libpl: str | None = None
    ldversion: str | None = None
    #: Modules the app names in strings (and a Django app's settings, apps and their files).
    named: NamedModules = field(default_factory=NamedModules)


def check_supported(python: Path) -> str:
    """The version of the interpreter ``python`` (``3.13.5``), which must be a CPython in
    :data:`SUPPORTED_PYTHON`: an older or newer one fails in seconds here, not in the middle of
    a build environment or a compile."""
    if not python.exists():
        raise UsageError(f"Python interpreter {python} does not exist")
    code = (
        "import sys; print(sys.implementation.name, '%d.%d.%d' % sys.version_info[:3], "
        "*sys.version_info[:2])"
    )
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError as exc:
        raise UsageError(f"cannot run Python interpreter {python}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise UsageError(f"Python interpreter {python} did not answer in 60 s") from exc
    try:
        implementation, version, major, minor = proc.stdout.split()
        found = (int(major), int(minor))
    except ValueError:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"Python interpreter {python} failed to start: {last}") from None
    low, high = SUPPORTED_PYTHON
    if implementation != "cpython" or not low <= found <= high:
        what = "Python" if implementation == "cpython" else implementation
        raise HostError(
            f"{what} {version} ({python}) is not supported: pybin2img builds with CPython "
            f"{low[0]}.{low[1]} to {high[0]}.{high[1]} (what Nuitka compiles); pass --python "
            "with one of those"
        )
    return version


def ask_interpreter(
    python: Path, code: str, *, what: str, shape: Mapping[str, type]
) -> dict[str, Any]:
    """The JSON object ``code`` prints when ``python`` runs it (with ``-I``, as the probe runs),
    with a value of each type ``shape`` names; anything else is a :class:`UsageError` saying
    the interpreter ``failed to {what}``."""
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        found = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError):
        found = None
    if not isinstance(found, dict) or not all(
        isinstance(found.get(key), kind) for key, kind in shape.items()
    ):
        raise UsageError(f"Python interpreter {python} failed to {what}")
    return found


def probe_interpreter(
    python: Path,
    sources: Sequence[Path],
    *,
    module: str | None = None,
    cwd: Path | None = None,
    import_path: Sequence[Path] = (),
    strings: Sequence[str] = (),
    env: Sequence[str] = (),
    config_files: Sequence[Path] = (),
    scan_cache: Path | None = None,
    shown_as: Path | None = None,
) -> Interpreter:
    """Run the build interpreter once: versions, Nuitka present, the app's files free of syntax
    errors and of module-level imports the interpreter cannot find (``import_path`` is where
    the app's own modules are), and the modules the app names in strings (its files, and
    ``strings``: the image's arguments; ``env``: its ``KEY=VALUE`` environment; the
    ``config_files`` shipped with it) or the
    installed packages it reaches name (``scan_cache``: where what was read of them is kept
    for the next probe of the same interpreter). ``shown_as``: the interpreter messages name
    (the user's, when ``python`` is a build environment made from it to add Nuitka)."""
    if not python.exists():
        raise UsageError(f"Python interpreter {python} does not exist")
    args = {
        "sources": [str(p) for p in sources],
        "module": module,
        "cwd": str(cwd or Path.cwd()),
        "path": [str(p) for p in import_path],
        "strings": list(strings),
        "env": dict(item.partition("=")[::2] for item in env),
        "config_files": [str(p) for p in config_files],
        "scan_cache": str(scan_cache) if scan_cache else None,
    }
    try:
        proc = subprocess.run(
            [str(python), "-I", str(_PROBE), json.dumps(args)],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    except OSError as exc:
        raise UsageError(f"cannot run Python interpreter {python}: {exc.strerror}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"Python interpreter {python} failed to start: {last}")
    info = json.loads(proc.stdout)
    error = info["syntax_error"]
    if error:
        raise CompileError(f"syntax error in {error['file']}, line {error['line']}: {error['msg']}")
    shadow = info["stdlib_shadow"]
    if shadow:
        raise CompileError(
            f"{shadow['file']}, line {shadow['line']}: {shadow['module']!r} is the app's own "
            f"{shadow['origin']}, but also a standard library module, and the compiled program "
            f"always gets the standard library's; rename the app's {shadow['module']}"
        )
    missing = info["missing_import"]
    if missing and missing.get("user_site"):
        raise CompileError(
            f"{missing['file']}, line {missing['line']}: module {missing['module']!r} is "
            f"installed in the user's site-packages ({missing['user_site']}, pip install "
            f"--user), which builds do not read; install it into {shown_as or python} or a "
            "venv, or list it in -r requirements.txt"
        )
    if missing:
        raise CompileError(
            f"{missing['file']}, line {missing['line']}: module {missing['module']!r} is not "
            f"installed for {shown_as or python}; install it there or list it in -r "
            "requirements.txt"
        )
    if not info["nuitka"]:
        raise NuitkaMissingError(f"Nuitka is not installed for {python}")
    if module and not info["module_origin"]:
        raise UsageError(
            f"module {module!r} was not found by {shown_as or python} (run from {args['cwd']})"
        )
    named = NamedModules.from_probe(info.get("named"))
    real = os.path.realpath(info["executable"])
    st = os.stat(real)
    return Interpreter(
        executable=python,
        python_version=info["python"],
        nuitka_version=info["nuitka"],
        distributions=tuple((name, ver) for name, ver in info["distributions"]),
        identity=(real, st.st_size, st.st_mtime_ns),
        module_origin=Path(info["module_origin"]) if info["module_origin"] else None,
        nuitka_main=Path(info["nuitka_main"]) if info["nuitka_main"] else None,
        sys_path=tuple(info["path"]),
        stdlib_modules=frozenset(info["stdlib"]),
        module_suffixes=tuple(info["suffixes"]),
        accelerators=tuple(info.get("accelerators", ())),
        libpl=info.get("libpl"),
        ldversion=info.get("ldversion"),
        named=named,
    )
