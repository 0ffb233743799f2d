"""Compile stage: the app (script, package, module or project) to a Nuitka standalone dist.

The face: :func:`prepare_compile` (the build interpreter and the :class:`CompileTarget`),
:func:`compile_app` (the dist, as a :class:`CompileResult`) and :func:`remote_cache` (the cache
repository both share); the rest of the package is private to it.

``prepare`` makes the build interpreter ready: ``buildenv`` the cached build environment for the
app's requirements, ``probe`` asks the interpreter (through ``_probe_main`` and the ``_probe_app``,
``_probe_scan`` and ``_probe_walk`` it imports, which run under it) for its versions and the modules
``named`` in strings, ``target`` says what APP is. ``nuitka`` runs Nuitka, with ``bytecode`` and
``pkgfiles`` (what is compiled, what ships as bytecode or files), ``importview``, ``patchelf``,
``ccache``, ``progress`` and ``profile``; ``strip`` checks its shared objects, ``origins`` reads
where its files came from, ``distinfo`` makes a project's metadata. ``distcache`` keeps compiled
dists, ``remotecache`` and ``trees`` share them through a registry.
"""

from .ccache import redacted
from .named import NamedLibrary, NamedModules, NamedProgram
from .nuitka import CompileResult, compile_app, default_jobs
from .origins import expand
from .prepare import prepare_compile
from .probe import Interpreter
from .profile import PackageTime
from .remotecache import RemoteCache, remote_cache
from .target import CompileTarget

__all__ = [
    "CompileResult",
    "CompileTarget",
    "Interpreter",
    "NamedLibrary",
    "NamedModules",
    "NamedProgram",
    "PackageTime",
    "RemoteCache",
    "compile_app",
    "default_jobs",
    "expand",
    "prepare_compile",
    "redacted",
    "remote_cache",
]
