"""Print every message shipped in greeter/messages, and the package's version file.

python -m greeter [NAME]
"""

import sys
from importlib import resources


def main(argv: list[str]) -> int:
    name = argv[0] if argv else "world"
    root = resources.files("greeter")
    version = (root / "VERSION").read_text(encoding="utf-8").strip()
    print(f"greeter {version}")
    for entry in sorted(root.joinpath("messages").iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            text = entry.read_text(encoding="utf-8").strip()
            print(f"{entry.name}: {text.format(name=name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
