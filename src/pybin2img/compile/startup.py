"""The program's start: modules Nuitka's runtime imports at every start, left to the program.

Nuitka's ``main()`` calls ``patchInspectModule()``, which imports ``inspect`` (with ``ast``,
``dis``, ``enum``, ``re``, ``tokenize``) to make ``inspect.getgeneratorstate``,
``inspect.getcoroutinestate`` and ``types.coroutine`` know compiled generators and coroutines.
On examples/hello that is 56 M of the 98 M instructions the program runs. pybin2img links a
small object into the program (``-Wl,--wrap=patchInspectModule``, ``_startup.c``) whose
replacement installs ``_startup_hook.py``: before Python 3.12 it runs Nuitka's function right
after the program's first import of ``inspect`` (or first call of ``types.coroutine``); from
3.12 on, where the function also patches ``sys._getframemodulename`` and ``typing`` for the
whole run, it runs it at start against a stand-in for ``inspect``, and gives the real module
what Nuitka put on the stand-in once the program imports it.

The object also stands in for ``setupMetaPathBasedLoader()`` (Nuitka's importer, which imports
``os`` for its ``sys.path`` hook) and ``undoEnvironmentVariable()`` (which gives ``PATH`` and
``PYTHONHOME`` back through ``os.environ``): ``os``, ``os.path`` and, from 3.12, ``typing`` are
modules that execute at their first use (8.7 M of hello's 37.2 M). And it stands in for
``Py_CompileStringExFlags``: the Python source Nuitka's patch compiles each time it runs is
compiled at build time (:func:`compiled_source`). And for ``loadConstantsBlob(".bytecode")``,
the walk through Nuitka's constants blob that finds each module carried as bytecode: Nuitka
reads a few bytes ahead of each module's bytecode in memory, so the kernel maps nearly the whole
blob (4.6 MiB on hello) before the program's first line; the object reads the same bytes from
the program's file and gives the same pointers (:func:`blob_tags`). And for
``PyMarshal_ReadObjectFromString``, which unmarshals a module's bytecode at its import: bytes of
the blob are read from the program's file into a buffer and unmarshalled from there, as the
interpreter reads a ``.pyc``, so that their pages do not stay mapped. And for
``BUILTIN_OPEN_SIMPLE``, with which ``main()`` opens ``/dev/null`` for a standard stream that is
closed at start: where there is no ``/dev/null``, the stream is ``None``, as the interpreter
makes it, where Nuitka would go on with an error set (:func:`closed_streams`). And for
``getImportLibBootstrapModule()``, which ``main()`` calls before it sets up its importer and
which imports ``importlib._bootstrap`` by that name, executing the ``importlib`` package and
``warnings`` at every start (1.5 M instructions on hello): it gets the interpreter's
``_frozen_importlib`` under that name, which is then taken away again, so that both execute at
their first use, as under the interpreter (:func:`bootstrap_handed`). And for ``setlocale()``
until the importer is set up: Nuitka sets every category of the environment's locale to decode
the command line and sets them back, where decoding reads ``LC_CTYPE`` only; that call sets
``LC_CTYPE`` only, and the other eleven categories' files are not read
(:func:`locale_narrowed`). And for ``registerMetaPathBasedLoader()``, which hands Nuitka's loader
its table of modules: Nuitka finds a module by comparing its name with each entry's in turn,
three times per import, copying each entry's name into a buffer first; the object gives those
entries a function that compares the name in place, in the slot Nuitka's table has for one
(:func:`loader_name_limit`; 4% of a Flask app's start). And for ``PyImport_ExecCodeModule``,
with which Nuitka executes the source of its class of distributions: the hook gives that class
the ``_normalized_name`` of ``importlib.metadata`` computed from the headers of METADATA alone,
where ``entry_points()`` parsed every distribution's whole text at each call
(:func:`distribution_names`). And for ``Py_PreInitialize``, which installs the allocator
``PYTHONMALLOC`` or ``PYTHONDEVMODE`` asks for: Nuitka calls that allocator's functions without
the context its debug hooks need, and the program crashed in its first allocation under
``PYTHONDEVMODE=1``; the object installs the same allocator without the hooks
(:func:`allocator_unhooked`); and before that call it adds the modules of ``warnings`` to
Nuitka's table of modules for the interpreter's start, which the interpreter imports while it
starts when ``sys.warnoptions`` is not empty (``PYTHONWARNINGS``, the development mode): from
Python 3.12 on Nuitka's table lacks them, and the program printed ``'import warnings' failed``
at every start (:func:`warnings_modules`). And, before Python 3.12, for
``IMPORT_EMBEDDED_MODULE()``, with which Nuitka's ``main()`` executes the app: the exception
the app ends with is normalized, as the interpreter does before printing it; Nuitka read its
type from a value that the ``KeyboardInterrupt`` of a SIGINT has not got, and the program died
of SIGSEGV on Ctrl-C (:func:`exit_exception_normalized`). Nuitka itself runs unmodified; its
functions are called as they are.

Applied when it is known to be the same: Nuitka's sources defining and calling the functions
as this object expects and touching no other name of ``inspect`` than the hook knows (read as
text), and no link-time optimisation (with LTO the linker does not redirect the call; when
Nuitka would choose LTO by itself, for Debian's Python, pybin2img asks for ``--lto=no``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ..errors import CompileError
from ..toolchain import compiler_program
from . import _startup_hook
from .probe import Interpreter

_HOOK = Path(__file__).with_name("_startup_hook.py")
_OBJECT_SOURCE = Path(__file__).with_name("_startup.c")
#: Where Nuitka's main() is, from its package directory.
_MAIN = "build/static_src/MainProgram.c"
#: Where Nuitka defines its inspect patch and the source that patch compiles at start.
_PATCHER = "build/static_src/InspectPatcher.c"
#: The function Nuitka's main() calls, and how its sources spell it (read as text).
_FUNCTION = "patchInspectModule"
_DEFINITION = "void patchInspectModule(PyThreadState *tstate) {"
_CALL = "patchInspectModule(tstate);"
#: Nuitka's functions the object stands in for: the file of Nuitka's (from its package
#: directory) that defines each, the definition, and how MainProgram.c calls it.
_FUNCTIONS = (
    (
        "setupMetaPathBasedLoader",
        "code_generation/templates/CodeTemplatesLoader.py",
        "void setupMetaPathBasedLoader(PyThreadState *tstate) {",
        "setupMetaPathBasedLoader(tstate);",
    ),
    (
        "undoEnvironmentVariable",
        "build/static_src/HelpersEnvironmentVariables.c",
        "void undoEnvironmentVariable(PyThreadState *tstate, char const *variable_name, "
        "environment_char_t const *old_value) {",
        'undoEnvironmentVariable(tstate, "',
    ),
    (_FUNCTION, _PATCHER, _DEFINITION, _CALL),
)
#: Nuitka's walk to the bytecode of the modules it carries as bytecode, which the object does by
#: reading the program's file (``_startup.c``): the texts in Nuitka's sources that spell what
#: the object reads, each with its file, and the header with the format's tags.
_BLOB_TEXTS = (
    (
        "build/static_src/HelpersConstantsBlob.c",
        "void loadConstantsBlob(PyThreadState *tstate, void *output, char const *name) {",
    ),
    ("build/static_src/HelpersConstantsBlob.c", "constant_bin = getconstant_binData();"),
    ("build/static_src/HelpersConstantsBlob.c", "uint32_t size = unpackValueUint32(&w);"),
    ("build/static_src/HelpersConstantsBlob.c", "*(unsigned char const **)*output = data;"),
    (
        "code_generation/templates/CodeTemplatesLoader.py",
        'loadConstantsBlob(tstate, bytecode_data, ".bytecode");',
    ),
    ("tools/data_composer/DataComposer.py", 'output.write(struct.pack("I", len(part)))'),
    ("tools/data_composer/DataComposer.py", 'struct.pack("H", count) + result.getvalue()'),
)
_BLOB_SPEC = "build/include/nuitka/constants_blob_spec.h"
#: How Nuitka's main() opens /dev/null for a standard stream that is closed at start, and the
#: function it calls for that, which the object stands in for (``_startup.c``): each text with
#: its file, compared with runs of white space as one space.
_DEVNULL_TEXTS = (
    (
        "build/static_src/HelpersFiles.c",
        "PyObject *BUILTIN_OPEN_SIMPLE(PyThreadState *tstate, PyObject *filename, "
        "char const *mode, bool buffering, PyObject *encoding) {",
    ),
    ("build/static_src/MainProgram.c", 'Nuitka_String_FromString("/dev/null");'),
    ("build/static_src/MainProgram.c", "BUILTIN_OPEN_SIMPLE(tstate, devnull_filename,"),
    ("build/static_src/MainProgram.c", "setInputOutputHandles(tstate);"),
)
#: How Nuitka's main() has importlib._bootstrap imported before it sets up its importer, and
#: the function it calls for that, which the object stands in for (``_startup.c``): each text
#: with its file, compared with runs of white space as one space.
_BOOTSTRAP_TEXTS = (
    ("build/static_src/MetaPathBasedLoader.c", "PyObject *getImportLibBootstrapModule(void) {"),
    (
        "build/static_src/MetaPathBasedLoader.c",
        'importlib = PyImport_ImportModule("importlib._bootstrap");',
    ),
    ("build/static_src/MainProgram.c", "= getImportLibBootstrapModule();"),
    ("build/include/nuitka/importing.h", "extern PyObject *getImportLibBootstrapModule(void);"),
)
#: How Nuitka's main() sets every category of the environment's locale for decoding the command
#: line, before it sets up its importer: the call the object narrows to ``LC_CTYPE``
#: (``_startup.c``), each text with its file, compared with runs of white space as one space.
_LOCALE_TEXTS = (
    (
        _MAIN,
        'char *old_locale = strdup(setlocale(LC_ALL, NULL)); setlocale(LC_ALL, ""); '
        "for (int i = 0; i < argc; i++) {",
    ),
    (_MAIN, "argv_copy[i] = Py_DecodeLocale(argv[i], NULL);"),
    (_MAIN, "setlocale(LC_ALL, old_locale);"),
    (_MAIN, "orig_argv = convertCommandLineParameters(argc, argv);"),
)
#: How Nuitka's loader compares the name of each entry of its table of modules, and how its
#: generated loader registers that table (a call from another file, so the linker can redirect
#: it): the object gives each plain entry a function comparing the name in place
#: (``_startup.c``). Each text with its file, compared with runs of white space as one space.
_LOADER_TEXTS = (
    (
        "build/static_src/MetaPathBasedLoader.c",
        "bool Nuitka_LoaderEntryCompareName(struct Nuitka_MetaPathBasedLoaderEntry const *entry, "
        "char const *name) { if (entry->m_compare_name != NULL) { return "
        "entry->m_compare_name(name, entry->m_name); } char "
        "name_buffer[NUITKA_LOADER_NAME_MAX_LEN]; Nuitka_LoaderEntryName(entry, name_buffer, "
        "sizeof(name_buffer)); return strcmp(name, name_buffer) == 0; }",
    ),
    (
        "build/static_src/MetaPathBasedLoader.c",
        "entry->m_get_name(buffer, buffer_size, entry->m_name); } else { copyStringSafe(buffer, "
        "entry->m_name, buffer_size); }",
    ),
    (
        "build/static_src/MetaPathBasedLoader.c",
        "void registerMetaPathBasedLoader(struct Nuitka_MetaPathBasedLoaderEntry "
        "**_loader_entries, unsigned char **bytecode_data, int entry_count) {",
    ),
    (
        "build/static_src/HelpersSafeStrings.c",
        "void copyStringSafe(char *buffer, char const *source, size_t buffer_size) { if "
        "(strlen(source) >= buffer_size) { abort(); } if (buffer != source) { strcpy(buffer, "
        "source); } }",
    ),
    (
        "code_generation/templates/CodeTemplatesLoader.py",
        "registerMetaPathBasedLoader(meta_path_loader_entries, bytecode_data, %(entry_count)d);",
    ),
    (
        "build/include/nuitka/unfreezing.h",
        "*m_compare_name)(char const *name, char const *m_name);",
    ),
)
#: How Nuitka keeps the interpreter's allocator: its functions taken once the interpreter is
#: pre-initialized and called with no context outside a debug build of Python, which the debug
#: hooks of PYTHONMALLOC and the development mode cannot take (``_startup.c`` installs the
#: allocator without them). Each text with its file, compared with runs of white space as one
#: space.
_ALLOCATOR_TEXTS = (
    (
        "build/include/nuitka/allocator.h",
        "#if defined(Py_DEBUG) extern void *python_obj_ctx; extern void *python_mem_ctx; #else "
        "#define python_obj_ctx (NULL) #define python_mem_ctx (NULL) #endif",
    ),
    (
        "build/include/nuitka/allocator.h",
        "static void *NuitkaObject_Malloc(size_t size) { return "
        "python_obj_malloc(python_obj_ctx, size); }",
    ),
    ("build/static_src/HelpersAllocator.c", "PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &allocators);"),
    (_MAIN, "PyStatus status = Py_PreInitialize(&preconfig);"),
    (_MAIN, "initNuitkaAllocators();"),
)
#: How Nuitka's main() puts its table of modules for the interpreter's start in place before it
#: pre-initializes the interpreter, and its own table back before its importer: the object adds
#: the modules of ``warnings`` to that table (:func:`warnings_modules`). Each text with its file,
#: compared with runs of white space as one space.
_FROZEN_TEXTS = (
    (_MAIN, "prepareFrozenModules();"),
    (_MAIN, "PyStatus status = Py_PreInitialize(&preconfig);"),
    (
        _MAIN,
        'NUITKA_PRINT_TRACE("main(): Removing early frozen module table again."); '
        "PyImport_FrozenModules = old_frozen;",
    ),
)
#: The modules ``import warnings`` executes after the imports Nuitka's start carries (those it
#: runs to find its table for the start: ``locale``, ``inspect``, ``importlib._bootstrap``),
#: each compiled from its source by the build interpreter: name, package or not, marshalled code.
#: Nothing where one is not a source file. Run with ``-I -S``: nothing else is imported first.
_WARNINGS_MARSHAL = (
    "import sys\n"
    "import importlib._bootstrap, inspect, locale\n"
    "known = set(sys.modules)\n"
    "import warnings\n"
    "import marshal\n"
    "found = []\n"
    "for name in [n for n in sys.modules if n not in known and n != 'marshal']:\n"
    "    if name in sys.builtin_module_names:\n"
    "        continue\n"
    "    module = sys.modules[name]\n"
    "    origin = getattr(getattr(module, '__spec__', None), 'origin', None)\n"
    "    if not (isinstance(origin, str) and origin.endswith('.py')):\n"
    "        found = []\n"
    "        break\n"
    "    with open(origin, 'rb') as f:\n"
    "        code = compile(f.read(), '<frozen ' + name + '>', 'exec', dont_inherit=True)\n"
    "    found.append([name, hasattr(module, '__path__'), marshal.dumps(code).hex()])\n"
    "import json\n"
    "print(json.dumps(found))\n"
)
#: How Nuitka's main() executes the app's ``__main__`` and, before Python 3.12, reads the type of
#: the exception it ends with from the exception's value, which an exception set from C has not
#: got until it is normalized (``_startup.c`` normalizes it). Each text with its file, compared
#: with runs of white space as one space.
_NORMALIZE_TEXTS = (
    (
        "build/static_src/MetaPathBasedLoader.c",
        "PyObject *IMPORT_EMBEDDED_MODULE(PyThreadState *tstate, char const *name, "
        "bool internal) {",
    ),
    (_MAIN, "return IMPORT_EMBEDDED_MODULE(tstate, module_name, false);"),
    (_MAIN, "EXECUTE_MAIN_MODULE(tstate, NUITKA_MAIN_MODULE_NAME, NUITKA_MAIN_IS_PACKAGE_BOOL);"),
    (
        _MAIN,
        "PyObject *exception_value = tstate->curexc_value; #else PyObject *exception_value = "
        "tstate->current_exception; #endif PyTypeObject *exception_type = "
        "Py_TYPE(exception_value);",
    ),
)
#: How Nuitka makes its class of distributions: the source it executes as a module of that name
#: with ``PyImport_ExecCodeModule``, the class there, and the attribute its ``read_text`` returns
#: for METADATA (``_startup_hook.DISTRIBUTION``). Each text with its file, compared with runs of
#: white space as one space.
_DISTRIBUTION_FILE = "build/static_src/MetaPathBasedLoaderImportlibMetadataDistribution.c"
_DISTRIBUTION_TEXTS = (
    (_DISTRIBUTION_FILE, "class nuitka_distribution(Distribution):"),
    (
        _DISTRIBUTION_FILE,
        "def __init__(self, package_name, path, metadata, entry_points):\\n\\ "
        "self.package_name = package_name; self._path = path\\n\\ self.metadata_data = metadata;",
    ),
    (
        _DISTRIBUTION_FILE,
        "def read_text(self, filename):\\n\\ if filename == 'METADATA':\\n\\ return "
        "self.metadata_data\\n\\",
    ),
    (
        _DISTRIBUTION_FILE,
        'PyImport_ExecCodeModule((char *)"nuitka_distribution_patch", '
        "nuitka_distribution_code_object);",
    ),
    (
        _DISTRIBUTION_FILE,
        'nuitka_distribution_type = PyObject_GetAttrString(module, "nuitka_distribution");',
    ),
)
#: The first fields of a loader entry, as the object declares them (``_startup.c``), in
#: Nuitka's header with its comments left out, compared with runs of white space as one space.
_LOADER_ENTRY = (
    "struct Nuitka_MetaPathBasedLoaderEntry { char const *m_name; void (*m_get_name)(char "
    "*buffer, size_t buffer_size, char const *name); bool (*m_compare_name)(char const *name, "
    "char const *m_name);"
)
_LOADER_NAME_MAX = re.compile(r"^#define NUITKA_LOADER_NAME_MAX_LEN (\d+)\s*$", re.M)
_BLOB_TAG = re.compile(
    r"^#define NUITKA_CONSTANT_BLOB_TAG_(BLOB_DATA|END) (0x[0-9a-fA-F]+)\b", re.M
)
#: The names of ``inspect`` Nuitka's function reads and writes: by the C API, and in the Python
#: code it runs (``inspect._get_code_position``); all must be ones the hook's stand-in has.
_INSPECT_NAMES = re.compile(r'(?:Get|Set)AttrString\(module_inspect, "(\w+)"|\binspect\.(\w+)')
_MARSHAL = (
    "import json, marshal, sys, sysconfig\n"
    "source = open(sys.argv[1], encoding='utf-8').read()\n"
    "code = marshal.dumps(compile(source, '<pybin2img>', 'exec', dont_inherit=True))\n"
    "snippet = b''\n"
    "try:\n"
    "    text = open(sys.argv[2], encoding='ascii').read() if len(sys.argv) > 2 else None\n"
    "    if text is not None:\n"
    "        snippet = marshal.dumps(compile(text, '<exec>', 'exec', dont_inherit=True))\n"
    "except (SyntaxError, ValueError):\n"
    "    pass\n"
    "print(json.dumps({'include': sysconfig.get_paths()['include'], 'hook': code.hex(),\n"
    "                  'snippet': snippet.hex()}))\n"
)
#: The Python source Nuitka's inspect patch compiles at every start (``Py_CompileString``, its
#: ``types.coroutine`` replacement: 2.6 M instructions on 3.13), as InspectPatcher.c spells it:
#: C string literals, and ``#if PYTHON_VERSION`` around some of them.
_SNIPPET = re.compile(r"static char const \*wrapper_enhancement_code = (.*?)\n\s*;\n", re.S)
_DIRECTIVE = re.compile(r"#\s*(if|else|endif)\b\s*(?:PYTHON_VERSION\s*(>=|<)\s*(0x[0-9a-fA-F]+))?$")
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def hook_digest() -> str:
    """What identifies the hook (its Python and C text, and what makes the tables it reads:
    regex.py, _regex_table.py, generated.py, _code_table.py): part of the compile key."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for path in (
        _HOOK,
        _OBJECT_SOURCE,
        here / "regex.py",
        here / "_regex_table.py",
        here / "generated.py",
        here / "_code_table.py",
    ):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def why_not_deferred(interpreter: Interpreter, nuitka_args: Sequence[str]) -> str | None:
    """Why the program imports inspect at start as Nuitka has it, or ``None`` when pybin2img
    links its start-up object (:func:`link_startup`)."""
    lto = [arg for arg in nuitka_args if arg.startswith("--lto") or arg.startswith("--pgo")]
    if any(arg != "--lto=no" for arg in lto):
        return f"link-time optimisation may be on ({' '.join(lto)} in --nuitka-arg)"
    if interpreter.nuitka_main is None:
        return "Nuitka's sources were not found"
    package = interpreter.nuitka_main.parent
    texts = {}
    for name, relative in [*((f[0], f[1]) for f in _FUNCTIONS), ("main", _MAIN)]:
        try:
            texts[name] = (package / relative).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"Nuitka {interpreter.nuitka_version}'s sources were not found in {package}"
    for name, _relative, definition, call in _FUNCTIONS:
        if definition not in texts[name] or call not in texts["main"]:
            return f"Nuitka {interpreter.nuitka_version} does not call {name} as expected"
    if texts["main"].count(_CALL) != 1:
        return f"Nuitka {interpreter.nuitka_version} does not call {_FUNCTION} as expected"
    patcher = texts[_FUNCTION]
    known = {*_startup_hook.PATCHED, *_startup_hook.STATES}
    used = {a or b for a, b in _INSPECT_NAMES.findall(patcher)}
    if unknown := sorted(used - known):
        return (
            f"Nuitka {interpreter.nuitka_version}'s {_FUNCTION} uses "
            f"inspect.{', inspect.'.join(unknown)}"
        )
    return None


def blob_tags(interpreter: Interpreter) -> tuple[int, int] | None:
    """The tags of a bytecode value and of a part's end in Nuitka's constants blob, when its
    sources spell the walk as the start-up object reads it; else ``None``, and Nuitka walks
    the blob itself."""
    if interpreter.nuitka_main is None:
        return None
    package = interpreter.nuitka_main.parent
    try:
        texts = {
            relative: (package / relative).read_text(encoding="utf-8", errors="replace")
            for relative in {*(relative for relative, _text in _BLOB_TEXTS), _BLOB_SPEC}
        }
    except OSError:
        return None
    if any(text not in texts[relative] for relative, text in _BLOB_TEXTS):
        return None
    tags = dict(_BLOB_TAG.findall(texts[_BLOB_SPEC]))
    if set(tags) != {"BLOB_DATA", "END"}:
        return None
    return int(tags["BLOB_DATA"], 16), int(tags["END"], 16)


def _spelled(interpreter: Interpreter, texts: Sequence[tuple[str, str]]) -> dict[str, str] | None:
    """The files of Nuitka's ``texts`` name (relative to its package), with runs of white space
    as one space, when each spells its text; else ``None``."""
    if interpreter.nuitka_main is None:
        return None
    package = interpreter.nuitka_main.parent
    files: dict[str, str] = {}
    for relative, text in texts:
        if relative not in files:
            try:
                raw = (package / relative).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            files[relative] = " ".join(raw.split())
        if text not in files[relative]:
            return None
    return files


def _before_importer(
    interpreter: Interpreter, texts: Sequence[tuple[str, str]], call: str, once: str | None = None
) -> bool:
    """Whether Nuitka's sources spell ``texts`` and ``main()`` makes ``call`` before it sets up
    its importer (``setupMetaPathBasedLoader``, which ends the start-up object's start), with
    ``once`` in it only once where given."""
    files = _spelled(interpreter, texts)
    if files is None:
        return False
    main = files[_MAIN]
    if once is not None and main.count(once) != 1:
        return False
    return main.find(call) < main.rfind("setupMetaPathBasedLoader(tstate);")


def closed_streams(interpreter: Interpreter) -> bool:
    """Whether Nuitka's sources open /dev/null for a closed standard stream as the start-up
    object expects: the object then makes such a stream ``None`` where /dev/null is missing,
    as the interpreter does, instead of leaving Nuitka's start with an error set."""
    return _before_importer(interpreter, _DEVNULL_TEXTS, "setInputOutputHandles(tstate);")


def bootstrap_handed(interpreter: Interpreter) -> bool:
    """Whether Nuitka's sources import ``importlib._bootstrap`` at start as the start-up object
    expects: the object then hands Nuitka the interpreter's ``_frozen_importlib`` under that
    name, so that the ``importlib`` package and ``warnings`` do not execute at every start."""
    call = "= getImportLibBootstrapModule();"
    return _before_importer(interpreter, _BOOTSTRAP_TEXTS, call, once=call)


def locale_narrowed(interpreter: Interpreter) -> bool:
    """Whether Nuitka's sources set the whole locale only to decode the command line, before
    the importer is set up, as the start-up object expects: the object then sets ``LC_CTYPE``
    only for that, the one category decoding reads."""
    return _before_importer(
        interpreter,
        _LOCALE_TEXTS,
        "orig_argv = convertCommandLineParameters(argc, argv);",
        once='setlocale(LC_ALL, "")',
    )


def compiled_source(patcher: str, python_version: str) -> str | None:
    """The Python source Nuitka's inspect patch gives ``Py_CompileString`` under
    ``python_version``, from the text of InspectPatcher.c; ``None`` when it is not spelled as
    expected (the program then compiles whatever it has at start, as without pybin2img)."""
    match = _SNIPPET.search(patcher)
    numbers = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", python_version)
    if match is None or numbers is None:
        return None
    major, minor, micro = (int(n or 0) for n in numbers.groups())
    version = major * 256 + minor * 16 + min(micro, 15)  # Nuitka's PYTHON_VERSION
    # Each #if: whether the code around it is in, and whether its condition holds.
    stack: list[tuple[bool, bool]] = []
    parts = []
    for raw in match.group(1).replace("\\\n", "").splitlines():
        line = raw.strip()
        active = all(outer and holds for outer, holds in stack)
        if line.startswith("#"):
            directive = _DIRECTIVE.match(line)
            if directive is None:
                return None
            kind, operator, value = directive.groups()
            if kind == "if" and value is not None:
                holds = version >= int(value, 16) if operator == ">=" else version < int(value, 16)
                stack.append((active, holds))
            elif kind == "else" and stack and value is None:
                outer, holds = stack.pop()
                stack.append((outer, not holds))
            elif kind == "endif" and stack and value is None:
                stack.pop()
            else:
                return None
            continue
        if _LITERAL.sub("", line).strip():
            return None
        if active:
            parts.extend(_LITERAL.findall(line))
    try:
        source = "".join(re.sub(r"\\(.)", lambda m: _ESCAPES[m.group(1)], part) for part in parts)
    except KeyError:
        return None
    return source if source.isascii() and not stack else None


def loader_name_limit(interpreter: Interpreter) -> int | None:
    """The length of the buffer Nuitka copies each loader entry's name into before comparing
    it, when its sources compare and register names as the start-up object expects: the object
    then compares the names of entries shorter than that in place. ``None``: not done."""
    files = _spelled(interpreter, _LOADER_TEXTS)
    if files is None or interpreter.nuitka_main is None:
        return None
    try:
        header = (interpreter.nuitka_main.parent / _LOADER_TEXTS[-1][0]).read_text(
            encoding="utf-8", errors="replace"
        )
    except OSError:
        return None
    limits = _LOADER_NAME_MAX.findall(header)
    declared = " ".join(re.sub(r"//[^\n]*", "", header).split())
    if len(limits) != 1 or _LOADER_ENTRY not in declared:
        return None
    return int(limits[0])


def distribution_names(interpreter: Interpreter) -> bool:
    """Whether Nuitka's sources make its class of distributions as the start-up object expects:
    the hook then gives the class a ``_normalized_name`` read from the headers of METADATA
    alone, where Nuitka's parsed the whole text at every ``importlib.metadata.entry_points()``."""
    files = _spelled(interpreter, _DISTRIBUTION_TEXTS)
    if files is None:
        return False
    text = files[_DISTRIBUTION_FILE]
    return "_normalized_name" not in text and text.count("PyImport_ExecCodeModule(") == 1


def allocator_unhooked(interpreter: Interpreter) -> bool:
    """Whether Nuitka's sources keep the allocator's functions and call them without a context,
    after pre-initializing the interpreter: the start-up object then pre-initializes it with
    the allocator ``PYTHONMALLOC`` or ``PYTHONDEVMODE`` asks for, less the debug hooks, whose
    functions crashed when called that way."""
    files = _spelled(interpreter, _ALLOCATOR_TEXTS)
    return files is not None and files[_MAIN].count("Py_PreInitialize(") == 1


def exit_exception_normalized(interpreter: Interpreter) -> bool:
    """Whether the start-up object normalizes the exception the app's ``__main__`` ends with:
    before Python 3.12, where Nuitka's sources read its type from its value as the object
    expects (a SIGINT's ``KeyboardInterrupt`` has none, and the program died of SIGSEGV)."""
    if tuple(int(n) for n in interpreter.python_version.split(".")[:2]) >= (3, 12):
        return False
    return _spelled(interpreter, _NORMALIZE_TEXTS) is not None


def frozen_table_before_preinit(interpreter: Interpreter) -> bool:
    """Whether Nuitka's main() puts its table of modules for the start in place before it
    pre-initializes the interpreter, and its own table back later, as the start-up object
    expects when it adds the modules of ``warnings`` to that table."""
    files = _spelled(interpreter, _FROZEN_TEXTS)
    if files is None:
        return False
    main = files[_MAIN]
    return (
        main.count("prepareFrozenModules();") == 1
        and main.find("prepareFrozenModules();") < main.find("Py_PreInitialize(&preconfig);")
        and main.count("Py_PreInitialize(") == 1
    )


def warnings_modules(interpreter: Interpreter) -> list[tuple[str, bool, bytes]]:
    """The modules ``import warnings`` executes beyond those Nuitka's start carries, compiled
    by ``interpreter`` (name, package or not, marshalled code): from Python 3.12 on
    ``warnings`` itself (and 3.14's ``_py_warnings``). Empty before 3.11 (the table's entries
    are spelled otherwise there), or where a module has no source, or on any failure: the
    start then goes on as Nuitka's."""
    if tuple(int(n) for n in interpreter.python_version.split(".")[:2]) < (3, 11):
        return []
    try:
        proc = subprocess.run(
            [str(interpreter.executable), "-I", "-S", "-c", _WARNINGS_MARSHAL],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONNODEBUGRANGES": "1"},
        )
        found = json.loads(proc.stdout) if proc.returncode == 0 else []
        return [(str(name), bool(package), bytes.fromhex(code)) for name, package, code in found]
    except (OSError, subprocess.TimeoutExpired, ValueError, TypeError):
        return []


def _warnings_table(modules: Sequence[tuple[str, bool, bytes]]) -> str:
    """The C of the start-up object's ``WARNINGS_MODULES`` (``_startup.c``)."""
    arrays = [
        f"static const unsigned char warnings_module_{i}[] = {{\n{_c_bytes(code)}\n}};"
        for i, (_name, _package, code) in enumerate(modules)
    ]
    entries = [
        f'    {{.name = "{name}", .code = warnings_module_{i}, .size = {len(code)}, '
        f".is_package = {int(package)}}},"
        for i, (name, package, code) in enumerate(modules)
    ]
    return "\n".join(
        [
            *arrays,
            "static const struct _frozen WARNINGS_MODULES[] = {",
            *entries,
            "};",
            f"#define WARNINGS_MODULES_COUNT {len(modules)}",
        ]
    )


def startup_nuitka_args(nuitka_args: Sequence[str]) -> tuple[str, ...]:
    """Nuitka's options for a deferred patch: no LTO (see the module), unless already said."""
    return () if "--lto=no" in nuitka_args else ("--lto=no",)


def link_startup(
    interpreter: Interpreter, workdir: Path, tags: tuple[int, int] | None
) -> tuple[str, ...]:
    """Compile the start-up object for ``interpreter`` into ``workdir``; return the flags
    that link it into the program (for ``LDFLAGS``). With ``tags`` (:func:`blob_tags`), the
    object reads the program's bytecode from its file."""
    details = ""
    facts = None
    snippet = _snippet_source(interpreter)
    snippet_file = workdir / "pybin2img_snippet.py"
    if snippet is not None:
        try:
            snippet_file.write_text(snippet, encoding="ascii")
        except OSError as exc:
            # A full disk: the caller turns this into the cache's error (what to free).
            raise CompileError(f"cannot write {snippet_file}", details=str(exc)) from exc
    try:
        proc = subprocess.run(
            [
                str(interpreter.executable),
                *("-I", "-c", _MARSHAL, str(_HOOK)),
                *((str(snippet_file),) if snippet is not None else ()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        details = proc.stderr
        facts = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        details = str(exc)
    if not isinstance(facts, dict):
        raise CompileError(
            f"{interpreter.executable} could not compile pybin2img's start-up hook",
            details=details,
        )
    hook = bytes.fromhex(facts["hook"])
    code = bytes.fromhex(facts.get("snippet") or "")
    source_bytes = snippet.encode("ascii") + b"\0" if snippet is not None and code else b"\0"
    frozen = warnings_modules(interpreter) if frozen_table_before_preinit(interpreter) else []
    source = workdir / "pybin2img_startup.c"
    obj = workdir / "pybin2img_startup.o"
    if any(c.isspace() for c in str(obj)):
        raise CompileError(f"the build directory {workdir} has a space in its path")
    try:
        source.write_text(
            _OBJECT_SOURCE.read_text(encoding="utf-8")
            .replace("@HOOK@", _c_bytes(hook))
            .replace("@SNIPPET_SOURCE@", _c_bytes(source_bytes))
            .replace("@SNIPPET_CODE@", _c_bytes(code if len(source_bytes) > 1 else b"\0"))
            .replace("@WARNINGS@", _warnings_table(frozen)),
            encoding="utf-8",
        )
    except OSError as exc:
        # A full disk: the caller turns this into the cache's error (what to free).
        raise CompileError(f"cannot write {source}", details=str(exc)) from exc
    defines, stood_in = _stand_ins(interpreter, tags, warnings=bool(frozen))
    compiler = compiler_program()
    argv = [
        *shlex.split(compiler),
        *("-O2", "-fPIC", *defines, f"-I{facts['include']}", "-c", str(source), "-o", str(obj)),
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(
            f"{compiler} could not compile pybin2img's start-up object: {exc}"
        ) from exc
    if proc.returncode != 0:
        raise CompileError(
            f"{compiler} could not compile pybin2img's start-up object (exit code "
            f"{proc.returncode}); is Python.h there ({facts['include']})?",
            details=proc.stderr,
        )
    wrapped = (
        *(function[0] for function in _FUNCTIONS),
        "Py_CompileStringExFlags",
        *stood_in,
    )
    return (*(f"-Wl,--wrap={name}" for name in wrapped), str(obj))


def _stand_ins(
    interpreter: Interpreter, tags: tuple[int, int] | None, *, warnings: bool = False
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The start-up object's optional stand-ins that Nuitka's sources allow: the compiler's
    defines that build them, and the functions of Nuitka's (or the C library's) they wrap.
    ``warnings``: the object carries the modules of ``warnings`` (:func:`warnings_modules`)."""
    defines: list[str] = []
    wrapped: list[str] = []
    if tags is not None:
        defines += [
            "-DPYBIN2IMG_BLOB_WALK=1",
            f"-DPYBIN2IMG_TAG_BLOB_DATA=0x{tags[0]:02x}",
            f"-DPYBIN2IMG_TAG_END=0x{tags[1]:02x}",
        ]
        wrapped += ["loadConstantsBlob", "PyMarshal_ReadObjectFromString"]
    if closed_streams(interpreter):
        defines.append("-DPYBIN2IMG_DEVNULL=1")
        wrapped.append("BUILTIN_OPEN_SIMPLE")
    if bootstrap_handed(interpreter):
        defines.append("-DPYBIN2IMG_BOOTSTRAP=1")
        wrapped.append("getImportLibBootstrapModule")
    if locale_narrowed(interpreter):
        defines.append("-DPYBIN2IMG_LOCALE=1")
        wrapped.append("setlocale")
    name_limit = loader_name_limit(interpreter)
    if name_limit is not None:
        defines += ["-DPYBIN2IMG_LOADER_NAMES=1", f"-DPYBIN2IMG_LOADER_NAME_MAX={name_limit}"]
        wrapped.append("registerMetaPathBasedLoader")
    if distribution_names(interpreter):
        defines.append("-DPYBIN2IMG_DISTRIBUTION=1")
        wrapped.append("PyImport_ExecCodeModule")
    if exit_exception_normalized(interpreter):
        defines.append("-DPYBIN2IMG_NORMALIZE=1")
        wrapped.append("IMPORT_EMBEDDED_MODULE")
    allocator = allocator_unhooked(interpreter)
    if allocator:
        defines.append("-DPYBIN2IMG_ALLOCATOR=1")
    if warnings:
        defines.append("-DPYBIN2IMG_WARNINGS=1")
    if allocator or warnings:
        defines.append("-DPYBIN2IMG_PREINIT=1")
        wrapped.append("Py_PreInitialize")
    return tuple(defines), tuple(wrapped)


def _c_bytes(data: bytes) -> str:
    """``data`` as the body of a C array initialiser."""
    return ",\n".join(
        ", ".join(f"0x{b:02x}" for b in data[i : i + 16]) for i in range(0, len(data), 16)
    )


def _snippet_source(interpreter: Interpreter) -> str | None:
    """What Nuitka's inspect patch compiles at start for ``interpreter`` (``None``: unknown)."""
    if interpreter.nuitka_main is None:
        return None
    patcher = interpreter.nuitka_main.parent / _PATCHER
    try:
        text = patcher.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return compiled_source(text, interpreter.python_version)
