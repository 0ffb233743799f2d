"""pybin2img's version: a module of its own, so that any module can read it without importing
the package's face (``pybin2img/__init__.py``), which imports the options and the errors."""

__version__ = "0.1.0"
