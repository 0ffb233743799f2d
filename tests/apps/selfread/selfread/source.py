"""Counts its own lines at import: a compiled module has no source file to read."""

with open(__file__, encoding="utf-8") as f:
    LINES = len(f.read().splitlines())
