"""Every failure pybin2img reports, one class per kind, each with a stable exit code.

Makefiles and CI jobs branch on these codes; the README documents them in a table that a test
checks against :data:`EXIT_CODES`. Never renumber an existing code.
"""

from __future__ import annotations


class Pybin2imgError(Exception):
    """Base class: a failure with a one-line message meant for the user."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: Extra lines (for example the tail of a compiler log) printed after the message.
        self.details = details

    def __str__(self) -> str:
        return self.message


class UsageError(Pybin2imgError):
    """The command line is wrong: a missing app, an invalid tag, a bad option value."""

    exit_code = 2
    kind = "usage"


class ConfigError(Pybin2imgError):
    """The configuration (pyproject table, environment variables) is wrong."""

    exit_code = 3
    kind = "configuration"


class CompileError(Pybin2imgError):
    """The app could not be compiled: syntax error, missing import, Nuitka or compiler failure."""

    exit_code = 4
    kind = "compile"


class ResolveError(Pybin2imgError):
    """A shared library could not be resolved, or the closure is inconsistent."""

    exit_code = 5
    kind = "unresolved library"


class ImageWriteError(Pybin2imgError):
    """An output could not be written: the tarball, the SBOM, the metadata file or
    ``GITHUB_OUTPUT`` (unwritable folder, disk full, an input file that vanished)."""

    exit_code = 6
    kind = "image write"


class EngineError(Pybin2imgError):
    """The container engine is unreachable or refused the image."""

    exit_code = 7
    kind = "engine unavailable"


class RegistryError(Pybin2imgError):
    """The registry refused a push or could not be reached."""

    exit_code = 8
    kind = "registry"


class SmokeTestError(Pybin2imgError):
    """The finished image failed its smoke test."""

    exit_code = 9
    kind = "smoke test"


class InvalidImageError(Pybin2imgError):
    """An image tarball is inconsistent (``pybin2img inspect``, ``push``)."""

    exit_code = 10
    kind = "invalid image"


class HostError(Pybin2imgError):
    """The build machine lacks something the image needs (a CA bundle, zoneinfo, a supported
    machine type) or pybin2img's own cache or work directory cannot be used."""

    exit_code = 11
    kind = "build host"


class Interrupted(Pybin2imgError):
    """The build was interrupted (Ctrl-C / SIGINT)."""

    exit_code = 130
    kind = "interrupted"


#: Exit code -> kind, for the README table and its test.
EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (please report it, with --debug output)",
    **{
        cls.exit_code: cls.kind
        for cls in (
            UsageError,
            ConfigError,
            CompileError,
            ResolveError,
            ImageWriteError,
            EngineError,
            RegistryError,
            SmokeTestError,
            InvalidImageError,
            HostError,
            Interrupted,
        )
    },
}
