"""Ship stages: the smoke test and the comparison, loading into a Docker engine, pushing to a
registry, attaching the SBOM and signing.

The face: :func:`run_smoke_test`, :func:`compare_image`, :func:`load_image`,
:func:`push_image` (and :func:`push_index`), :func:`attach_sbom`, :func:`sign_pushed` (and
:func:`sign_image`), a build's :func:`check_release` and :func:`release_image` (all three),
the signing keys, and their results; the rest of the package is private to it. Its names load
on first use, each with its module: ``push``, ``attach``, ``sign`` and ``release`` import
requests (through the ``registry`` package) and ``keys`` imports cryptography, which commands
that do not need them should not wait for.

``smoke`` runs the finished image once (``runimage`` runs it, in the engine or in private
namespaces; ``smoke`` judges the run), ``compare`` runs it against the interpreter it replaces,
``load`` hands it to the engine (docker SDK), ``push`` uploads it with the ``registry`` client,
``attach`` pushes the SBOM as a referrer, ``sign`` signs as cosign does with the keys of
``keys``; ``release`` is a build's ``--push`` (push, attach, sign).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .attach import SBOM_MEDIA_TYPES, Attachment, attach_sbom
    from .compare import Comparison, compare_image, launch_for
    from .keys import SigningKey, generate_key_pair, is_encrypted, load_signing_key
    from .load import check_engine, docker_client, load_image
    from .push import PushOptions, PushResult, base_repository, push_image, push_index
    from .release import Release, check_release, release_image
    from .sign import Signature, parse_target, sign_image, sign_pushed
    from .smoke import app_directories, hint_trace, own_modules, run_smoke_test

__all__ = [
    "SBOM_MEDIA_TYPES",
    "Attachment",
    "Comparison",
    "PushOptions",
    "PushResult",
    "Release",
    "Signature",
    "SigningKey",
    "app_directories",
    "attach_sbom",
    "base_repository",
    "check_engine",
    "check_release",
    "compare_image",
    "docker_client",
    "generate_key_pair",
    "hint_trace",
    "is_encrypted",
    "launch_for",
    "load_image",
    "load_signing_key",
    "own_modules",
    "parse_target",
    "push_image",
    "push_index",
    "release_image",
    "run_smoke_test",
    "sign_image",
    "sign_pushed",
]

#: The module each name of the face is defined in.
_MODULES = {
    "SBOM_MEDIA_TYPES": "attach",
    "Attachment": "attach",
    "attach_sbom": "attach",
    "Comparison": "compare",
    "compare_image": "compare",
    "launch_for": "compare",
    "SigningKey": "keys",
    "generate_key_pair": "keys",
    "is_encrypted": "keys",
    "load_signing_key": "keys",
    "check_engine": "load",
    "docker_client": "load",
    "load_image": "load",
    "PushOptions": "push",
    "PushResult": "push",
    "base_repository": "push",
    "push_image": "push",
    "push_index": "push",
    "Release": "release",
    "check_release": "release",
    "release_image": "release",
    "Signature": "sign",
    "parse_target": "sign",
    "sign_image": "sign",
    "sign_pushed": "sign",
    "app_directories": "smoke",
    "hint_trace": "smoke",
    "own_modules": "smoke",
    "run_smoke_test": "smoke",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
