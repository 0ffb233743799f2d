"""Named like the standard library's logging module: must never be compiled in its place."""

raise RuntimeError("the app directory's logging.py was imported instead of the standard library's")
