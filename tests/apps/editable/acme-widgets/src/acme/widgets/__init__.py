"""Reads its own data file."""

from importlib import resources


def knob() -> str:
    return resources.files(__name__).joinpath("knob.txt").read_text().strip()
