"""A build's ``--push``, in two calls: :func:`check_release` before the compile (the registry
answers and takes the credentials, the signing key opens), :func:`release_image` after the
image is written (pushed, its SBOM attached, and with a key both signed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..log import Log
from ..oci import MEDIA_MANIFEST, BaseImage, Descriptor, WrittenImage
from ..options import BuildOptions
from ..registry import RegistryOptions, check_registry
from .attach import SBOM_MEDIA_TYPES, Attachment, attach_sbom
from .keys import SigningKey, load_signing_key
from .push import PushOptions, PushResult, base_repository, push_image
from .sign import Signature, sign_pushed


@dataclass(frozen=True, kw_only=True)
class Release:
    """What ``--push`` did: the image pushed, its SBOM attached, the signatures pushed."""

    pushed: PushResult
    attachment: Attachment
    #: The image's and the SBOM attachment's, with ``--sign-key``; else none.
    signatures: tuple[Signature, ...] = ()


def check_release(options: BuildOptions, log: Log) -> SigningKey | None:
    """Before the compile: the registry answers and takes the credentials, and the signing
    key opens with its password (a wrong one fails in a second, not after the compile)."""
    check_registry(options.reference, options.registry or RegistryOptions(), log)
    if options.sign_key is None:
        return None
    return load_signing_key(options.sign_key, options.sign_password)


def release_image(
    options: BuildOptions,
    written: WrittenImage,
    base_image: BaseImage | None,
    sbom: bytes,
    sbom_file: Path,
    key: SigningKey | None,
    log: Log,
) -> Release:
    """``--push``: the image, then its SBOM (the bytes of ``sbom_file``) as an attachment of
    the image, then (with ``key``) signatures of the image and of that attachment."""
    registry = options.registry or RegistryOptions()
    mount = options.mount_from
    if mount is None:
        # The base's layers are likely in its own repository on the same registry.
        mount = base_repository(base_image, options.reference)
    pushed = push_image(
        written.path,
        options.reference,
        registry=registry,
        options=PushOptions(mount_from=mount),
        log=log,
    )
    subject = Descriptor(
        media_type=MEDIA_MANIFEST, digest=written.manifest_digest, size=len(written.manifest)
    )
    attachment = attach_sbom(
        options.reference,
        subject,
        sbom,
        media_type=SBOM_MEDIA_TYPES[options.sbom_format],
        title=sbom_file.name,
        registry=registry,
        log=log,
    )
    if key is None:
        return Release(pushed=pushed, attachment=attachment)
    digests = (written.manifest_digest, attachment.digest)
    signatures = sign_pushed(options.reference, digests, key, registry=registry, log=log)
    return Release(pushed=pushed, attachment=attachment, signatures=signatures)
