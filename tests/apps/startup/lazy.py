"""os, os.path, typing, importlib, warnings and (before 3.12) types, which the compiled program
leaves to execute at their first use, the same compiled as under the interpreter; and the
environment Nuitka changes for the interpreter's initialisation (PATH, PYTHONHOME), given back
before the app's first line.

lazy.py          print what --compare compares
lazy.py start    exit 3 if one of those executed before the app's first line (the image)
"""

import sys

_LAZY = ("os", "typing", "importlib", "importlib._bootstrap", "warnings")
# types too before 3.12: from 3.12 on, Nuitka's patch runs at start and replaces types.coroutine.
_LAZY += ("types",) if sys.version_info < (3, 12) else ()
_EXECUTED = [name for name in _LAZY if type(sys.modules.get(name)) is type(sys)]
if sys.argv[1:] == ["start"]:
    print("executed before the first line:", _EXECUTED or "none")
    sys.exit(3 if _EXECUTED else 0)

import ctypes  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import typing  # noqa: E402
import warnings  # noqa: E402

libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
print("PATH is not Nuitka's:", os.environ.get("PATH") != "/")
print("PATH as the C library has it:", libc.getenv(b"PATH") == os.environb.get(b"PATH"))
print("PYTHONHOME:", os.environ.get("PYTHONHOME"), libc.getenv(b"PYTHONHOME"))
print("os.path:", os.path is sys.modules["posixpath"], sys.modules["os.path"] is os.path)
print("os:", os is sys.modules["os"], type(os).__name__, os.path.join("a", "b"))
T = typing.TypeVar("T")
P = typing.ParamSpec("P")
print("typing:", typing is sys.modules["typing"], type(typing).__name__)
print("type variables:", T.__module__, P.__module__, typing.Literal[1, 2])


def first(items: typing.Sequence[T]) -> T:
    return items[0]


print("hints:", typing.get_type_hints(first)["return"] is T, first("xy"))
bootstrap = importlib._bootstrap  # type: ignore[attr-defined]
external = importlib._bootstrap_external  # type: ignore[attr-defined]
print(
    "importlib:",
    bootstrap is sys.modules["_frozen_importlib"] is sys.modules["importlib._bootstrap"],
    bootstrap.__name__,
    bootstrap.__package__,
    external is sys.modules["importlib._bootstrap_external"],
    external.__name__,
)
print(
    "find_spec:",
    importlib.util.find_spec("json") is not None,
    importlib.import_module("json").__name__,
)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    warnings.warn("soon", DeprecationWarning, stacklevel=1)
print("warnings:", [(w.category.__name__, str(w.message)) for w in caught])
