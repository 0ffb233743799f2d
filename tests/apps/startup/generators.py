"""Generators and coroutines seen through inspect and types, the same compiled as under the
interpreter, whichever of inspect or types.coroutine the program reaches first.

generators.py [types-first|inspect-first]
"""

import sys

print("inspect at start:", "inspect" in sys.modules)
ORDER = sys.argv[1] if len(sys.argv) > 1 else "inspect-first"


def numbers():
    yield 1
    yield 2


async def answer():
    return 42


if ORDER == "types-first":
    import types

    # Its name only: Nuitka's replacement is a builtin function without a __module__.
    print("types.coroutine:", types.coroutine.__name__)

    @types.coroutine
    def legacy():
        yield "tick"
        return "legacy done"

    async def uses_legacy():
        return await legacy()

    running = uses_legacy()
    print("awaits a types.coroutine:", running.send(None))
    try:
        running.send(None)
    except StopIteration as stop:
        print("result:", stop.value)

import inspect  # noqa: E402 - after the types.coroutine case, on purpose

generator = numbers()
print(inspect.getgeneratorstate(generator))
next(generator)
print(inspect.getgeneratorstate(generator))
print(list(generator), inspect.getgeneratorstate(generator))
coroutine = answer()
print(inspect.getcoroutinestate(coroutine))
coroutine.close()
print(inspect.getcoroutinestate(coroutine))
print("inspect keeps its loader:", inspect.__spec__.loader is inspect.__loader__)

import asyncio  # noqa: E402

print("asyncio:", asyncio.run(answer()))
# The start-up hook waits for these too (the generated source it takes compiled; on 3.14 typing
# imports annotationlib), and sees one that executed without it at the next import.
import dataclasses  # noqa: E402, F401
import importlib  # noqa: E402
import typing  # noqa: E402, F401

importlib.import_module("colorsys")

hooks = [f for f in sys.meta_path if getattr(f, "__module__", "") == "pybin2img_startup"]
print("no hook left:", not hooks)
