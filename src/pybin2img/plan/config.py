"""The image config: what the build knows about the image, as :class:`ImageConfig`.

The entrypoint (the binary, behind the init) and environment come from the plan, the rest from
the options (``/tmp`` is a volume unless ``--no-tmp-volume``); pybin2img's own
labels (``org.opencontainers.image.*``) are given and ``--label`` overrides them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .._version import __version__
from ..errors import HostError
from ..oci import ARCHITECTURES, BaseImage, ImageConfig
from ..options import BuildOptions
from .planner import DEFAULT_PATH, ImagePlan

#: Declared a volume by default: Docker and podman then mount a fresh writable volume there even
#: with ``--read-only``, so ``tempfile`` works (Kubernetes ignores image volumes: an ``emptyDir``).
TMP_VOLUME = "/tmp"


def image_config(
    options: BuildOptions,
    *,
    machine: str,
    binary: Path,
    plan: ImagePlan,
    epoch: int,
    base_image: BaseImage | None,
    labels: Mapping[str, str],
) -> ImageConfig:
    """The config of the image whose entry binary (on the build machine) is ``binary``, of
    the ELF ``machine`` the resolver read (:attr:`~pybin2img.resolve.closure.Closure.machine`)."""
    architecture, variant = ARCHITECTURES.get(machine, (None, None))
    if architecture is None:
        raise HostError(f"unsupported machine {machine} for {binary}")
    return ImageConfig(
        architecture=architecture,
        variant=variant,
        entrypoint=plan.entrypoint or (plan.binary,),
        cmd=options.cmd,
        env=merge_env(DEFAULT_PATH, *plan.env, *options.env),
        user=options.user,
        workdir=options.workdir,
        labels=tuple({**labels, **dict(options.labels)}.items()),
        ports=options.ports,
        volumes=(TMP_VOLUME,) if options.tmp_volume else (),
        stop_signal=options.stop_signal,
        created=epoch,
        created_by=f"pybin2img {__version__}",
        base=base_image.config if base_image else None,
    )


def merge_env(*entries: str) -> tuple[str, ...]:
    """``KEY=VALUE`` entries with later keys replacing earlier ones, first position kept."""
    merged: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        merged[key] = value
    return tuple(f"{key}={value}" for key, value in merged.items())
