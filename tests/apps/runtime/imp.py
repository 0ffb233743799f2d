"""Named like the standard library's imp module: must never be compiled in its place."""

raise RuntimeError("the app directory's imp.py was imported instead of the standard library's")
