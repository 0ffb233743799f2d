"""Source the standard library writes and compiles as modules execute (dataclasses, named tuples,
string annotations), which the program takes compiled from the table written at build time
(pybin2img's compile/generated.py): the same classes and functions as under the interpreter,
and the same for those made at run time.

generated.py        print what --compare compares
generated.py table  exit 3 if the program compiled any source between its imports and the
                    check below (the image; under the interpreter it compiles each one), 4 if
                    the count of what it compiles does not see the class made at run time
"""

from __future__ import annotations

import sys

COMPILED: list[object] = []
if sys.argv[1:] == ["table"]:
    # Every source compiled (exec, eval, compile of a str) raises this event; code does not.
    sys.addaudithook(lambda event, args: COMPILED.append(args[0]) if event == "compile" else None)

# typing first: the program's compiled code imports it from Nuitka's loader, without
# sys.meta_path, and the start-up hook sees it at the next import that asks sys.meta_path.
import typing  # noqa: E402, I001 - after the audit hook, which must see the imports
import dataclasses  # noqa: E402
import dis  # noqa: E402
import inspect  # noqa: E402
import pstats  # noqa: E402
import urllib.parse  # noqa: E402


def describe(item: Item, scale: float = 1.0) -> list[str]:
    return [item.name] * int(scale)


class Item:
    name: str
    tags: dict[str, list[int]]


def lines() -> list[str]:
    profile = pstats.FunctionProfile(1, 2, 0.5, 0.25, 0.1, 0.05, "f.py:1")
    split = urllib.parse.urlsplit("https://example.org/a?q=1#top")
    init = pstats.FunctionProfile.__init__
    try:
        pstats.FunctionProfile(1)  # type: ignore[call-arg]
    except TypeError as exc:
        missing = str(exc)
    return [
        repr(profile),
        str(profile == pstats.FunctionProfile(1, 2, 0.5, 0.25, 0.1, 0.05, "f.py:1")),
        str(inspect.signature(pstats.FunctionProfile)),
        f"{init.__qualname__} {init.__code__.co_filename} {init.__code__.co_varnames}",
        missing,
        repr(split),
        repr(split._replace(fragment="")),
        f"{type(split).__new__.__code__.co_filename} {type(split).__new__.__doc__}",
        repr(dis.Instruction._fields),
        repr(typing.get_type_hints(describe)),
        repr(typing.get_type_hints(Item)),
    ]


def main() -> int:
    shown = lines()
    if sys.argv[1:] == ["table"] and COMPILED:
        print(f"compiled {len(COMPILED)} sources the table holds: {COMPILED[:3]}", flush=True)
        return 3
    # Before 3.12 get_annotations evaluates in a comprehension of its own, a function the hook
    # does not reach: its sources are compiled at run time there.
    shown.append(repr(inspect.get_annotations(describe, eval_str=True)))
    made = dataclasses.make_dataclass("Made" + "AtRunTime", [("x", int), ("y", str, "-")])
    shown.append(repr(made(1)))
    if sys.argv[1:] == ["table"] and not COMPILED:
        print("the count of compiled sources missed the class made at run time", flush=True)
        return 4
    for line in shown:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
