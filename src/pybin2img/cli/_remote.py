"""The commands that reach a registry or sign: ``push``, ``sign``, ``index`` (merged from
several platforms' tarballs, pushed with ``--push``) and ``generate-key``. Each loads the
``ship`` and ``registry`` modules it needs when it runs (requests is slow to import).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UsageError
from ..log import Log
from ..options import registry_options
from ..reference import parse_reference
from ..settings import PUSH_SETTINGS
from ._click import (
    click_options,
    debug_option,
    key_password,
    quiet_option,
    stdin_password,
    verbose_option,
)

if TYPE_CHECKING:  # requests is slow to import: only the commands that reach a registry need it
    from ..registry import RegistryOptions
    from ..ship import PushOptions


@click.command(short_help="Push an image tarball to a registry, no Docker daemon needed.")
@click.argument("tarball", metavar="IMAGE.tar", type=click.Path(path_type=Path))
@click.argument("reference", metavar="REFERENCE")
@click.option("--tag", "extra_tags", multiple=True, metavar="TAG", help="Also push under this tag.")
@click_options(PUSH_SETTINGS)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write what was pushed, and the bytes uploaded and skipped, as JSON.",
)
@verbose_option
@quiet_option
@debug_option
def push(
    tarball: Path,
    reference: str,
    extra_tags: tuple[str, ...],
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    registry_ca: tuple[Path, ...],
    sign_key: Path | None,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Push IMAGE.tar to REFERENCE (registry.example.com/team/app:1.2), no Docker daemon needed.

    Prints REFERENCE@sha256:DIGEST on stdout.
    """
    from ..ship import push_image  # requests is slow to import

    target = parse_reference(reference)
    for tag in extra_tags:
        parse_reference(f"{target.repository}:{tag}")  # the tag grammar, with its error message
    registry = _registry(username, password_stdin, insecure_registry, registry_ca)
    options = _push_options(mount_from, extra_tags, metadata_file)
    log = Log(verbosity=-1 if quiet else verbose)
    key = _signing_key(sign_key) if sign_key else None
    result = push_image(tarball.absolute(), target, registry=registry, options=options, log=log)
    if key:
        from ..ship import sign_pushed

        sign_pushed(target, [result.digest], key, registry=registry, log=log)
    click.echo(result.pinned_reference)


def _registry(
    username: str | None,
    password_stdin: bool,
    insecure_registries: tuple[str, ...],
    registry_ca: tuple[Path, ...],
) -> RegistryOptions:
    """The registry options of ``push``, ``sign`` and ``index``, from their flags and the
    environment (:func:`pybin2img.options.registry_options`)."""
    return registry_options(
        os.environ,
        username=username,
        password=stdin_password() if password_stdin else None,
        insecure_registries=insecure_registries,
        registry_ca=registry_ca,
    )


def _push_options(
    mount_from: str | None, extra_tags: tuple[str, ...], metadata_file: Path | None
) -> PushOptions:
    """What ``push`` and ``index --push`` do besides reaching the registry."""
    from ..ship import PushOptions

    return PushOptions(
        mount_from=mount_from,
        extra_tags=extra_tags,
        metadata_file=metadata_file.absolute() if metadata_file else None,
    )


def _signing_key(path: Path) -> Any:
    """The key at ``path``, opened with :func:`key_password`."""
    from ..ship import load_signing_key

    return load_signing_key(path.absolute(), key_password(path))


#: The registry options of ``sign`` and ``index``: where it is and how to log in.
_REGISTRY_SETTINGS = tuple(s for s in PUSH_SETTINGS if s.name != "sign-key")


@click.command("generate-key", short_help="Write a key pair for signing, in cosign's formats.")
@click.argument("prefix", metavar="PREFIX", type=click.Path(path_type=Path), default="cosign")
@debug_option
def generate_key(prefix: Path) -> None:
    """Write PREFIX.key (ECDSA P-256, encrypted with COSIGN_PASSWORD, as cosign writes it) and
    PREFIX.pub; never overwrite them. Prints the public key's path.

    COSIGN_PASSWORD may be empty; when it is not set the password is asked on a terminal.
    Sign with `build --push --sign-key PREFIX.key` or `pybin2img sign`; verify with
    `cosign verify --key PREFIX.pub --insecure-ignore-tlog`, or skopeo/podman (README).
    """
    from ..ship import generate_key_pair

    password = key_password(prefix, confirm=True)
    if password is None:
        raise UsageError("set COSIGN_PASSWORD to the password for the new key (it may be empty)")
    private, public = generate_key_pair(prefix, password)
    click.echo(f"pybin2img: wrote {private} and {public}", err=True)
    click.echo(str(public))


@click.command(short_help="Sign an image in a registry, as cosign does (no transparency log).")
@click.argument("reference", metavar="REFERENCE")
@click.option(
    "--key",
    "key_path",
    required=True,
    metavar="FILE",
    type=click.Path(path_type=Path),
    help="cosign private key (password from COSIGN_PASSWORD) or PEM EC P-256 key.",
)
@click_options(_REGISTRY_SETTINGS)
@verbose_option
@quiet_option
@debug_option
def sign(
    reference: str,
    key_path: Path,
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    registry_ca: tuple[Path, ...],
    verbose: int,
    quiet: bool,
) -> None:
    """Sign REFERENCE (NAME:TAG or NAME@sha256:DIGEST) where it is pushed: the signature goes
    under the tag sha256-<hex>.sig, as cosign's does. An index is signed with each image it
    lists. Prints REFERENCE@sha256:DIGEST of what was signed.
    """
    from ..ship import parse_target, sign_image

    target, digest = parse_target(reference)
    if mount_from:
        raise UsageError("--mount-from is for pushing, not for sign")
    registry = _registry(username, password_stdin, insecure_registry, registry_ca)
    key = _signing_key(key_path)
    log = Log(verbosity=-1 if quiet else verbose)
    signatures = sign_image(target, digest, key, registry=registry, log=log)
    click.echo(target.with_digest(signatures[0].digest))


@click.command(short_help="Merge image tarballs of several platforms into one image index.")
@click.argument(
    "tarballs", metavar="IMAGE.tar...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option("-t", "--tag", "tag", required=True, metavar="NAME[:TAG]", help="Index reference.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write the index and its images as an OCI layout tarball.",
)
@click.option("--push", is_flag=True, help="Push the images by digest, then the index.")
@click.option("--extra-tag", "extra_tags", multiple=True, metavar="TAG", help="Also push as TAG.")
@click_options(PUSH_SETTINGS)
@click.option(
    "--metadata-file",
    type=click.Path(path_type=Path),
    help="Write what was pushed as JSON.",
)
@verbose_option
@quiet_option
@debug_option
def index(
    tarballs: tuple[Path, ...],
    tag: str,
    output: Path | None,
    push: bool,
    extra_tags: tuple[str, ...],
    insecure_registry: tuple[str, ...],
    mount_from: str | None,
    username: str | None,
    password_stdin: bool,
    registry_ca: tuple[Path, ...],
    sign_key: Path | None,
    metadata_file: Path | None,
    verbose: int,
    quiet: bool,
) -> None:
    """Merge IMAGE.tar files of different platforms (pybin2img's, `docker save`'s, `skopeo
    copy … oci-archive:`'s) into one OCI image index named NAME[:TAG]: written with -o as a
    tarball (skopeo, podman load) and/or pushed with --push (each image by digest, then the
    index). Prints NAME:TAG@sha256:DIGEST of the index.
    """
    from ..oci import merge_index, write_index
    from ..options import check_output

    target = parse_reference(tag)
    if not output and not push:
        raise UsageError("nothing to do: give -o FILE, --push, or both")
    if not push and (sign_key or extra_tags or insecure_registry or username or registry_ca):
        raise UsageError("registry options (--sign-key, --username, …) need --push")
    for extra in extra_tags:
        parse_reference(f"{target.repository}:{extra}")
    if output:
        output = output.absolute()
        check_output(output)
    log = Log(verbosity=-1 if quiet else verbose)
    registry = None
    key = None
    if push:
        from ..registry import check_registry

        registry = _registry(username, password_stdin, insecure_registry, registry_ca)
        key = _signing_key(sign_key) if sign_key else None
        check_registry(target, registry, log)
    with log.stage("index") as stage, merge_index([t.absolute() for t in tarballs]) as merged:
        platforms = ", ".join(str(child.platform) for child in merged.children)
        stage.summary = f"{platforms}: {merged.descriptor.digest}"
        if output:
            size = write_index(merged, target, output)
            log.info(f"wrote {output} ({size / 1e6:.1f} MB)")
        if push:
            from ..ship import push_index

            assert registry is not None
            options = _push_options(mount_from, extra_tags, metadata_file)
            push_index(merged, target, registry=registry, options=options, log=log)
            if key:
                from ..ship import sign_pushed

                digests = [merged.descriptor.digest]
                digests += [child.descriptor.digest for child in merged.children]
                sign_pushed(target, digests, key, registry=registry, log=log)
    click.echo(target.with_digest(merged.descriptor.digest))
