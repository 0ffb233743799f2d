"""Image references (`registry/repo/name:tag`), parsed and normalized as Docker does.

The grammar is that of distribution's `reference` package: lower-case path components joined by
`.`, `_`, `__` or dashes, an optional registry host (recognised by a `.` or `:` or being
`localhost`), and a tag of at most 128 word characters, dots and dashes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError

DEFAULT_DOMAIN = "docker.io"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"(?::[0-9]+)?\Z"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")


@dataclass(frozen=True, kw_only=True)
class ImageReference:
    """A parsed image reference. ``domain`` is ``None`` when the user gave none (Docker Hub)."""

    domain: str | None
    #: The repository path without the domain, as given (``team/app``, ``myimg``).
    path: str
    tag: str
    #: Whether the tag was given explicitly (``myimg:latest``) or defaulted.
    explicit_tag: bool = True

    @property
    def repository(self) -> str:
        """The repository as the user wrote it, without the tag (``myimg``, ``reg:5000/a/b``)."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar(self) -> str:
        """``repository:tag`` as the user would write it (``myimg:latest``)."""
        return f"{self.repository}:{self.tag}"

    @property
    def registry(self) -> str:
        """The registry host (``docker.io`` when none was given)."""
        return self.domain or DEFAULT_DOMAIN

    @property
    def normalized_path(self) -> str:
        """The repository path on the registry (``library/myimg`` for official Docker Hub names)."""
        if self.registry == DEFAULT_DOMAIN and "/" not in self.path:
            return f"library/{self.path}"
        return self.path

    @property
    def fully_qualified(self) -> str:
        """``docker.io/library/myimg:latest``: what containerd and podman expect in tarballs."""
        return f"{self.registry}/{self.normalized_path}:{self.tag}"

    @property
    def name(self) -> str:
        """The last path component, used for default file names (``app`` for ``reg/team/app``)."""
        return self.path.rsplit("/", 1)[-1]

    def with_digest(self, digest: str) -> str:
        """``myimg:latest@sha256:…``: the line pybin2img prints on stdout."""
        return f"{self.familiar}@{digest}"


def parse_reference(text: str) -> ImageReference:
    """Parse ``NAME[:TAG]``; raise :class:`UsageError` with the reason when it is invalid."""
    original = text
    if not text:
        raise UsageError("invalid image reference '': it is empty")
    if "@" in text:
        raise UsageError(
            f"invalid image reference {original!r}: a digest cannot be given for an image "
            "that is about to be built; give NAME[:TAG]"
        )
    # A ':' after the last '/' separates the tag (a ':' before it belongs to a registry port).
    tag = DEFAULT_TAG
    explicit_tag = False
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        explicit_tag = True
        if not _TAG.match(tag):
            raise UsageError(
                f"invalid image reference {original!r}: tag {tag!r} must be 1-128 letters, "
                "digits, '_', '.' or '-', and not start with '.' or '-'"
            )

    domain: str | None = None
    first, sep, rest = text.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.match(first):
            raise UsageError(f"invalid image reference {original!r}: bad registry host {first!r}")
        domain, text = first, rest

    components = text.split("/")
    for component in components:
        if not _COMPONENT.match(component):
            raise UsageError(
                f"invalid image reference {original!r}: {component!r} must be lower-case "
                "letters and digits, separated by '.', '_', '__' or '-'"
            )
    if len(text) + (len(domain) + 1 if domain else 0) > 255:
        raise UsageError(f"invalid image reference {original!r}: name longer than 255 characters")
    return ImageReference(domain=domain, path=text, tag=tag, explicit_tag=explicit_tag)


def is_digest(text: str) -> bool:
    """Whether ``text`` is a ``sha256:<64 hex>`` digest."""
    return bool(_DIGEST.match(text))
