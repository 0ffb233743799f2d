"""What the interpreter's environment variables do to a program, as under the interpreter.

Run without arguments, it runs itself again (``sys.orig_argv``: the interpreter and this file,
or the program) once for each variable below, in an environment without any other ``PYTHON*``
variable, and prints what each run printed and how it ended. Run as ``show``, it prints what
those variables decide. ``--compare`` then checks the program against the interpreter: a
variable the program crashes on (``PYTHONDEVMODE=1`` did: Nuitka calls the allocator without
the context its debug hooks need) or takes otherwise shows as a differing line (from 3.12 on,
``PYTHONWARNINGS`` had the program print that it could not import ``warnings`` as it started,
and a warning from C before the app's first ``import warnings`` was not raised).
"""

import os
import sys

#: One run each: the variables set for it (README "The interpreter's environment variables").
RUNS = (
    {},
    {"PYTHONDEVMODE": "1"},
    {"PYTHONMALLOC": "debug"},
    {"PYTHONMALLOC": "pymalloc_debug"},
    {"PYTHONMALLOC": "malloc_debug"},
    {"PYTHONMALLOC": "malloc"},
    {"PYTHONMALLOC": "malloc", "PYTHONDEVMODE": "1"},
    {"PYTHONWARNINGS": "error::DeprecationWarning"},
    {"PYTHONWARNINGS": "ignore"},
    {"PYTHONHASHSEED": "0"},
    {"PYTHONIOENCODING": "latin-1:replace"},
    {"PYTHONUNBUFFERED": "1"},
    {"PYTHONFAULTHANDLER": "1"},
    {"PYTHONTRACEMALLOC": "1"},
    {"PYTHONINTMAXSTRDIGITS": "10000"},
)


def shown(message: Warning | str, category: type[Warning], *_where: object) -> None:
    """A warning shown, without the file and line (the program's and the script's differ)."""
    print("warning", category.__name__, message)


def show() -> None:
    # A warning raised in C before anything has imported warnings: the options apply to it
    # only where the interpreter imported warnings while it started, as it does with options.
    try:
        exec("import datetime\ndatetime.datetime.utcnow()", {"__name__": "elsewhere"})
        print("C warning not raised, warnings imported:", "warnings" in sys.modules)
    except DeprecationWarning as exc:
        print("C warning raised", type(exc).__name__)
    import asyncio
    import faulthandler
    import tracemalloc
    import warnings

    flags = sys.flags
    print("dev_mode", flags.dev_mode, "warnoptions", sys.warnoptions)
    print("faulthandler", faulthandler.is_enabled(), "tracemalloc", tracemalloc.is_tracing())
    print("hash", hash("pybin2img") if os.environ.get("PYTHONHASHSEED") else "random")
    stdout = sys.stdout
    print("stdout", stdout.encoding, stdout.errors, type(stdout.buffer).__name__)
    print("int digits", sys.get_int_max_str_digits())
    loop = asyncio.new_event_loop()
    print("asyncio debug", loop.get_debug())
    loop.close()
    # Memory written past its end: the interpreter's debug hooks would stop it; both just
    # allocate and free here (a bytearray grown and cut is enough to go through the allocator).
    data = bytearray(b"x" * 100_000)
    del data[10:]
    print("allocated", len(data), len([object() for _ in range(10_000)]))
    warnings.showwarning = shown
    try:
        warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)
    except DeprecationWarning as exc:
        print("raised", type(exc).__name__, exc)
    print("done")


def main() -> None:
    if sys.argv[1:] == ["show"]:
        show()
        return
    import subprocess

    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for variables in RUNS:
        proc = subprocess.run(
            [*sys.orig_argv, "show"],
            env={**clean, **variables},
            capture_output=True,
            text=True,
            check=False,
        )
        named = " ".join(f"{k}={v}" for k, v in variables.items()) or "nothing set"
        print(f"{named}: exit code {proc.returncode}")
        for line in proc.stdout.splitlines():
            print("   ", line)
        # What the interpreter writes to stderr is a crash's report, or memory statistics.
        print("    stderr lines:", len(proc.stderr.splitlines()))


if __name__ == "__main__":
    main()
