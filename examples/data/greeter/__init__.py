"""A package that reads its own data files with importlib.resources."""
