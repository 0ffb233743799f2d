"""Isolated build environments: a venv from the chosen interpreter with the app's requirements
and Nuitka installed, created once per (interpreter, requirements, Nuitka version) and reused.

An interpreter that lacks Nuitka gets one too: a venv that sees its site-packages
(``--system-site-packages``) with only Nuitka added, so nothing is installed into a system Python.
When that interpreter is itself a virtual environment's (the app's packages installed into a
project's venv, editable installs among them), a venv made from it sees its base interpreter's
site-packages only: the environment then also gets a ``.pth`` file that adds the venv's own site
directories as the venv's interpreter does (``site.addsitedir``, so that the ``.pth`` files there
run: editable installs' finders), and names them among ``site.getsitepackages()``, where Nuitka
looks for editable installs. It sees the base interpreter's site-packages only when the venv
does.

Nuitka does not find every package an editable install maps (below a namespace package, or
through the ``editables`` library's finder: hatchling's exact mode). The interpreter reports the
directories such packages' dotted names start in, and the same ``.pth`` file appends them to
``sys.path``. An interpreter that has Nuitka but such editable installs gets an environment too,
with nothing installed in it (``--without-pip``): its own Nuitka runs there.

Each environment's marker records how it was made and a manifest of its files (sizes and
hashes). A build checks the marker; a compile first checks every file against the manifest.
A damaged environment is reported in one warning line, removed and made again.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._version import __version__
from ..cache import Cache, digest_of, tree_damage, tree_manifest
from ..errors import CompileError, UsageError
from ..log import Log
from ..runner import run_logged, stop_recorded
from .probe import ask_interpreter

if TYPE_CHECKING:
    from .remotecache import RemoteCache

#: Written last: how the environment was made (JSON). Without it, it is not finished.
_READY = ".pybin2img-ready"
#: Every file of the environment with its size and hash, written just before the marker.
_MANIFEST = ".pybin2img-manifest.json"
#: The pip constraints the environment was installed with (a lock file's pins).
_CONSTRAINTS = "pybin2img-constraints.txt"
#: Left out of the manifest: ``__pycache__`` is written by the interpreter as it imports.
_SKIP = frozenset({"__pycache__", _READY, _MANIFEST})
#: Defines ``editable_roots(unfollowed)``: for each package that an editable install's finder
#: maps, the directory its dotted name starts in, where it is not on ``sys.path`` already.
#: Nuitka follows setuptools' editable finder for top-level packages only (it puts the
#: directory above each on its ``sys.path``) and not the ``editables`` library's (hatchling's
#: exact mode): ``unfollowed`` leaves out the roots Nuitka finds by itself.
_ROOTS_CODE = """\
def editable_roots(unfollowed=False):
    import os, sys
    def mapped(finder, name):
        try:
            if name == 'editables.redirector':
                found = dict(getattr(finder, '_redirections', {}))
                return {k: os.path.dirname(str(v)) for k, v in found.items()
                        if str(v).endswith('__init__.py')}
            if name.startswith('__editable__') and name in sys.modules:
                return {k: str(v) for k, v in dict(sys.modules[name].MAPPING).items()}
        except (AttributeError, TypeError, ValueError):
            pass
        return {}
    roots = []
    for finder in list(sys.meta_path):
        name = getattr(finder, '__module__', '') or ''
        for package, where in sorted(mapped(finder, name).items()):
            parts = package.split('.')
            if unfollowed and name.startswith('__editable__') and len(parts) == 1:
                continue
            root = where
            for part in reversed(parts):
                if os.path.basename(root) != part:
                    break
                root = os.path.dirname(root)
            else:
                if root not in sys.path and root not in roots:
                    roots.append(root)
    return roots
"""
#: Asked of an interpreter (with ``-I``, as the probe runs it): whether it is a virtual
#: environment's, its own site directories, whether it sees its base interpreter's, the
#: directories its editable installs need on ``sys.path`` (:data:`_ROOTS_CODE`), and whether
#: Nuitka would miss any of them by itself (``unfollowed``).
_SITES = (
    "import json, site, sys\n"
    + _ROOTS_CODE
    + "base = site.getsitepackages([sys.base_prefix, sys.base_exec_prefix])\n"
    "own = [d for d in site.getsitepackages() if d not in base]\n"
    "print(json.dumps({'venv': sys.prefix != sys.base_prefix, 'own': own,\n"
    "                  'system': any(d in sys.path for d in base),\n"
    "                  'roots': editable_roots(), 'unfollowed': bool(editable_roots(True))}))\n"
)
#: The build environment's file that gives it an interpreter's site directories and editable
#: installs.
_SITE_FILE = "pybin2img-venv-sites.pth"
#: What that file runs at the interpreter's start (``DIRS``: a venv's site directories;
#: ``ROOTS``: its editable installs' roots, as the interpreter reported them): each directory
#: added as ``site`` adds one (its ``.pth`` files run: editable installs' finders), the roots
#: appended to ``sys.path``, where Nuitka and the probe find them, and the directories named by
#: ``site.getsitepackages()`` (Nuitka looks for editable finders' files there).
_SITE_CODE = (
    "import sys\n"
    "dirs = DIRS\n"
    "for d in dirs:\n"
    "    site.addsitedir(d)\n"
    "sys.path.extend(r for r in ROOTS if r not in sys.path)\n"
    "own = site.getsitepackages\n"
    "def getsitepackages(prefixes=None):\n"
    "    found = own(prefixes)\n"
    "    return found if prefixes is not None else found + [d for d in dirs if d not in found]\n"
    "site.getsitepackages = getsitepackages\n"
)


def build_environment(
    *,
    python: Path,
    requirements: Path | None,
    packages: Sequence[str] = (),
    nuitka: str | None,
    cache: Cache,
    log: Log,
    system_site_packages: bool = False,
    sites: dict[str, Any] | None = None,
    constraints: Sequence[str] = (),
    remote: RemoteCache | None = None,
) -> Path:
    """Return the interpreter of a venv holding the requirements, ``packages`` and ``nuitka``.

    The venv lives in the cache under a hash of the interpreter (its real path, size and mtime),
    the requirements file's bytes, the package specs, the Nuitka spec and pybin2img's version.
    ``system_site_packages``: the venv also sees the interpreter's own site-packages, a venv's
    own directories and editable installs included (``sites``: :func:`interpreter_sites`, asked
    when not given). ``nuitka`` ``None``: nothing is installed (no pip either), the interpreter's
    own Nuitka is used. ``constraints``: pip constraints (a lock file's ``name==version``
    pins). ``remote``: the cache repository, where a missing environment is looked for first
    and a new one is uploaded.
    """
    try:
        real = python.resolve()
        st = real.stat()
        content = requirements.read_bytes() if requirements else b""
    except FileNotFoundError as exc:
        raise UsageError(f"{exc.filename} does not exist") from exc
    except OSError as exc:
        raise UsageError(f"cannot read {exc.filename}: {exc.strerror}") from exc
    # A virtual environment's interpreter: its own site directories, added to the venv made.
    venv_sites: list[str] = []
    roots: list[str] = []
    if system_site_packages:
        sites = sites if sites is not None else interpreter_sites(python)
        roots = list(sites["roots"])
        if sites["venv"]:
            venv_sites = list(sites["own"])
            system_site_packages = bool(sites["system"])
    elif nuitka is None:
        raise ValueError("a build environment without Nuitka must see the interpreter's")
    recipe = {
        "python": str(python),
        "requirements": str(requirements.absolute()) if requirements else None,
        "packages": list(packages),
        "nuitka": nuitka,
        "system_site_packages": system_site_packages,
        "venv_sites": venv_sites,
        "editable_roots": roots,
        "constraints": list(constraints),
    }
    key = digest_of(
        str(real),
        st.st_size,
        st.st_mtime_ns,
        content.decode(errors="replace"),
        list(packages),
        nuitka,
        __version__,
        *(["system-site-packages"] if system_site_packages else []),
        *([str(python.absolute()), "venv-sites", venv_sites, _SITE_CODE] if venv_sites else []),
        *(["editable-roots", roots] if roots else []),
        *(["constraints", list(constraints)] if constraints else []),
    )[:32]
    env = cache.path("envs", key)
    if _marker(env, key) is not None and cache.use(env):
        log.detail(f"build environment {env} (cached)")
        return env / "bin" / "python"
    with cache.lock(f"env-{key}"):
        if _marker(env, key) is None:
            shutil.rmtree(env, ignore_errors=True)
            if remote is not None and remote.fetch_env(cache, key, env):
                (env / _MANIFEST).write_text(json.dumps(tree_manifest(env, skip=_SKIP)))
                (env / _READY).write_text(json.dumps({"key": key, "recipe": recipe}))
            else:
                _create(env, key, recipe, cache, log)
                if remote is not None:
                    remote.store_env(cache, key, env)
        cache.use(env)
    return env / "bin" / "python"


def interpreter_sites(python: Path) -> dict[str, Any]:
    """Whether ``python`` is a virtual environment's (``venv``), its own site directories
    (``own``), whether it sees its base interpreter's (``system``), the roots of its editable
    installs (``roots``) and whether Nuitka misses some of them by itself (``unfollowed``)."""
    return ask_interpreter(
        python,
        _SITES,
        what="list its site directories",
        shape={"venv": bool, "own": list, "system": bool, "roots": list, "unfollowed": bool},
    )


def _add_venv_sites(env: Path, dirs: Sequence[str], roots: Sequence[str] = ()) -> None:
    """Give the environment ``env`` the site directories ``dirs`` and the editable installs'
    roots ``roots`` (:data:`_SITE_CODE`)."""
    found = sorted(env.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise CompileError(f"the build environment {env} has no single site-packages directory")
    code = _SITE_CODE.replace("DIRS", repr(list(dirs)), 1).replace("ROOTS", repr(list(roots)), 1)
    (found[0] / _SITE_FILE).write_text(f"import site; exec({code!r}, {{'site': site}})\n")


def check_environment(python: Path, cache: Cache, log: Log) -> None:
    """Before a compile: if ``python`` is a build environment's, check every file of it against
    its manifest; a damaged one is removed and made again from the same recipe."""
    env = python.parent.parent
    if env.parent != cache.path("envs"):
        return
    key = env.name
    marker = _marker(env, key)
    if marker is None:
        return
    try:
        manifest = json.loads((env / _MANIFEST).read_text())
    except (OSError, ValueError):
        manifest = None
    damage = tree_damage(env, manifest, skip=_SKIP)
    if damage is None:
        return
    log.warning(f"build environment {env} is damaged ({damage}); removed, it is made again")
    with cache.lock(f"env-{key}"):
        _create(env, key, marker["recipe"], cache, log)


def _marker(env: Path, key: str) -> dict[str, Any] | None:
    """The environment's marker when it is complete and its own, else ``None``."""
    try:
        marker = json.loads((env / _READY).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("key") != key or "recipe" not in marker:
        return None
    if not (env / "bin" / "python").exists():
        return None
    return marker


def _create(env: Path, key: str, recipe: dict[str, Any], cache: Cache, log: Log) -> None:
    """Make the environment at ``env`` from ``recipe``; the caller holds its lock."""
    # Whatever a killed build left running into this environment is stopped first.
    record = cache.path("locks", f"env-{key}.processes")
    stop_recorded(record)
    shutil.rmtree(env, ignore_errors=True)
    cache.ensure("envs")
    log_file = cache.path("logs", f"env-{key}.log")
    python = recipe["python"]
    requirements = Path(recipe["requirements"]) if recipe["requirements"] else None
    packages = recipe["packages"]
    install = [
        *(["-r", str(requirements)] if requirements else []),
        *packages,
        *([recipe["nuitka"]] if recipe["nuitka"] else []),
    ]
    what = (
        requirements
        or ", ".join(packages)
        or (f"Nuitka for {python}" if install else f"the editable installs of {python}")
    )
    log.info(f"creating build environment for {what} (once; cached in {env})")
    try:
        run_logged(
            [
                python,
                "-m",
                "venv",
                *(["--system-site-packages"] if recipe["system_site_packages"] else []),
                *([] if install else ["--without-pip"]),
                str(env),
            ],
            log=log,
            log_file=log_file,
            error=CompileError,
            what=f"creating a venv with {python}",
            record=record,
            unwritable=cache.unusable,
        )
        constraints = env / _CONSTRAINTS
        if recipe.get("constraints"):
            constraints.write_text("".join(f"{line}\n" for line in recipe["constraints"]))
        if install:
            run_logged(
                [
                    str(env / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--quiet",
                    *(["-c", str(constraints)] if recipe.get("constraints") else []),
                    *install,
                ],
                log=log,
                log_file=log_file,
                error=CompileError,
                what=f"installing {what}",
                cwd=requirements.parent if requirements else None,
                record=record,
                unwritable=cache.unusable,
            )
        if recipe.get("venv_sites") or recipe.get("editable_roots"):
            _add_venv_sites(env, recipe["venv_sites"], recipe.get("editable_roots", ()))
        manifest = tree_manifest(env, skip=_SKIP)
        (env / _MANIFEST).write_text(json.dumps(manifest))
        (env / _READY).write_text(json.dumps({"key": key, "recipe": recipe}))
    except OSError as exc:
        shutil.rmtree(env, ignore_errors=True)
        raise cache.unusable(exc, f"cannot write the build environment {env.name}") from exc
    except BaseException:
        shutil.rmtree(env, ignore_errors=True)
        raise
