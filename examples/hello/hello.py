"""A tiny app for pybin2img: greets, echoes its arguments, exits with the code it is given.

hello [ARGS...] [--exit CODE]
"""

import sys


def main(argv: list[str]) -> int:
    code = 0
    args = list(argv)
    if "--exit" in args:
        i = args.index("--exit")
        code = int(args[i + 1])
        del args[i : i + 2]
    print("Hello from a pybin2img image!")
    print("args:", " ".join(args))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
