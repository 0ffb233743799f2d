"""Named like the standard library's inspect module: must never be compiled in its place."""

raise RuntimeError("the app directory's inspect.py was imported instead of the standard library's")
