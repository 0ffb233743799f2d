"""Runs inside the compiled program, at its start (see startup.py): Nuitka's patch of
``inspect`` without importing ``inspect`` at start.

Nuitka's ``main()`` calls ``patchInspectModule()``, which imports ``inspect`` at every start to
replace ``getgeneratorstate``, ``getcoroutinestate`` and ``_get_code_position`` with versions
that know compiled generators and coroutines, and patches ``types.coroutine`` (and, from Python
3.12 on, ``sys._getframemodulename`` and ``typing``'s type variables, which must be in place
from the start). Importing ``inspect`` brings ``ast``, ``dis``, ``enum``, ``re`` and
``tokenize``: more than half of a small program's start. ``install`` (called by the program
with ``patch``, Nuitka's own function) does the same without that import:

* before 3.12 (:func:`_defer`), where the function does nothing else, it runs the function
  right after the import system has executed ``inspect``, or at the first call of
  ``types.coroutine``, whichever comes first; ``types`` itself is imported here (a compiled
  module, cheap: Nuitka's compiled code may import it without asking ``sys.meta_path``);
* from 3.12 on (:func:`_stand_in`), it runs the function now, against a stand-in for
  ``inspect`` that forwards to the real module's functions; once the program imports
  ``inspect``, the real module gets the functions Nuitka put on the stand-in.

Either way a program that never imports ``inspect`` never pays for it.

Python 3.8 syntax and the standard library only: the build interpreter compiles this file and
the program unmarshals it before anything of the app is imported.
"""

import sys

#: What Nuitka's function reads from and writes to ``inspect`` (startup.py checks its source).
PATCHED = ("getgeneratorstate", "getcoroutinestate", "_get_code_position")
STATES = (
    "GEN_CREATED",
    "GEN_RUNNING",
    "GEN_SUSPENDED",
    "GEN_CLOSED",
    "CORO_CREATED",
    "CORO_RUNNING",
    "CORO_SUSPENDED",
    "CORO_CLOSED",
)


def install(patch):
    if sys.version_info >= (3, 12):
        _stand_in(patch)
    else:
        _defer(patch)


def _after_inspect(then):
    """Call ``then(module)`` once, right after the import system has executed ``inspect``
    (at once if it already has). Returns a function that runs ``then(None)`` now instead, and
    takes the hook away (unless ``then`` has run)."""
    from _thread import RLock

    meta_path = sys.meta_path
    lock = RLock()
    done = []

    def once(module):
        # Another thread waits here until ``then`` has run (a re-entry from it returns).
        with lock:
            if done:
                return
            done.append(True)
            if Finder in meta_path:
                meta_path.remove(Finder)
            then(module)

    class Loader:
        """The loader that found ``inspect``, and what to do once it has executed it."""

        def __init__(self, spec, loader):
            self.spec = spec
            self.loader = loader

        def create_module(self, spec):
            create = getattr(self.loader, "create_module", None)
            return None if create is None else create(spec)

        def exec_module(self, module):
            # The module keeps the loader that found it, as without the hook.
            self.spec.loader = self.loader
            module.__loader__ = self.loader
            self.loader.exec_module(module)
            once(sys.modules.get("inspect", module))

        def __getattr__(self, name):
            return getattr(self.loader, name)

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name != "inspect" or done:
                return None
            for finder in meta_path:
                find = None if finder is Finder else getattr(finder, "find_spec", None)
                spec = None if find is None else find(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            if hasattr(spec.loader, "exec_module"):
                spec.loader = Loader(spec, spec.loader)
            return spec

    if "inspect" in sys.modules:
        once(sys.modules["inspect"])
    else:
        meta_path.insert(0, Finder)
    return lambda: once(None)


def _defer(patch):
    """Nuitka's function after the first import of ``inspect`` or call of
    ``types.coroutine``."""
    import types

    original = types.coroutine

    def run(_module):
        if types.coroutine is coroutine:
            types.coroutine = original
        patch()

    def coroutine(func):
        now()
        return types.coroutine(func)

    for attribute in ("__doc__", "__name__", "__qualname__", "__module__"):
        setattr(coroutine, attribute, getattr(original, attribute))
    now = _after_inspect(run)
    if "inspect" not in sys.modules:
        types.coroutine = coroutine


def _stand_in(patch):
    """Nuitka's function now, against a stand-in for ``inspect``; the real module gets what
    it put there once it is imported."""
    if "inspect" in sys.modules:
        patch()
        return
    originals = {}

    def forward(name):
        def call(*args, **kwargs):
            return originals[name](*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    forwards = {name: forward(name) for name in PATCHED}
    stand_in = type(sys)("inspect")
    for name, function in forwards.items():
        setattr(stand_in, name, function)
    for name in STATES:
        setattr(stand_in, name, name)
    sys.modules["inspect"] = stand_in
    try:
        patch()
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]
    replaced = {}
    for name in PATCHED:
        value = getattr(stand_in, name)
        if value is not forwards[name]:
            replaced[name] = value

    def transplant(module):
        for name in PATCHED:
            originals[name] = getattr(module, name)
        for name, value in replaced.items():
            setattr(module, name, value)

    _after_inspect(transplant)
