"""After planning: record in the image what its files belong to.

The plan names the build machine's files the image holds (:attr:`ImagePlan.host_files`); once
the owner of every file is known (:func:`~.owners.claim_files`, from the packages owning the
copied files, :func:`~.dpkg.system_packages`), :func:`add_records` adds distroless-style dpkg
entries where scanners look for them, and :func:`add_sbom` the SBOM in a small top layer.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from .dpkg import SystemPackages, status_d_entries
from .host import HostFacts
from .owners import FileOwners
from .planner import SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, ImagePlan
from .rootfs import RootfsBuilder
from .scratch import os_release

#: Where the image's own SBOM (CycloneDX JSON) lives.
SBOM_PATH = "/usr/share/pybin2img/sbom.cdx.json"


def add_records(
    plan: ImagePlan, packages: SystemPackages, owners: FileOwners, *, host: HostFacts
) -> ImagePlan:
    """``plan`` with the Debian packages that own its files recorded in its system-libraries
    layer.

    Each package with a file in the image (:attr:`FileOwners.debian`: those Nuitka copied into
    the dist too) gets a ``/var/lib/dpkg/status.d`` entry, its ``.md5sums`` listing its files
    in the image; and, unless the image has one, an ``os-release`` made from the host's:
    scanners (trivy, grype) read dpkg data only next to an os-release.
    """
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    recorded = [p for p in packages.packages if p.key in owners.debian]
    if recorded:
        with builder.into(SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, after=("base",)):
            for path, data in status_d_entries(recorded, image_md5sums=owners.md5sums):
                builder.add_data(path, data)
            with builder.missing_only():
                release = os_release(host.os_release).encode()
                builder.add_data("usr/lib/os-release", release, mode=0o444)
                builder.add_symlink("etc/os-release", "../usr/lib/os-release")
    return dataclasses.replace(
        plan,
        layers=builder.finish(),
        nodes=MappingProxyType(dict(builder.nodes)),
        packages=dataclasses.replace(packages, packages=tuple(recorded)),
    )


def add_sbom(plan: ImagePlan, sbom: bytes) -> ImagePlan:
    """``plan`` with ``sbom`` at :data:`SBOM_PATH`, in a layer of its own on top."""
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    builder.layer("sbom", "software bill of materials")
    builder.add_data(SBOM_PATH.lstrip("/"), sbom)
    return dataclasses.replace(
        plan, layers=builder.finish(), nodes=MappingProxyType(dict(builder.nodes))
    )
