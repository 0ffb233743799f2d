"""Reads its own data file."""

from importlib import resources


def spring() -> str:
    return resources.files(__name__).joinpath("spring.txt").read_text().strip()
