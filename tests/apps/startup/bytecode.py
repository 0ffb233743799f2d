"""Modules of the standard library the program carries as bytecode, found by computed names:
each imported and used, and every codec looked up and used; one line each.

    bytecode.py            the lines
    bytecode.py --mapped   and last, how many KiB of the program's own file were resident
                           when its first line ran, and at the end
    bytecode.py --positions  only whether a standard library function's bytecode has column
                           positions, and the frame a traceback through it names
"""

import codecs
import importlib
import sys

MODULES = [
    *("base64", "calendar", "configparser", "csv", "dataclasses", "difflib", "gettext"),
    *("graphlib", "gzip", "html.parser", "ipaddress", "json", "mimetypes", "netrc", "pathlib"),
    *("pickle", "pprint", "shlex", "string", "tarfile", "tomllib", "traceback", "zipfile"),
    *("bisect", "datetime", "heapq"),
]


def main(argv: list[str]) -> int:
    if "--positions" in argv:
        return _positions()
    mapped = _mapped_kib() if "--mapped" in argv else 0
    for name in MODULES:
        module = importlib.import_module(name)
        public = sorted(n for n in vars(module) if not n.startswith("_"))
        print(name, len(public), public[0] if public else "-")
    aliases = importlib.import_module("encodings.aliases").aliases
    text = "Grüße, 東京, Ωμέγα"
    for name in sorted(set(aliases.values())):
        try:
            info = codecs.lookup(name)
        except LookupError as exc:
            print(name, "lookup:", exc)
            continue
        try:
            encoded = info.encode(text, "replace")[0]
        except (AssertionError, TypeError):  # bytes to bytes (base64_codec, zlib_codec, ...)
            encoded = info.encode(text.encode("utf-8"))[0]
        print(name, info.name, len(encoded))
    # The media types the interpreter reads from /etc/mime.types, as the image must have them.
    mimetypes = sys.modules["mimetypes"]
    print("guess_type", *(mimetypes.guess_type(f"x.{e}")[0] for e in ("woff2", "webp", "xlsx")))
    # The terminal descriptions curses finds on the machine, as the image must have them.
    import curses

    curses.setupterm("xterm-256color", sys.stdout.fileno())
    print("terminfo", curses.tigetnum("colors"), curses.tigetstr("bold"))
    # Which of them run the interpreter's C accelerators, not their pure-Python fallbacks.
    for name, function in (
        ("json", "scanner.c_make_scanner"),
        ("json", "encoder.c_make_encoder"),
        ("bisect", "insort"),
        ("heapq", "heappush"),
        ("datetime", "datetime.now"),
    ):
        found = sys.modules[name]
        for part in function.split("."):
            found = getattr(found, part)
        fallback = found is None or type(found).__name__ == "function"
        print(name, function, "fallback" if fallback else "accelerated")
    if "--mapped" in argv:
        print("mapped", mapped, _mapped_kib())
    return 0


def _positions() -> int:
    import json
    import traceback

    code = json.decoder.JSONDecoder.raw_decode.__code__
    print("columns", any(column is not None for _, _, column, _ in code.co_positions()))
    try:
        json.loads("{")
    except json.JSONDecodeError as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print("raised in", frame.name, "at line", frame.lineno)
    return 0


def _mapped_kib() -> int:
    """KiB of the program's own file resident in this process (its mappings in smaps)."""
    me = sys.argv[0]
    total = 0
    mine = False
    with open("/proc/self/smaps", encoding="utf-8") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields[0]) > 8 and ":" not in fields[0]:
                mine = len(fields) > 5 and fields[5].endswith("/" + me.rsplit("/", 1)[-1])
            elif mine and fields[0] == "Rss:":
                total += int(fields[1])
    return total


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
