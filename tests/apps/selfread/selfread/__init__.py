"""A package that reads its own source at import, as packages that parse their code do."""

from .source import LINES

__all__ = ["LINES"]
