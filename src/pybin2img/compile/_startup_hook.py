"""Runs inside the compiled program, at its start (see startup.py): Nuitka's patch of
``inspect`` and ``types``, applied when the program first imports ``inspect`` or first calls
``types.coroutine``.

Nuitka's ``main()`` imports ``inspect`` at every start, to replace ``getgeneratorstate`` and
``getcoroutinestate`` (and, through ``types.coroutine``, the wrapping of generators) with
versions that know compiled generators and coroutines. Importing ``inspect`` brings ``ast``,
``dis``, ``enum``, ``re`` and ``tokenize``: more than half of a small program's start. Here the
same patch (``patch``, Nuitka's own function) runs right after the import system has executed
``inspect``, or at the first call of ``types.coroutine``, whichever comes first; a program that
uses neither never pays for it. ``types`` itself is imported here (a compiled module, cheap):
Nuitka's compiled code may import it without asking ``sys.meta_path``. Only for Python before
3.12: from 3.12 on Nuitka's patch also replaces ``sys._getframemodulename``, which must be in
place from the start.

Python 3.8 syntax and the standard library only: the build interpreter compiles this file and
the program unmarshals it before anything of the app is imported.
"""

import sys


def install(patch):
    import types
    from _thread import RLock

    meta_path = sys.meta_path
    lock = RLock()
    done = []  # type: list[bool]

    def run():
        with lock:
            if done:
                return
            done.append(True)
            if Finder in meta_path:
                meta_path.remove(Finder)
            if types.coroutine is coroutine:
                types.coroutine = original
            patch()

    original = types.coroutine

    def coroutine(func):
        run()
        return types.coroutine(func)

    for attribute in ("__doc__", "__name__", "__qualname__", "__module__"):
        setattr(coroutine, attribute, getattr(original, attribute))

    class Loader:
        """The loader that found ``inspect``, and the patch to run once it has executed it."""

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
            run()

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
        run()
        return
    meta_path.insert(0, Finder)
    types.coroutine = coroutine
