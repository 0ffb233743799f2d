"""Modules of the standard library the program carries as bytecode, found by computed names:
each imported and used, and every codec looked up and used; one line each.

    bytecode.py            the lines
    bytecode.py --mapped   and last, how many KiB of the program's own file were resident
                           when its first line ran, and at the end
"""

import codecs
import importlib
import sys

MODULES = [
    *("base64", "calendar", "configparser", "csv", "dataclasses", "difflib", "gettext"),
    *("graphlib", "gzip", "html.parser", "ipaddress", "json", "mimetypes", "netrc", "pathlib"),
    *("pickle", "pprint", "shlex", "string", "tarfile", "tomllib", "traceback", "zipfile"),
]


def main(argv: list[str]) -> int:
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
    if "--mapped" in argv:
        print("mapped", mapped, _mapped_kib())
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
