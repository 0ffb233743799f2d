"""Patterns compiled as the module executes, which the program takes from the table written at
build time (pybin2img's compile/regex.py): the same patterns as under the interpreter, the same
warnings, and the same for one made at run time.

patterns.py        print what --compare compares
patterns.py table  exit 3 unless the program parsed none of the patterns the table holds (the
                   image; under the interpreter it parses all of them), 4 if the count of what
                   it parses does not see the pattern made at run time
"""

import re
import re as rx
import sys
import warnings
from re import IGNORECASE, VERBOSE
from re import compile as compile_pattern

PARSED = []
if sys.argv[1:] == ["table"]:
    parser = re._parser if sys.version_info >= (3, 11) else __import__("sre_parse")
    parse = parser.parse

    def counting_parse(pattern, flags=0, state=None):
        PARSED.append(pattern)
        return parse(pattern, flags, state)

    parser.parse = counting_parse

WORD = re.compile(r"(?P<word>\w+)-(?P<n>\d+)")
LINES = re.compile(rb"^(\d+)\s", re.M)
SPELLED = compile_pattern(
    r"""
    (?P<key>[a-z]+)  # letters
    \s*=\s*
    (?P<value>.*)
    """,
    VERBOSE | IGNORECASE,
)
JOINED = rx.compile("ab" + "c+", flags=rx.I)
DIGITS = r"[0-9]+"
NUMBER = re.compile(DIGITS + r"\.(?P<fraction>[0-9]*)")
LOCALE_WORDS = re.compile(rb"\w+", re.LOCALE)
ASCII_WORDS = re.compile(r"\w+", re.A)


class Holder:
    INSIDE = re.compile(r"(?i)class-(level)")


with warnings.catch_warnings(record=True) as SEEN:
    warnings.simplefilter("always")
    NESTED = re.compile("[[a]")
MADE = re.compile("run" + "-".join(sys.argv[:0]) + "time")

#: What the table holds of this file; NESTED warns as it compiles and is left out.
IN_TABLE = [
    WORD.pattern,
    LINES.pattern,
    SPELLED.pattern,
    JOINED.pattern,
    NUMBER.pattern,
    LOCALE_WORDS.pattern,
    ASCII_WORDS.pattern,
    Holder.INSIDE.pattern,
]

if sys.argv[1:] == ["table"]:
    if MADE.pattern not in PARSED:  # the count itself works: a pattern made at run time is parsed
        print("not counted:", MADE.pattern)
        sys.exit(4)
    parsed = [pattern for pattern in PARSED if pattern in IN_TABLE]
    print("parsed of the table's:", len(parsed), "of", len(IN_TABLE))
    print("parsed besides:", [p for p in PARSED if p in (NESTED.pattern, MADE.pattern)])
    sys.exit(3 if parsed else 0)

for pattern in (WORD, LINES, SPELLED, JOINED, NUMBER, LOCALE_WORDS, ASCII_WORDS, Holder.INSIDE):
    print(repr(pattern.pattern)[:40], int(pattern.flags), pattern.groups, dict(pattern.groupindex))
    print("  same object again:", re.compile(pattern.pattern, pattern.flags) is pattern)
print("warning:", [(w.category.__name__, str(w.message)) for w in SEEN])
print(WORD.findall("alpha-1 beta-22 gamma"), WORD.sub(r"\g<n>:\g<word>", "x-9"))
print(LINES.findall(b"12 a\n3 b\nc"), SPELLED.match("Name = Value").groupdict())
print(JOINED.fullmatch("ABccc") is not None, NUMBER.match("12.50").group("fraction"))
print(LOCALE_WORDS.findall(b"ab cd"), ASCII_WORDS.findall("caf\u00e9 ok"))
print(Holder.INSIDE.search("CLASS-LEVEL").group(1), NESTED.findall("[a"), MADE.pattern)
re.purge()
print(
    "equal once compiled again:", re.compile(WORD.pattern) == WORD, WORD.search("a-1") is not None
)
