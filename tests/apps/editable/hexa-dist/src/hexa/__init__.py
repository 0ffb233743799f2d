"""Reads its own data file."""

from importlib import resources


def value() -> str:
    return resources.files(__name__).joinpath("value.txt").read_text().strip()
