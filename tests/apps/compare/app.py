"""A small app for the tests of --compare and of the start check.

app.py [paths]   the program's name, working directory and own directory as it sees them,
                 which --compare reads the same here and in the image
app.py motd      the message of the day in motd.txt beside the app (not shipped), or none
app.py package   imports selfread, an installed package that reads its own source at
                 import: a compiled package has none, so it dies of FileNotFoundError
app.py own       imports the app's own module ownconfig, which refuses to import without
                 APP_DATABASE_URL (the app's business, not a broken image)
app.py resources a file of the json package through importlib.resources, imported after
                 importlib (Nuitka drops that import, as the name is bound)
app.py data      the data file of the app's own package owndata, read by path, listed, through
                 importlib.resources and pkgutil.get_data
app.py recursion a recursion without end in the app's own code (compiled to C), under the
                 default recursion limit and a lower one: RecursionError, caught
app.py interrupt a SIGINT to itself while it sleeps, not caught: the KeyboardInterrupt's
                 traceback, and a death by SIGINT (exit code 130 through tini)
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def deeper(depth: list[int]) -> int:
    depth[0] += 1
    return deeper(depth) + 1


def recursion() -> None:
    """A recursion without end, caught: RecursionError under the interpreter, which Nuitka's
    runtime without its recursion guards turned into a stack overflow (SIGSEGV)."""
    for limit in (sys.getrecursionlimit(), 100):
        sys.setrecursionlimit(limit)
        depth = [0]
        try:
            deeper(depth)
        except RecursionError as exc:
            near = depth[0] > limit - 50
            print("recursion:", type(exc).__name__, "at a depth near the limit:", near)


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "paths"
    if command == "paths":
        print("program:", os.path.basename(sys.argv[0]))
        print("cwd:", os.getcwd())
        print("here:", HERE)
        print("args:", sys.argv[2:])
    elif command == "motd":
        try:
            with open(os.path.join(HERE, "motd.txt"), encoding="utf-8") as f:
                print("motd:", f.read().strip())
        except OSError:
            print("motd: none")
    elif command == "package":
        import selfread

        print("selfread:", selfread.LINES)
    elif command == "own":
        import ownconfig

        print("database:", ownconfig.DATABASE_URL)
    elif command == "resources":
        import importlib
        import importlib.resources

        print("resources:", importlib.resources.files("json").joinpath("decoder.py").name)
    elif command == "data":
        import owndata

        print(*owndata.read(), sep="\n")
    elif command == "recursion":
        recursion()
    elif command == "interrupt":
        import signal
        import time

        # As the engine starts a container: a SIGINT ignored by whoever started the app (a
        # shell's background job) would be ignored under the interpreter, not in the image.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("interrupting", flush=True)
        signal.raise_signal(signal.SIGINT)
        time.sleep(5)
        print("not interrupted")
    else:
        print(
            f"usage: {os.path.basename(sys.argv[0])} "
            "[paths|motd|package|own|resources|data|recursion|interrupt]"
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
