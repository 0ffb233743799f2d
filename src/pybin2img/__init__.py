"""pybin2img: compile a Python app with Nuitka and ship it as a minimal container image.

The library API is one call::

    from pybin2img import build_image, build_options

    result = build_image(options)  # a BuildOptions, e.g. from build_options(...)
    print(result.pinned_reference)

Every failure is a :class:`Pybin2imgError` subclass with a stable ``exit_code``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .app import AppKind, AppSpec
from .errors import (
    CompileError,
    ConfigError,
    EngineError,
    HostError,
    ImageWriteError,
    Interrupted,
    InvalidImageError,
    Pybin2imgError,
    RegistryError,
    ResolveError,
    SmokeTestError,
    UsageError,
)
from .options import BuildOptions, build_options

if TYPE_CHECKING:
    from .build import BuildResult, build_image


__all__ = [
    "AppKind",
    "AppSpec",
    "BuildOptions",
    "BuildResult",
    "CompileError",
    "ConfigError",
    "EngineError",
    "HostError",
    "ImageWriteError",
    "Interrupted",
    "InvalidImageError",
    "Pybin2imgError",
    "RegistryError",
    "ResolveError",
    "SmokeTestError",
    "UsageError",
    "__version__",
    "build_image",
    "build_options",
]


def __getattr__(name: str) -> Any:
    # The pipeline pulls in pyelftools, the docker SDK and more; `pybin2img --help` should not.
    if name in ("build_image", "BuildResult"):
        from . import build

        return getattr(build, name)
    raise AttributeError(f"module 'pybin2img' has no attribute {name!r}")
