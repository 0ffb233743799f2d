"""Colours, as data files."""
