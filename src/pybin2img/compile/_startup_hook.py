"""Runs inside the compiled program, at its start (see startup.py): Nuitka's patch of
``inspect`` without importing ``inspect`` at start, and ``os`` and ``typing`` left to their
first use.

Nuitka's ``main()`` calls ``patchInspectModule()``, which imports ``inspect`` at every start to
replace ``getgeneratorstate``, ``getcoroutinestate`` and ``_get_code_position`` with versions
that know compiled generators and coroutines, and patches ``types.coroutine`` (and, from Python
3.12 on, ``sys._getframemodulename`` and ``typing``'s type variables, which must be in place
from the start). Importing ``inspect`` brings ``ast``, ``dis``, ``enum``, ``re`` and
``tokenize``: more than half of a small program's start. ``install`` (called by the program
with ``patch``, Nuitka's own function) does the same without that import:

* before 3.12 (:func:`_defer`), where the function does nothing else, it runs the function
  right after the import system has executed ``inspect``, or at the first call of
  ``types.coroutine``, whichever comes first; ``types`` itself is in ``sys.modules`` as a module
  that executes at its first use (Nuitka's compiled code may import it without asking
  ``sys.meta_path``, never without ``sys.modules``), and gets its ``coroutine`` replaced then;
* from 3.12 on (:func:`_stand_in`), it runs the function now, against a stand-in for
  ``inspect`` that forwards to the real module's functions; once the program imports
  ``inspect``, the real module gets the functions Nuitka put on the stand-in.

Either way a program that never imports ``inspect`` never pays for it.

:func:`precompiled_patterns` (from ``install``) gives ``re._compiler.compile`` the patterns
compiled at build time (regex.py, ``_regex_table.py``) once ``re._compiler`` has executed.

:func:`lazy_start` (around Nuitka's loader setup, which imports ``os`` for its ``sys.path``
hook) and :func:`_stand_in` (around the patch, for ``typing``) put modules into ``sys.modules``
that execute at their first use (:func:`_lazy`), and :func:`restore_environ` gives the
environment Nuitka changed for the interpreter's initialisation back while ``os`` has not
executed.

:func:`distribution_names` (after Nuitka has made its class of distributions) gives that class
the normalized name ``importlib.metadata`` computes, from the headers of METADATA alone.

Python 3.8 syntax and the standard library only: the build interpreter compiles this file and
the program unmarshals it before anything of the app is imported.
"""

import sys

#: What Nuitka's function reads from and writes to ``inspect`` (startup.py checks its source).
PATCHED = ("getgeneratorstate", "getcoroutinestate", "_get_code_position")
#: What Nuitka's function takes from ``typing`` from Python 3.12 on: ``_typing``'s types.
TYPING = ("TypeVar", "ParamSpec", "TypeVarTuple")
#: The file of patterns compiled at build time, beside the program (``_regex_table.py``).
TABLE_NAME = "pybin2img.regex-table"
#: The file of generated source compiled at build time, beside the program (``_code_table.py``).
CODE_TABLE_NAME = "pybin2img.code-table"
#: The modules whose functions compile the source that table holds, each after those it imports
#: (``_code_table.py`` records them in this order), and those functions (``Class.function``; a
#: name a Python version lacks is passed over): ``namedtuple``'s ``__new__``, dataclasses'
#: methods (``_create_fn`` to 3.12, ``_FuncBuilder`` from 3.13), string annotations.
SHADOWED = (
    ("collections", ("namedtuple",)),
    ("typing", ("ForwardRef.__init__",)),
    ("inspect", ("get_annotations",)),
    ("dataclasses", ("_create_fn", "_FuncBuilder.add_fns_to_class")),
    ("annotationlib", ("ForwardRef.__forward_code__", "get_annotations")),
)
#: The built-ins that compile source.
COMPILERS = ("exec", "eval", "compile")
#: Nuitka's class of distributions, and the attribute where each holds its METADATA text, which
#: its ``read_text("METADATA")`` returns (startup.py checks Nuitka's source of the class).
DISTRIBUTION = ("nuitka_distribution", "metadata_data")
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


def lazy_start(setup):
    """Run ``setup`` (Nuitka's loader setup, which imports ``os`` for its ``sys.path`` hook)
    with ``os`` and ``posixpath`` in ``sys.modules`` as modules that execute at their first
    use: Nuitka's setup keeps them without touching them."""
    if "os" in sys.modules or "posixpath" in sys.modules:
        setup()
        return
    closes = []
    try:
        path, close = _lazy("posixpath", {})
        closes.append(close)
        closes.append(_lazy("os", {"path": path})[1])
        setup()
    finally:
        for close in closes:
            close()


def restore_environ(name, value):
    """Nuitka's restoring of ``name`` in the environment at start (``value`` bytes, or
    ``None`` to remove it), where ``os`` has not executed yet: to ``posix.environ``, which
    ``os.environ`` is made from. False when ``os`` has executed (Nuitka's own does it)."""
    os = sys.modules.get("os")
    if os is None or type(os) is type(sys) or "posix" not in sys.modules:
        return False
    posix = sys.modules["posix"]
    key = name.encode()
    if value is None:
        posix.unsetenv(key)
        posix.environ.pop(key, None)
    else:
        posix.putenv(key, value)
        posix.environ[key] = value
    return True


def distribution_names(module):
    """Give Nuitka's class of distributions (made in ``module`` from Nuitka's source, the first
    time the program lists or looks up a distribution) the ``_normalized_name`` of
    ``importlib.metadata.Distribution``, computed by that very property from the headers of the
    distribution's METADATA alone, which is where the name is. ``entry_points()`` asks every
    distribution for it; the interpreter's distributions take it from the name of their
    dist-info directory, and Nuitka's parsed the whole text, long description and all, at
    every call. Nothing is done where the class has one of its own."""
    cls = getattr(module, DISTRIBUTION[0], None)
    if not isinstance(cls, type) or "_normalized_name" in vars(cls):
        return
    base = getattr(cls, "_normalized_name", None)
    if not isinstance(base, property) or base.fget is None:
        return
    field = DISTRIBUTION[1]

    def _normalized_name(self):
        state = getattr(self, "__dict__", None)
        text = state.get(field) if state is not None else None
        head = _headers(text) if type(text) is str else text
        if head is text:
            return base.fget(self)
        view = object.__new__(type(self))
        view.__dict__.update(state)
        view.__dict__[field] = head
        return base.fget(view)

    _normalized_name.__doc__ = base.__doc__
    cls._normalized_name = property(_normalized_name, doc=base.__doc__)


def _headers(text):
    """The start of a METADATA ``text`` up to its first empty line, or ``text`` itself: the
    ``email`` parser reads headers up to there (or up to a line that is no header, before it;
    what follows such a line is body all the same), so both give the same headers."""
    import re

    match = re.search(r"(\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)", text)
    return text if match is None else text[: match.end(1)]


def _lazy(name, served, then=None):
    """A module ``name`` in ``sys.modules`` that the import system executes at its first use
    (any attribute, read or written), and then calls ``then(module)``. Until the returned
    function is called, ``served`` and a ``__spec__`` of ``None`` are given without executing
    it. Returns the module and that function."""
    from _thread import RLock

    module_type = type(sys)
    lock = RLock()
    window = [dict(served, __spec__=None, __name__=name)]
    loading = []

    class Lazy(module_type):
        def __getattribute__(self, attribute):
            if window and attribute in window[0]:
                return window[0][attribute]
            if load(self):
                return object.__getattribute__(self, attribute)
            return getattr(self, attribute)

        def __setattr__(self, attribute, value):
            load(self)
            object.__setattr__(self, attribute, value)

        def __delattr__(self, attribute):
            load(self)
            object.__delattr__(self, attribute)

    def load(self):
        """Execute the module unless it has been; True when called from its execution."""
        with lock:
            if object.__getattribute__(self, "__class__") is not Lazy:
                return False
            if loading:
                return True
            loading.append(True)
            try:
                spec = None
                for finder in sys.meta_path:
                    find = getattr(finder, "find_spec", None)
                    spec = None if find is None else find(name, None)
                    if spec is not None:
                        break
                if spec is None:
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                sys.modules["_frozen_importlib"]._init_module_attrs(spec, self, override=True)
                spec._initializing = True
                try:
                    spec.loader.exec_module(self)
                finally:
                    spec._initializing = False
                object.__setattr__(self, "__class__", module_type)
            finally:
                loading.clear()
            if then is not None:
                then(self)
            return False

    module = module_type(name)
    module.__class__ = Lazy
    sys.modules[name] = module
    return module, window.clear


def install(patch):
    if sys.version_info >= (3, 12):
        _stand_in(patch)
    else:
        _defer(patch)
    # Nuitka's sys.executable is a "python" in the program's directory.
    if sys.executable.startswith("/"):
        here = sys.executable.rpartition("/")[0] + "/"
        precompiled_patterns(here + TABLE_NAME)
        precompiled_code(here + CODE_TABLE_NAME)


#: Module name -> what :func:`_after_import` calls once it has executed; one finder serves all.
_WAITING = {}


def _after_import(name, then):
    """Call ``then(module)`` once, right after the import system has executed module ``name``
    (at once if it already has). Returns a function that runs ``then(None)`` now instead, and
    takes the hook away (unless ``then`` has run)."""
    from _thread import RLock

    lock = RLock()
    done = []

    def once(module):
        # Another thread waits here until ``then`` has run (a re-entry from it returns).
        with lock:
            if done:
                return
            done.append(True)
            waiting = _WAITING.get(name, ())
            if once in waiting:
                waiting.remove(once)
                if not waiting:
                    del _WAITING[name]
            if not _WAITING and _Finder in _META_PATH:
                _META_PATH.remove(_Finder)
            then(module)

    # A module that executes at its first use (_lazy) has not executed yet.
    if type(sys.modules.get(name)) is type(sys):
        once(sys.modules[name])
    else:
        _WAITING.setdefault(name, []).append(once)
        if _Finder not in _META_PATH:
            _META_PATH.insert(0, _Finder)
    return lambda: once(None)


class _Loader:
    """The loader that found a module :func:`_after_import` waits for, and what to do once it
    has executed it."""

    def __init__(self, spec, loader):
        self.spec = spec
        self.loader = loader

    def create_module(self, spec):
        create = getattr(self.loader, "create_module", None)
        return None if create is None else create(spec)

    def exec_module(self, module):
        # The module keeps the loader that found it, as without the hook.
        name = self.spec.name
        self.spec.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        for once in list(_WAITING.get(name, ())):
            once(sys.modules.get(name, module))

    def __getattr__(self, attribute):
        return getattr(self.loader, attribute)


class _Finder:
    @staticmethod
    def find_spec(fullname, path=None, target=None):
        # Only a waited module that has executed is caught up: one that executes at its first
        # use (_lazy) has not.
        modules = sys.modules
        for name in _WAITING:
            if type(modules.get(name)) is type(sys):
                _catch_up()
                break
        if fullname not in _WAITING:
            return None
        for finder in _META_PATH:
            find = None if finder is _Finder else getattr(finder, "find_spec", None)
            spec = None if find is None else find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec, spec.loader)
        return spec


def _catch_up():
    """Call what waits for a module that has executed without asking ``sys.meta_path``: Nuitka's
    compiled code imports some modules it names (``typing`` among them) from its own loader.
    A module whose body is still running (its ``<module>`` frame on the stack) is left to a
    later import."""
    modules = sys.modules
    for name in [name for name in _WAITING if type(modules.get(name)) is type(sys)]:
        module = modules[name]
        namespace = module.__dict__
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_globals is namespace and frame.f_code.co_name == "<module>":
                break
            frame = frame.f_back
        else:
            for once in list(_WAITING.get(name, ())):
                once(module)


#: The import system's finders, as they were when the hook was installed.
_META_PATH = sys.meta_path


def precompiled_patterns(table):
    """Patterns from ``table`` (a file written at build time by ``_regex_table.py``) instead of
    compiling them: once ``re._compiler`` (``sre_compile`` before 3.11) has executed, its
    ``compile`` looks a pattern up by its exact type, value and flags, and hands a row found to
    ``_sre.compile`` as ``re._compiler.compile`` would have; anything else, or a table that
    cannot be read, is compiled as always. The table is read at the first pattern compiled."""
    name = "re._compiler" if sys.version_info >= (3, 11) else "sre_compile"
    _after_import(name, lambda module: _table_compile(module, table))


def _table_compile(module, table):
    if module is None or not callable(getattr(module, "compile", None)):
        return
    import _sre

    original = module.compile
    rows = []

    def compile(p, flags=0):
        if type(flags) is int and (type(p) is str or type(p) is bytes):
            if not rows:
                rows.append(_read_patterns(table))
            row = rows[0].get((type(p) is bytes, p, flags))
            if row is not None:
                sre_flags, code, groups, groupindex, indexgroup = row
                words = memoryview(code).cast("I").tolist()
                return _sre.compile(p, sre_flags, words, groups, dict(groupindex), indexgroup)
        return original(p, flags)

    for attribute in ("__doc__", "__name__", "__qualname__", "__module__"):
        setattr(compile, attribute, getattr(original, attribute, None))
    compile.__wrapped__ = original
    module.compile = compile


def _read_patterns(table):
    """The rows of ``table`` by ``(is_bytes, pattern, flags)``; empty when it cannot be read."""
    return {(row[0], row[1], row[2]): row[3:] for row in _rows(table)}


def _rows(table):
    """The rows of a table pybin2img wrote beside the program: a list of tuples whose first three
    items are the key; none when it cannot be read (everything is compiled as always)."""
    try:
        import marshal

        with open(table, "rb") as handle:
            data = marshal.loads(handle.read())  # noqa: S302 - the table pybin2img wrote
        return [row for row in data if type(row) is tuple and len(row) >= 4]
    except Exception:  # noqa: BLE001 - no table
        return []


def precompiled_code(table):
    """Code compiled at build time from the source that ``dataclasses``, ``namedtuple`` and
    string annotations generate (``table``, written by ``_code_table.py``) instead of compiling
    that source again. Once a module of :data:`SHADOWED` has executed, its functions there
    that call ``exec``, ``eval`` or ``compile`` are given built-ins of their own where those look
    the source up by its exact value, file name and mode (:func:`compilers`,
    :func:`give_builtins`); the module's names, its functions' code and the real built-ins stay
    as they are. Anything else, a table that cannot be read, or a program run with ``-O`` (the
    table's code is compiled without), is compiled as always. The table is read at the first
    source looked up."""
    rows = []

    def lookup(mode, filename, source):
        if not rows:
            rows.append(_read_code(table))
        data = rows[0].get((mode, filename, source))
        return None if data is None else rows[0][None](data)

    replaced = []

    def give(module, names):
        if not replaced:
            replaced.append(compilers(lookup))
        give_builtins(module, names, replaced[0])

    for module_name, names in SHADOWED:
        if module_name == "annotationlib" and sys.version_info < (3, 14):
            continue
        _after_import(module_name, lambda module, n=names: give(module, n))


def compilers(lookup, note=None):
    """``exec``, ``eval`` and ``compile`` that take a source's code from ``lookup(mode,
    filename, source)`` (``None``: not there, compiled as always): for a ``str`` given with the
    globals to run it in (``exec``, ``eval``), or with only a file name and a mode
    (``compile``). ``note(mode, filename, source)``, where given, is told of each such source
    (the build's recording, ``_code_table.py``). A call without globals takes its caller's,
    as the built-in does."""
    import builtins

    def keyed(function, source, args, kwargs):
        if type(source) is not str or kwargs:
            return None
        if function == "compile":
            if len(args) == 2 and type(args[0]) is str and args[1] in ("exec", "eval"):
                return (args[1], args[0], source)
            return None
        if 1 <= len(args) <= 2 and type(args[0]) is dict:
            return (function, "<string>", source)
        return None

    def make(function):
        original = getattr(builtins, function)

        def shadow(source, *args, **kwargs):
            key = keyed(function, source, args, kwargs)
            if key is not None:
                if note is not None:
                    note(*key)
                code = lookup(*key)
                if code is not None:
                    return code if function == "compile" else original(code, *args)
            if function != "compile" and (args[0] if args else kwargs.get("globals")) is None:
                scope, rest = _scope(sys._getframe(1), args, kwargs)
                return original(source, *scope, **rest)
            return original(source, *args, **kwargs)

        for attribute in ("__doc__", "__name__", "__qualname__"):
            setattr(shadow, attribute, getattr(original, attribute, None))
        shadow.__wrapped__ = original
        return shadow

    return {function: make(function) for function in COMPILERS}


def give_builtins(module, names, replaced):
    """Give the functions ``names`` of ``module`` (``function``, ``Class.function``, a
    property's getter) built-ins where the names of ``replaced`` are ``replaced``'s, where their
    code names one: each is replaced by a copy of itself (the same code, globals, defaults,
    closure, names and attributes) made while the module's ``__builtins__`` was a copy of them
    with ``replaced`` in; a function takes its built-ins from its globals when it is made.
    Nothing is added to the module, and its ``__builtins__`` is given back."""
    if module is None:
        return
    namespace = module.__dict__
    missing = object()
    saved = namespace.get("__builtins__", missing)
    if type(saved) is dict:
        ours = dict(saved)
    elif type(saved) is type(sys):
        ours = dict(saved.__dict__)
    else:
        import builtins

        ours = dict(builtins.__dict__)
    ours.update(replaced)
    namespace["__builtins__"] = ours
    try:
        for name in names:
            owner_name, _, attribute = name.rpartition(".")
            owner = namespace.get(owner_name) if owner_name else None
            if owner_name and not isinstance(owner, type):
                continue
            member = (owner.__dict__ if owner is not None else namespace).get(attribute)
            made = _copied(member, namespace, replaced)
            if made is None and type(member) is property:
                getter = _copied(member.fget, namespace, replaced)
                if getter is not None:
                    made = property(getter, member.fset, member.fdel, member.__doc__)
            if made is None:
                continue
            if owner is None:
                namespace[attribute] = made
            else:
                try:
                    setattr(owner, attribute, made)
                except (AttributeError, TypeError):
                    continue
    finally:
        if saved is missing:
            del namespace["__builtins__"]
        else:
            namespace["__builtins__"] = saved


def _copied(function, namespace, replaced):
    """A copy of ``function`` (a function of the module whose globals are ``namespace``) made
    now, with the built-ins ``namespace`` has now, if its code names one of ``replaced``;
    ``None`` for anything else."""
    function_type = type(_copied)
    if type(function) is not function_type or function.__globals__ is not namespace:
        return None
    if not any(name in function.__code__.co_names for name in replaced):
        return None
    made = function_type(
        function.__code__,
        namespace,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    made.__kwdefaults__ = function.__kwdefaults__
    made.__qualname__ = function.__qualname__
    made.__doc__ = function.__doc__
    made.__module__ = function.__module__
    if hasattr(function, "__annotate__"):
        made.__annotate__ = function.__annotate__
    else:
        made.__annotations__ = function.__annotations__
    if hasattr(function, "__type_params__"):
        made.__type_params__ = function.__type_params__
    made.__dict__.update(function.__dict__)
    return made


def _scope(frame, args, kwargs):
    """The globals and locals a call of ``exec`` or ``eval`` with ``args`` and ``kwargs`` and
    without globals runs in, called from ``frame``, as the built-in takes them from its
    caller's frame (a snapshot of a function's locals, as ``locals()`` gives from 3.13)."""
    kwargs = dict(kwargs)
    kwargs.pop("globals", None)
    scope = kwargs.pop("locals", None)
    if len(args) > 1:
        scope = args[1]
    if scope is None:
        scope = frame.f_locals
        if type(scope) is not dict:
            scope = dict(scope)
    return (frame.f_globals, scope), kwargs


def _read_code(table):
    """The rows of ``table`` by ``(mode, filename, source)``, and under ``None`` what makes a
    row's code; empty when it cannot be read or the program runs with ``-O``."""
    import marshal

    rows = {None: marshal.loads}
    if not sys.flags.optimize:
        rows.update(((row[0], row[1], row[2]), row[3]) for row in _rows(table))
    return rows


def _defer(patch):
    """Nuitka's function after the first import of ``inspect`` or call of
    ``types.coroutine``; ``types`` itself executes at its first use (:func:`_lazy`), as under
    the interpreter, which does not execute it at start."""
    shims = []

    def run(_module):
        if shims:
            types, original, shim = shims[0]
            if types.coroutine is shim:
                types.coroutine = original
        patch()

    now = _after_import("inspect", run)

    def wrap(types):
        original = types.coroutine

        def coroutine(func):
            now()
            return types.coroutine(func)

        for attribute in ("__doc__", "__name__", "__qualname__", "__module__"):
            setattr(coroutine, attribute, getattr(original, attribute))
        shims.append((types, original, coroutine))
        # inspect imports types: executed now for inspect, types is left as it is, and
        # Nuitka's function runs right after inspect has executed.
        if "inspect" not in sys.modules:
            types.coroutine = coroutine

    if "types" in sys.modules:
        wrap(sys.modules["types"])
    else:
        # Nuitka's compiled code may import types without asking sys.meta_path, never
        # without sys.modules.
        _lazy("types", {}, then=wrap)[1]()


def _stand_in(patch):
    """Nuitka's function now, against a stand-in for ``inspect`` and with ``typing`` left to
    execute at its first use (Nuitka's function takes only its type variables, which are
    ``_typing``'s); the real ``inspect`` gets what it put on the stand-in once imported."""
    close = None
    if "typing" not in sys.modules:
        import _typing

        served = {name: getattr(_typing, name) for name in TYPING if hasattr(_typing, name)}
        close = _lazy("typing", served)[1]
    try:
        _stand_in_inspect(patch)
    finally:
        if close is not None:
            close()


def _stand_in_inspect(patch):
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

    _after_import("inspect", transplant)
