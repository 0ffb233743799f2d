"""pybin2img: compile a Python app with Nuitka and ship it as a minimal container image."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
