"""Prints the version of humanize it runs with: the one installed in the project's venv
(tests/integration/test_packages.py), older than the package index's newest."""

from importlib import metadata

import humanize


def main() -> None:
    print("humanize", metadata.version("humanize"), humanize.naturalsize(123456789))
