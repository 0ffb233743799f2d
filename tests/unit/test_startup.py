"""The program's start (compile/startup.py): when Nuitka's inspect patch is deferred, and what
the hook does, run under this interpreter's own import system in a fresh process.

The hook's ``patch`` here records its calls; the real one (Nuitka's function, linked into the
program) is exercised by tests/integration/test_startup.py on compiled programs.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pybin2img.compile import startup
from pybin2img.compile.probe import Interpreter
from pybin2img.errors import CompileError

HOOK = Path(startup.__file__).with_name("_startup_hook.py")
#: The hook changes the import system of the process it runs in: each case gets its own.
FRESH = pytest.mark.allow_programs("the hook runs in a fresh interpreter, -I -S")


def _interpreter(version: str, nuitka_main: Path | None) -> Interpreter:
    return Interpreter(
        executable=Path(sys.executable),
        python_version=version,
        nuitka_version="4.3.5",
        nuitka_main=nuitka_main,
    )


def _nuitka_sources(root: Path, definition: str, call: str) -> Path:
    """Nuitka's sources as the start-up object reads them, with ``definition`` and ``call`` of
    patchInspectModule."""
    package = root / "nuitka"
    calls = [call]
    for name, relative, text, called in startup._FUNCTIONS:
        if name != startup._FUNCTION:
            (package / relative).parent.mkdir(parents=True, exist_ok=True)
            (package / relative).write_text(f"{text}\n    return;\n}}\n")
            calls.append(called + ('PATH", NULL);' if called.endswith('"') else ""))
    (package / "build" / "static_src").mkdir(parents=True, exist_ok=True)
    (package / "build" / "static_src" / "InspectPatcher.c").write_text(
        f"{definition}\n    return;\n}}\n"
    )
    body = "\n    ".join(calls)
    (package / "build" / "static_src" / "MainProgram.c").write_text(
        f"int main() {{\n    {body}\n}}\n"
    )
    (package / "__main__.py").write_text("")
    return package / "__main__.py"


def test_the_installed_nuitka_calls_the_function_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka moves to sources the start-up object does not know."""
    main = _installed_package() / "__main__.py"
    assert startup.why_not_deferred(_interpreter("3.11.7", main), ()) is None


@pytest.mark.parametrize(
    ("version", "args", "definition", "call", "why"),
    [
        ("3.11.2", (), startup._DEFINITION, startup._CALL, None),
        ("3.10.12", ("--lto=no",), startup._DEFINITION, startup._CALL, None),
        ("3.13.5", (), startup._DEFINITION, startup._CALL, None),
        ("3.14.2", (), startup._DEFINITION, startup._CALL, None),
        ("3.11.7", ("--lto=yes",), startup._DEFINITION, startup._CALL, "link-time"),
        ("3.11.7", ("--lto=auto",), startup._DEFINITION, startup._CALL, "--lto=auto"),
        ("3.11.7", ("--pgo-c",), startup._DEFINITION, startup._CALL, "--pgo-c"),
        ("3.11.7", (), "void patchInspectModule(void) {", startup._CALL, "as expected"),
        ("3.11.7", (), startup._DEFINITION, "patchInspectModule(ts);", "as expected"),
        (
            "3.13.5",
            (),
            startup._DEFINITION + '\n    PyObject_GetAttrString(module_inspect, "isfunction");',
            startup._CALL,
            "uses inspect.isfunction",
        ),
        (
            "3.13.5",
            (),
            startup._DEFINITION + '\n    "import inspect\\n_old = inspect.signature\\n"',
            startup._CALL,
            "uses inspect.signature",
        ),
    ],
)
def test_deferred_only_where_it_is_the_same(
    tmp_path: Path,
    version: str,
    args: tuple[str, ...],
    definition: str,
    call: str,
    why: str | None,
) -> None:
    main = _nuitka_sources(tmp_path, definition, call)
    reason = startup.why_not_deferred(_interpreter(version, main), args)
    if why is None:
        assert reason is None
    else:
        assert reason is not None
        assert why in reason


def test_no_nuitka_sources_means_no_deferral(tmp_path: Path) -> None:
    assert "not found" in (startup.why_not_deferred(_interpreter("3.11.7", None), ()) or "")
    reason = startup.why_not_deferred(_interpreter("3.11.7", tmp_path / "__main__.py"), ())
    assert reason is not None
    assert "not found" in reason


def test_lto_is_turned_off_unless_the_user_chose() -> None:
    assert startup.startup_nuitka_args(()) == ("--lto=no",)
    assert startup.startup_nuitka_args(("--lto=no",)) == ()


_RUN = """
import sys
facts = {"calls": []}
def patch():
    inspect = sys.modules.get("inspect")
    facts["calls"].append({
        "inspect executed": inspect is not None and hasattr(inspect, "getgeneratorstate"),
        "types.coroutine": sys.modules["types"].coroutine.__code__.co_filename
            if "types" in sys.modules else None,
    })
NUITKA_LIKE
namespace = {"__name__": "pybin2img_startup"}
exec(compile(open(sys.argv[1]).read(), "<pybin2img>", "exec"), namespace)
def hooks():
    return [f for f in sys.meta_path if getattr(f, "__module__", "") == "pybin2img_startup"]
BEFORE
namespace[ENTRY](PATCH)
facts["at install"] = {"inspect": "inspect" in sys.modules, "hooks": len(hooks())}
AFTER
facts["hooks at end"] = len(hooks())
import json
print(json.dumps(facts))
"""


def _run(before: str, after: str, entry: str = "_defer", patch: str = "patch") -> dict[str, Any]:
    script = (
        _RUN.replace("BEFORE", before)
        .replace("AFTER", after)
        .replace("ENTRY", repr(entry))
        .replace("PATCH", patch)
        .replace("NUITKA_LIKE", _NUITKA_LIKE)
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(HOOK)],
        capture_output=True,
        text=True,
        check=True,
    )
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


@FRESH
def test_inspect_first_runs_the_patch_once_after_inspect_has_executed() -> None:
    facts = _run(
        "",
        "import inspect\n"
        "facts['loader'] = type(inspect.__loader__).__name__\n"
        "facts['same loader'] = inspect.__spec__.loader is inspect.__loader__\n"
        "import inspect, importlib; importlib.import_module('inspect')\n",
    )
    assert facts["at install"] == {"inspect": False, "hooks": 1}
    calls = facts["calls"]
    assert len(calls) == 1
    assert calls[0]["inspect executed"] is True
    # inspect imports types: the shim was taken back before Nuitka's function read it.
    assert calls[0]["types.coroutine"].endswith("types.py")
    assert facts["loader"] in ("SourceFileLoader", "SourcelessFileLoader", "FrozenImporter")
    assert facts["same loader"] is True
    assert facts["hooks at end"] == 0


@FRESH
def test_types_coroutine_first_runs_the_patch_and_gives_back_the_original() -> None:
    facts = _run(
        "",
        "import types\n"
        "shim = types.coroutine\n"
        "facts['shim'] = [shim.__name__, shim.__qualname__, shim.__module__]\n"
        "def gen():\n"
        "    yield 1\n"
        "wrapped = shim(gen)\n"
        "facts['flags'] = bool(wrapped.__code__.co_flags & 0x100)\n"
        "facts['original back'] = types.coroutine is not shim and "
        "types.coroutine.__code__.co_filename.endswith('types.py')\n"
        "import inspect\n",
    )
    assert facts["shim"] == ["coroutine", "coroutine", "types"]
    assert facts["flags"] is True  # CO_ITERABLE_COROUTINE, as the original sets it
    assert facts["original back"] is True
    calls = facts["calls"]
    assert len(calls) == 1
    assert facts["hooks at end"] == 0


@FRESH
@pytest.mark.parametrize("before", ["", "import types"])
def test_the_shim_is_in_place_at_once(before: str) -> None:
    """Nuitka's compiled code may import types without asking sys.meta_path: the hook imports
    it itself."""
    facts = _run(
        before,
        "import types\nfacts['shim'] = types.coroutine.__code__.co_filename\nimport inspect\n",
    )
    assert facts["shim"] == "<pybin2img>"
    assert len(facts["calls"]) == 1


@FRESH
def test_types_executes_at_its_first_use_with_the_shim_in_place() -> None:
    """The interpreter does not execute types at start, nor does the program: it is in
    sys.modules as a module that executes at its first import or use."""
    facts = _run(
        "",
        "facts['types at install'] = type(sys.modules['types']).__name__\n"
        "import types\n"
        "facts['imported'] = [type(types).__name__, types.__spec__.name, types.__name__]\n"
        "facts['shim'] = types.coroutine.__code__.co_filename\n"
        "facts['same'] = sys.modules['types'] is types\n",
    )
    assert facts["types at install"] == "Lazy"
    assert facts["imported"] == ["module", "types", "types"]
    assert facts["shim"] == "<pybin2img>"
    assert facts["same"] is True
    assert facts["calls"] == []


@FRESH
def test_inspect_imported_before_the_hook_is_patched_at_once() -> None:
    facts = _run("import inspect", "")
    assert facts["at install"] == {"inspect": True, "hooks": 0}
    assert len(facts["calls"]) == 1


@FRESH
def test_a_program_that_uses_neither_never_pays() -> None:
    facts = _run("", "import os, json, re\n")
    assert facts["calls"] == []
    assert facts["hooks at end"] == 1


#: What Nuitka's function does to inspect, in Python: replacements that answer for "compiled"
#: objects with the constants of the inspect module it imported (the stand-in, from 3.12) and
#: hand everything else to the functions they replaced; and _get_code_position wrapped.
_NUITKA_LIKE = """
class Compiled:
    pass
def nuitka_like():
    import inspect
    facts["calls"].append({"inspect": type(inspect.__spec__).__name__})
    module_inspect = inspect
    old_state = inspect.getgeneratorstate
    def getgeneratorstate(generator):
        if isinstance(generator, Compiled):
            return module_inspect.GEN_SUSPENDED
        return old_state(generator)
    inspect.getgeneratorstate = getgeneratorstate
    old_position = inspect._get_code_position
    def _get_code_position(code, index):
        try:
            return old_position(code, index)
        except StopIteration:
            return None, None, None, None
    inspect._get_code_position = _get_code_position
"""


@FRESH
def test_stand_in_runs_the_patch_at_once_and_hands_it_to_the_real_inspect() -> None:
    facts = _run(
        "",
        "import inspect\n"
        "def numbers():\n"
        "    yield 1\n"
        "facts['real'] = inspect.getgeneratorstate(numbers())\n"
        "facts['compiled'] = inspect.getgeneratorstate(Compiled())\n"
        "facts['same string'] = inspect.getgeneratorstate(Compiled()) is inspect.GEN_SUSPENDED\n"
        "facts['wrapped'] = inspect._get_code_position.__qualname__\n"
        "facts['position'] = list(inspect._get_code_position(numbers.__code__, 0))\n"
        "facts['loader'] = type(inspect.__loader__).__name__\n",
        entry="_stand_in",
        patch="nuitka_like",
    )
    # Nuitka's function ran at once, against the stand-in (a module without a spec) ...
    assert facts["calls"] == [{"inspect": "NoneType"}]
    assert facts["at install"] == {"inspect": False, "hooks": 1}
    # ... and the real inspect has its replacements, which fall back to the real originals.
    assert facts["real"] == "GEN_CREATED"
    assert facts["compiled"] == "GEN_SUSPENDED"
    assert facts["same string"] is True
    assert facts["wrapped"] == "nuitka_like.<locals>._get_code_position"
    assert len(facts["position"]) == 4
    assert facts["loader"] in ("SourceFileLoader", "SourcelessFileLoader", "FrozenImporter")
    assert facts["hooks at end"] == 0


@FRESH
def test_stand_in_with_inspect_already_imported_patches_it_directly() -> None:
    facts = _run(
        "import inspect",
        "facts['patched'] = inspect.getgeneratorstate.__qualname__\n",
        entry="_stand_in",
        patch="nuitka_like",
    )
    assert facts["calls"] == [{"inspect": "ModuleSpec"}]
    assert facts["patched"] == "nuitka_like.<locals>.getgeneratorstate"
    assert facts["hooks at end"] == 0


@FRESH
def test_install_takes_the_stand_in_from_3_12_on() -> None:
    facts = _run("", "", entry="install")
    at_start = len(facts["calls"])
    assert at_start == (1 if sys.version_info >= (3, 12) else 0)


@pytest.mark.allow_programs("the build interpreter marshals the hook")
def test_a_directory_that_cannot_be_written_is_a_compile_error(tmp_path: Path) -> None:
    """A full disk or a vanished work directory: an error the caller maps (the cache's, when
    the disk is full), not a traceback."""
    interpreter = _interpreter("3.11.7", None)
    with pytest.raises(CompileError, match="cannot write") as caught:
        startup.link_startup(interpreter, tmp_path / "gone", None)
    assert "No such file or directory" in (caught.value.details or "")


#: Nuitka's loader setup and start, in Python: it imports ``os`` and keeps ``os.path`` (its
#: ``sys.path`` hook's, in C: ``PyImport_ImportModule`` and ``LOOKUP_ATTRIBUTE``), then restores
#: the environment variables it changed for the interpreter's initialisation.
_LAZY = """
import sys
namespace = {"__name__": "pybin2img_startup"}
exec(compile(open(sys.argv[1]).read(), "<pybin2img>", "exec"), namespace)
kept = {}
def setup():
    kept["os"] = __import__("os")
    kept["path"] = kept["os"].path
namespace["lazy_start"](setup)
def state(*names):
    return {name: type(sys.modules[name]).__name__ if name in sys.modules else None
            for name in names}
facts = {"after setup": state("os", "posixpath", "stat", "_collections_abc")}
facts["restored"] = [namespace["restore_environ"]("PYBIN2IMG_SET", b"again"),
                     namespace["restore_environ"]("PYBIN2IMG_GONE", None)]
BODY
import json
print(json.dumps(facts))
"""


def _lazy(body: str, **env: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _LAZY.replace("BODY", body), str(HOOK)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYBIN2IMG_SET": "/", "PYBIN2IMG_GONE": "here", **env},
        timeout=60,
    )
    facts: dict[str, Any] = json.loads(proc.stdout)
    return facts


@FRESH
def test_os_executes_at_its_first_use_as_the_module_nuitka_kept() -> None:
    facts = _lazy(
        "import os\n"
        "facts['at import'] = state('os', 'posixpath', 'stat')\n"
        "facts['same'] = [os is kept['os'], os.path is kept['path'],\n"
        "                 sys.modules['os.path'] is os.path, os.path is sys.modules['posixpath']]\n"
        "facts['works'] = [os.path.join('a', 'b'), os.sep, os.__name__, type(os).__name__]\n"
        "facts['spec'] = [os.__spec__.name, os.__loader__ is os.__spec__.loader]\n"
    )
    # Nuitka's setup got os and os.path without executing either ...
    assert facts["after setup"] == {
        "os": "Lazy",
        "posixpath": "Lazy",
        "stat": None,
        "_collections_abc": None,
    }
    # ... and the program's import executes os, into the very module Nuitka kept.
    assert facts["at import"] == {"os": "module", "posixpath": "module", "stat": "module"}
    assert facts["same"] == [True, True, True, True]
    assert facts["works"] == ["a/b", "/", "os", "module"]
    assert facts["spec"] == ["os", True]


@FRESH
def test_the_environment_nuitka_restores_is_the_one_os_environ_is_made_from() -> None:
    facts = _lazy(
        "import os\n"
        "facts['environ'] = [os.environ.get('PYBIN2IMG_SET'), 'PYBIN2IMG_GONE' in os.environ]\n"
        "facts['C'] = os.popen('echo ${PYBIN2IMG_SET}-${PYBIN2IMG_GONE-unset}').read().strip()\n"
        "facts['again'] = namespace['restore_environ']('PYBIN2IMG_SET', b'x')\n"
    )
    assert facts["restored"] == [True, True]
    assert facts["environ"] == ["again", False]
    assert facts["C"] == "again-unset"
    # Once os has executed, Nuitka's own function does it (through os.environ).
    assert facts["again"] is False


@FRESH
def test_any_use_executes_it_once() -> None:
    facts = _lazy(
        "kept['os'].custom = 1\n"
        "facts['set'] = [state('os'), sys.modules['os'].custom, 'getcwd' in dir(kept['os'])]\n"
        "facts['path'] = [kept['path'].basename('/a/b'), state('posixpath')]\n"
        "import os\n"
        "facts['kept'] = os.custom\n"
    )
    assert facts["set"] == [{"os": "module"}, 1, True]
    assert facts["path"] == ["b", {"posixpath": "module"}]
    assert facts["kept"] == 1


@FRESH
def test_threads_wait_for_the_one_execution() -> None:
    facts = _lazy(
        "import _thread, time\n"
        "finds = []\n"
        "class Count:\n"
        "    @staticmethod\n"
        "    def find_spec(name, path=None, target=None):\n"
        "        if name == 'os':\n"
        "            finds.append(name)\n"
        "            time.sleep(0.05)\n"
        "sys.meta_path.insert(0, Count)\n"
        "go, seen = [], []\n"
        "def use():\n"
        "    while not go:\n"
        "        time.sleep(0.001)\n"
        "    try:\n"
        "        seen.append(id(kept['os'].environ))\n"
        "    except AttributeError:\n"
        "        seen.append(None)\n"
        "for _ in range(8):\n"
        "    _thread.start_new_thread(use, ())\n"
        "go.append(True)\n"
        "while len(seen) < 8:\n"
        "    time.sleep(0.01)\n"
        "facts['executions'] = len(finds)\n"
        "facts['environs'] = len(set(seen))\n"
    )
    assert facts["executions"] == 1
    assert facts["environs"] == 1


#: The hook, as the program has it: executed into a namespace of its own.
_HOOK_LOADED = (
    "import sys\n"
    "namespace = {'__name__': 'pybin2img_startup'}\n"
    "exec(compile(open(sys.argv[1]).read(), '<pybin2img>', 'exec'), namespace)\n"
)


def _with_hook(body: str) -> str:
    """What ``body`` prints, run after the hook in a fresh ``-I -S`` interpreter."""
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _HOOK_LOADED + body, str(HOOK)],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


@FRESH
def test_with_os_already_imported_setup_runs_as_it_is() -> None:
    printed = _with_hook(
        "import os\n"
        "ran = []\n"
        "namespace['lazy_start'](lambda: ran.append(type(sys.modules['os']).__name__))\n"
        "print(ran, namespace['restore_environ']('X', None))\n"
    )
    assert printed.split() == ["['module']", "False"]


@FRESH
def test_typing_is_left_to_its_first_use_from_3_12_on() -> None:
    """What Nuitka's function takes from typing (its type variables) are _typing's, the very
    types typing exports: it patches them without typing executing. (Before 3.12 it takes
    nothing from typing, and the hook puts nothing there.)"""
    if sys.version_info < (3, 12):
        printed = _with_hook("namespace['install'](lambda: None)\nprint('typing' in sys.modules)\n")
        assert printed.strip() == "False"
        return
    printed = _with_hook(
        "kept = {}\n"
        "def patch():\n"
        "    typing = __import__('typing')\n"
        "    kept['typing'] = typing\n"
        "    kept['types'] = [getattr(typing, name) for name in namespace['TYPING']]\n"
        "namespace['_stand_in'](patch)\n"
        "facts = {'after': type(sys.modules['typing']).__name__}\n"
        "import typing, _typing\n"
        "facts['same'] = [typing is kept['typing'], type(typing).__name__,\n"
        "                 kept['types'] == [typing.TypeVar, typing.ParamSpec,\n"
        "                                   typing.TypeVarTuple],\n"
        "                 typing.TypeVar is _typing.TypeVar]\n"
        "T = typing.TypeVar('T')\n"
        "facts['works'] = [T.__name__, T.__module__, typing.List[int] == list[int]]\n"
        "import json\n"
        "print(json.dumps(facts))\n"
    )
    facts = json.loads(printed)
    assert facts["after"] == "Lazy"
    assert facts["same"] == [True, "module", True, True]
    assert facts["works"] == ["T", "__main__", False]


@pytest.mark.parametrize("function", ["setupMetaPathBasedLoader", "undoEnvironmentVariable"])
def test_no_object_when_nuitka_defines_another_of_its_functions_otherwise(
    tmp_path: Path, function: str
) -> None:
    main = _nuitka_sources(tmp_path, startup._DEFINITION, startup._CALL)
    relative = next(f[1] for f in startup._FUNCTIONS if f[0] == function)
    (main.parent / relative).write_text(f"void {function}(void) {{\n}}\n")
    reason = startup.why_not_deferred(_interpreter("3.11.7", main), ())
    assert reason is not None
    assert f"does not call {function} as expected" in reason


def _installed_package() -> Path:
    spec = importlib.util.find_spec("nuitka")
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin).parent


def _installed_patcher() -> str:
    path = _installed_package() / "build" / "static_src" / "InspectPatcher.c"
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("version", ["3.10.12", "3.11.7", "3.12.3", "3.13.5", "3.14.2"])
def test_the_source_nuitka_compiles_at_start_is_read_as_its_version_has_it(version: str) -> None:
    """Fails when the pinned Nuitka spells it otherwise: the program then compiles it at
    start again (2.6 M instructions on 3.13)."""
    source = startup.compiled_source(_installed_patcher(), version)
    assert source is not None
    compile(source, "<exec>", "exec", dont_inherit=True)
    assert "def _types_coroutine(func):" in source
    # The _get_code_position part is Nuitka's only from 3.11 on.
    assert ("_get_code_position" in source) is (version >= "3.11")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a\\n\\\nb\\n"\n', "a\nb\n"),
        ('"a\\n"\n#if PYTHON_VERSION >= 0x3d0\n"new\\n"\n#else\n"old\\n"\n#endif\n', "a\nnew\n"),
        ('"a\\n"\n#if PYTHON_VERSION < 0x3d0\n"old\\n"\n#endif\n', "a\n"),
        ('"q \\"x\\" \\\'y\\\' \\\\ \\t"\n', "q \"x\" 'y' \\ \t"),
        ('"a"\n#ifdef _WIN32\n"b"\n#endif\n', None),
        ('"a"\n#if PYTHON_VERSION >= 0x3d0\n"b"\n', None),
        ('"a\\x41"\n', None),
        ('"a" SOME_MACRO\n', None),
        ('"caf\u00e9"\n', None),
    ],
)
def test_the_source_is_read_as_the_c_compiler_would(text: str, expected: str | None) -> None:
    patcher = f"    static char const *wrapper_enhancement_code = {text}        ;\n"
    assert startup.compiled_source(patcher, "3.13.5") == expected


def test_no_source_where_nuitka_has_none() -> None:
    assert startup.compiled_source("void patchInspectModule(void) {}\n", "3.13.5") is None


@pytest.mark.allow_programs("the build interpreter marshals the hook, the C compiler builds it")
def test_the_object_carries_the_source_compiled_by_the_build_interpreter(tmp_path: Path) -> None:
    version = ".".join(map(str, sys.version_info[:3]))
    interpreter = _interpreter(version, _installed_package() / "__main__.py")
    flags = startup.link_startup(interpreter, tmp_path, startup.blob_tags(interpreter))
    assert "-Wl,--wrap=Py_CompileStringExFlags" in flags
    assert Path(flags[-1]).is_file()
    text = (tmp_path / "pybin2img_startup.c").read_text(encoding="utf-8")
    code = text.split("SNIPPET_CODE[] = {", 1)[1].split("};", 1)[0]
    source = text.split("SNIPPET_SOURCE[] = {", 1)[1].split("};", 1)[0]
    assert code.count("0x") > 1000
    assert (
        source.count("0x") == len(startup.compiled_source(_installed_patcher(), version) or "") + 1
    )
    # The installed Nuitka walks its blob as the object reads it: the object does it instead.
    assert "-Wl,--wrap=loadConstantsBlob" in flags
    assert "-Wl,--wrap=PyMarshal_ReadObjectFromString" in flags
    # And it opens /dev/null for a closed standard stream as the object expects.
    assert "-Wl,--wrap=BUILTIN_OPEN_SIMPLE" in flags
    # And it imports importlib._bootstrap at start as the object expects.
    assert "-Wl,--wrap=getImportLibBootstrapModule" in flags
    # And it sets the whole locale for its command line as the object expects.
    assert "-Wl,--wrap=setlocale" in flags
    # And it compares its loader entries' names as the object expects.
    assert "-Wl,--wrap=registerMetaPathBasedLoader" in flags
    # And it makes its class of distributions as the object expects.
    assert "-Wl,--wrap=PyImport_ExecCodeModule" in flags


def test_the_installed_nuitka_walks_its_blob_as_the_object_reads_it() -> None:
    """Fails when the pinned Nuitka spells its constants blob otherwise: the program then maps
    the blob's pages at start again (4.6 MiB on hello)."""
    main = _installed_package() / "__main__.py"
    assert startup.blob_tags(_interpreter("3.11.7", main)) == (ord("X"), ord("."))


def _blob_sources(root: Path) -> Path:
    """A copy of the installed Nuitka's files that spell its blob; its ``__main__.py``."""
    package = root / "nuitka"
    for relative in {*(relative for relative, _text in startup._BLOB_TEXTS), startup._BLOB_SPEC}:
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_bytes((_installed_package() / relative).read_bytes())
    (package / "__main__.py").write_text("")
    return package / "__main__.py"


@pytest.mark.parametrize("which", range(len(startup._BLOB_TEXTS)))
def test_nuitka_walks_its_blob_itself_when_its_sources_differ(tmp_path: Path, which: int) -> None:
    main = _blob_sources(tmp_path)
    assert startup.blob_tags(_interpreter("3.13.5", main)) is not None
    relative, text = startup._BLOB_TEXTS[which]
    path = main.parent / relative
    path.write_text(path.read_text(encoding="utf-8").replace(text, text.replace("(", " (")))
    assert startup.blob_tags(_interpreter("3.13.5", main)) is None


@pytest.mark.parametrize(
    "spec",
    [
        "#define NUITKA_CONSTANT_BLOB_TAG_END 0x2e\n",
        "#define NUITKA_CONSTANT_BLOB_TAG_BLOB_DATA 0x58\n",
        "#define NUITKA_CONSTANT_BLOB_TAG_BLOB_DATA 'X'\n"
        "#define NUITKA_CONSTANT_BLOB_TAG_END 0x2e\n",
    ],
)
def test_nuitka_walks_its_blob_itself_without_both_tags(tmp_path: Path, spec: str) -> None:
    main = _blob_sources(tmp_path)
    (main.parent / startup._BLOB_SPEC).write_text(spec)
    assert startup.blob_tags(_interpreter("3.11.7", main)) is None
    assert startup.blob_tags(_interpreter("3.11.7", None)) is None
    assert startup.blob_tags(_interpreter("3.11.7", tmp_path / "none" / "__main__.py")) is None


@pytest.mark.allow_programs("the build interpreter marshals the hook, the C compiler builds it")
def test_without_the_blob_tags_the_object_leaves_the_blob_to_nuitka(tmp_path: Path) -> None:
    version = ".".join(map(str, sys.version_info[:3]))
    flags = startup.link_startup(
        _interpreter(version, _installed_package() / "__main__.py"), tmp_path, None
    )
    assert "-Wl,--wrap=Py_CompileStringExFlags" in flags
    assert not [flag for flag in flags if "loadConstantsBlob" in flag or "PyMarshal" in flag]


def test_the_installed_nuitka_opens_dev_null_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka opens /dev/null for a closed standard stream otherwise:
    where there is no /dev/null, the program's start then goes on with an error set again."""
    assert startup.closed_streams(_interpreter("3.11.7", _installed_package() / "__main__.py"))


def _spelling_sources(
    root: Path, texts: tuple[tuple[str, str], ...] = startup._DEVNULL_TEXTS
) -> Path:
    """A copy of the installed Nuitka's files that spell ``texts`` (those that open /dev/null);
    its ``__main__.py``."""
    package = root / "nuitka"
    for relative in {relative for relative, _text in texts}:
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_bytes((_installed_package() / relative).read_bytes())
    (package / "__main__.py").write_text("")
    return package / "__main__.py"


#: Each stand-in that depends on how Nuitka's sources spell a call: its check and texts.
_SPELLED = {
    "closed_streams": startup._DEVNULL_TEXTS,
    "bootstrap_handed": startup._BOOTSTRAP_TEXTS,
    "locale_narrowed": startup._LOCALE_TEXTS,
    "loader_name_limit": startup._LOADER_TEXTS,
    "distribution_names": startup._DISTRIBUTION_TEXTS,
    "allocator_unhooked": startup._ALLOCATOR_TEXTS,
    "frozen_table_before_preinit": startup._FROZEN_TEXTS,
}


@pytest.mark.parametrize(
    ("check", "which"),
    [(check, which) for check, texts in _SPELLED.items() for which in range(len(texts))],
)
def test_a_stand_in_is_left_to_nuitka_when_its_sources_differ(
    tmp_path: Path, check: str, which: int
) -> None:
    spelled = getattr(startup, check)
    main = _spelling_sources(tmp_path, _SPELLED[check])
    assert spelled(_interpreter("3.13.5", main))
    relative, text = _SPELLED[check][which]
    path = main.parent / relative
    flat = " ".join(path.read_text(encoding="utf-8").split())
    assert text in flat
    path.write_text(flat.replace(text, text.replace("(", " (", 1)))
    assert not spelled(_interpreter("3.13.5", main))
    assert not spelled(_interpreter("3.13.5", None))


def test_closed_streams_are_left_to_nuitka_without_its_sources(tmp_path: Path) -> None:
    assert not startup.closed_streams(_interpreter("3.11.7", None))
    assert not startup.closed_streams(_interpreter("3.11.7", tmp_path / "none" / "__main__.py"))


def test_closed_streams_are_left_to_nuitka_when_the_streams_come_after_the_importer(
    tmp_path: Path,
) -> None:
    """The object stops standing in once Nuitka's importer is set up."""
    main = _spelling_sources(tmp_path)
    path = main.parent / "build" / "static_src" / "MainProgram.c"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("setInputOutputHandles(tstate);", "")
        + "\nvoid f(void) { setInputOutputHandles(tstate); }\n"
    )
    assert not startup.closed_streams(_interpreter("3.11.7", main))


def test_the_installed_nuitka_imports_the_bootstrap_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka imports importlib._bootstrap at start otherwise: the
    importlib package and warnings then execute at every start again (1.5 M instructions)."""
    assert startup.bootstrap_handed(_interpreter("3.11.7", _installed_package() / "__main__.py"))


@pytest.mark.parametrize(
    "change",
    [
        # called a second time, after the importer is set up
        lambda text: text + "\nvoid f(void) { PyObject *m = getImportLibBootstrapModule(); }\n",
        # called only after the importer is set up
        lambda text: (
            text.replace("= getImportLibBootstrapModule();", "= NULL;")
            + "\nvoid f(void) { PyObject *m = getImportLibBootstrapModule(); }\n"
        ),
    ],
)
def test_the_bootstrap_is_left_to_nuitka_unless_main_asks_once_before_its_importer(
    tmp_path: Path, change: Callable[[str], str]
) -> None:
    main = _spelling_sources(tmp_path, startup._BOOTSTRAP_TEXTS)
    path = main.parent / "build" / "static_src" / "MainProgram.c"
    path.write_text(change(path.read_text(encoding="utf-8")))
    assert not startup.bootstrap_handed(_interpreter("3.11.7", main))


def test_the_installed_nuitka_sets_the_locale_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka sets the locale for its command line otherwise: the
    program then reads every category's file of the locale at start again."""
    assert startup.locale_narrowed(_interpreter("3.11.7", _installed_package() / "__main__.py"))


def test_the_locale_is_left_to_nuitka_where_it_sets_the_whole_locale_elsewhere(
    tmp_path: Path,
) -> None:
    """The object narrows the first such call until the importer is set up; Nuitka's main()
    must make no other."""
    main = _spelling_sources(tmp_path, startup._LOCALE_TEXTS)
    path = main.parent / startup._MAIN
    path.write_text(
        path.read_text(encoding="utf-8") + '\nvoid f(void) { setlocale(LC_ALL, ""); }\n'
    )
    assert not startup.locale_narrowed(_interpreter("3.11.7", main))


def test_the_installed_nuitka_compares_module_names_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka compares its loader entries' names otherwise: each import
    then copies every name of its table into a buffer again (5% of a Flask app's start)."""
    main = _installed_package() / "__main__.py"
    assert startup.loader_name_limit(_interpreter("3.11.7", main)) == 2048


@pytest.mark.parametrize(
    "change",
    [
        # a field before the name: the object would read the wrong slots
        lambda text: text.replace(
            "struct Nuitka_MetaPathBasedLoaderEntry {",
            "struct Nuitka_MetaPathBasedLoaderEntry {\n    int m_flags;",
        ),
        # the buffer's length given twice, or not at all
        lambda text: text + "\n#define NUITKA_LOADER_NAME_MAX_LEN 4096\n",
        lambda text: text.replace("#define NUITKA_LOADER_NAME_MAX_LEN", "#define OTHER_LEN"),
    ],
)
def test_module_names_are_left_to_nuitka_where_its_entries_differ(
    tmp_path: Path, change: Callable[[str], str]
) -> None:
    main = _spelling_sources(tmp_path, startup._LOADER_TEXTS)
    path = main.parent / startup._LOADER_TEXTS[-1][0]
    path.write_text(change(path.read_text(encoding="utf-8")))
    assert startup.loader_name_limit(_interpreter("3.11.7", main)) is None


def test_the_installed_nuitka_makes_its_distributions_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka makes its class of distributions otherwise: each
    ``entry_points()`` then parses every distribution's whole METADATA again."""
    main = _installed_package() / "__main__.py"
    assert startup.distribution_names(_interpreter("3.11.7", main))


def test_distributions_are_left_to_nuitka_where_its_class_has_its_own_name(tmp_path: Path) -> None:
    main = _spelling_sources(tmp_path, startup._DISTRIBUTION_TEXTS)
    path = main.parent / startup._DISTRIBUTION_FILE
    text = path.read_text(encoding="utf-8")
    own = "    _normalized_name = None\\n\\\n    def locate_file"
    path.write_text(text.replace("    def locate_file", own))
    assert not startup.distribution_names(_interpreter("3.11.7", main))


def test_the_installed_nuitka_keeps_the_allocator_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka keeps the interpreter's allocator otherwise: the object
    then leaves PYTHONMALLOC's debug hooks in, and ``PYTHONDEVMODE=1`` crashes the program
    (or Nuitka passes their context now, and the hooks could stay)."""
    main = _installed_package() / "__main__.py"
    assert startup.allocator_unhooked(_interpreter("3.11.7", main))
    flags = startup._stand_ins(_interpreter("3.11.7", main), None)
    assert "-DPYBIN2IMG_ALLOCATOR=1" in flags[0]
    assert "Py_PreInitialize" in flags[1]


def test_the_allocator_is_left_to_nuitka_where_main_pre_initializes_twice(tmp_path: Path) -> None:
    main = _spelling_sources(tmp_path, startup._ALLOCATOR_TEXTS)
    path = main.parent / startup._MAIN
    path.write_text(
        path.read_text(encoding="utf-8") + "\nvoid f(void) { Py_PreInitialize(NULL); }\n"
    )
    assert not startup.allocator_unhooked(_interpreter("3.11.7", main))


def test_the_installed_nuitka_has_its_table_for_the_start_before_pre_initializing() -> None:
    """Fails when the pinned Nuitka puts its table of modules for the start in place otherwise:
    from Python 3.12 on, ``PYTHONWARNINGS`` then has the program print that it cannot import
    ``warnings`` at every start."""
    main = _installed_package() / "__main__.py"
    assert startup.frozen_table_before_preinit(_interpreter("3.11.7", main))
    flags = startup._stand_ins(_interpreter("3.11.7", main), None, warnings=True)
    assert {"-DPYBIN2IMG_WARNINGS=1", "-DPYBIN2IMG_PREINIT=1"} <= set(flags[0])


def test_the_table_is_left_to_nuitka_where_it_comes_after_pre_initializing(
    tmp_path: Path,
) -> None:
    main = _spelling_sources(tmp_path, startup._FROZEN_TEXTS)
    path = main.parent / startup._MAIN
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("    prepareFrozenModules();", "")
        + "\nvoid f(void) { prepareFrozenModules(); }\n"
    )
    assert not startup.frozen_table_before_preinit(_interpreter("3.11.7", main))


@pytest.mark.allow_programs("the build interpreter compiles the modules of warnings")
def test_the_modules_of_warnings_are_those_the_start_lacks() -> None:
    """On the interpreter running the tests (the Debian 13 and sid legs run them on 3.13 and
    3.14): what ``import warnings`` executes beyond the start Nuitka carries, each compiled
    from its source, as the start-up object adds them to Nuitka's table."""
    interpreter = _interpreter(".".join(map(str, sys.version_info[:3])), None)
    modules = startup.warnings_modules(interpreter)
    expected = {(3, 11): set(), (3, 12): {"warnings"}, (3, 13): {"warnings"}}.get(
        sys.version_info[:2], {"warnings", "_py_warnings"}
    )
    assert {name for name, _package, _code in modules} == expected
    for name, package, code in modules:
        assert not package
        assert marshal.loads(code).co_filename == f"<frozen {name}>"
    table = startup._warnings_table(modules)
    assert table.endswith(f"#define WARNINGS_MODULES_COUNT {len(modules)}")


@pytest.mark.allow_programs("an interpreter that is not there")
def test_no_modules_of_warnings_before_3_11_or_without_an_interpreter(tmp_path: Path) -> None:
    assert startup.warnings_modules(_interpreter("3.10.13", None)) == []
    missing = Interpreter(
        executable=tmp_path / "python",
        python_version="3.13.5",
        nuitka_version="4.3.5",
        nuitka_main=None,
    )
    assert startup.warnings_modules(missing) == []


def test_the_installed_nuitka_reads_the_exit_exception_as_the_object_expects() -> None:
    """Fails when the pinned Nuitka executes the app or reads its exception otherwise: before
    Python 3.12 an uncaught SIGINT then kills the program with SIGSEGV again, or Nuitka no
    longer needs the object's normalizing."""
    main = _installed_package() / "__main__.py"
    assert startup.exit_exception_normalized(_interpreter("3.11.7", main))
    assert startup.exit_exception_normalized(_interpreter("3.10.13", main))
    # From 3.12 on the interpreter keeps exceptions normalized.
    assert not startup.exit_exception_normalized(_interpreter("3.12.3", main))
    flags = startup._stand_ins(_interpreter("3.11.7", main), None)
    assert "-DPYBIN2IMG_NORMALIZE=1" in flags[0]
    assert "IMPORT_EMBEDDED_MODULE" in flags[1]
    assert "IMPORT_EMBEDDED_MODULE" not in startup._stand_ins(_interpreter("3.13.5", main), None)[1]


@pytest.mark.parametrize("which", range(len(startup._NORMALIZE_TEXTS)))
def test_the_exit_exception_is_left_to_nuitka_where_its_sources_differ(
    tmp_path: Path, which: int
) -> None:
    main = _spelling_sources(tmp_path, startup._NORMALIZE_TEXTS)
    assert startup.exit_exception_normalized(_interpreter("3.11.7", main))
    relative, text = startup._NORMALIZE_TEXTS[which]
    path = main.parent / relative
    flat = " ".join(path.read_text(encoding="utf-8").split())
    path.write_text(flat.replace(text, text.replace("(", " (", 1)))
    assert not startup.exit_exception_normalized(_interpreter("3.11.7", main))
