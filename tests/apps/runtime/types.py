"""Named like the standard library's types module: must never be compiled in its place."""

raise RuntimeError("the app directory's types.py was imported instead of the standard library's")
