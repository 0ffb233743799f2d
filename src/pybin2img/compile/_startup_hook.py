"""Runs inside the compiled program, at its start (see startup.py): Nuitka's patch of
``inspect`` and ``types``, applied when the program first imports either of them.

Nuitka's ``main()`` imports ``inspect`` at every start, to replace ``getgeneratorstate`` and
``getcoroutinestate`` (and, through ``types.coroutine``, the wrapping of generators) with
versions that know compiled generators and coroutines. Importing ``inspect`` brings ``ast``,
``dis``, ``enum``, ``re`` and ``tokenize``: more than half of a small program's start.
Here the same patch (``patch``, Nuitka's own function) runs right after ``inspect`` has been
executed by the import system, or at the first call of ``types.coroutine``, whichever comes
first; a program that uses neither never pays for it. Only for Python before 3.12: from 3.12
on Nuitka's patch also replaces ``sys._getframemodulename``, which must be in place from the
start.

Python 3.8 syntax and the standard library's builtin modules only: the build interpreter
compiles this file and the program unmarshals it before anything else is imported.
"""

import sys

NAMES = ("inspect", "types")


def install(patch):
    from _thread import RLock

    meta_path = sys.meta_path
    lock = RLock()
    done = []  # type: list[bool]
    saved = {}  # type: dict[str, object]

    def run(_module=None):
        with lock:
            if done:
                return
            done.append(True)
            if Finder in meta_path:
                meta_path.remove(Finder)
            types = sys.modules.get("types")
            if types is not None and getattr(types, "coroutine", None) is coroutine:
                vars(types)["coroutine"] = saved["coroutine"]
            patch()

    def coroutine(func):
        run()
        return sys.modules["types"].coroutine(func)

    def shim(types):
        with lock:
            if done or types.coroutine is coroutine:
                return
            original = types.coroutine
            saved["coroutine"] = original
            for attribute in ("__doc__", "__name__", "__qualname__", "__module__"):
                setattr(coroutine, attribute, getattr(original, attribute))
            types.coroutine = coroutine

    class Loader:
        """The loader that found the module, and the hook to run once it has executed it."""

        def __init__(self, spec, loader, then):
            self.spec = spec
            self.loader = loader
            self.then = then

        def create_module(self, spec):
            create = getattr(self.loader, "create_module", None)
            return None if create is None else create(spec)

        def exec_module(self, module):
            # The module keeps the loader that found it, as without the hook.
            self.spec.loader = self.loader
            module.__loader__ = self.loader
            self.loader.exec_module(module)
            self.then(module)

        def __getattr__(self, name):
            return getattr(self.loader, name)

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):
            if name not in NAMES or done:
                return None
            for finder in meta_path:
                find = None if finder is Finder else getattr(finder, "find_spec", None)
                spec = None if find is None else find(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            if hasattr(spec.loader, "exec_module"):
                spec.loader = Loader(spec, spec.loader, run if name == "inspect" else shim)
            return spec

    if "inspect" in sys.modules:
        run()
        return
    meta_path.insert(0, Finder)
    if "types" in sys.modules:
        shim(sys.modules["types"])
