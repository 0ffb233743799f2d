"""After planning: record in the image what its copied files belong to.

The plan names the build machine's files the image holds (:attr:`ImagePlan.host_files`); once
the packages owning them are known (:func:`~.dpkg.system_packages`) and the SBOM is made from
them, :func:`add_records` adds distroless-style dpkg entries where scanners look for them and
the SBOM in a small top layer.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from .dpkg import SystemPackages, status_d_entries
from .host import HostFacts
from .planner import SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, ImagePlan
from .rootfs import RootfsBuilder
from .scratch import os_release

#: Where the image's own SBOM (CycloneDX JSON) lives.
SBOM_PATH = "/usr/share/pybin2img/sbom.cdx.json"


def add_records(
    plan: ImagePlan, packages: SystemPackages, sbom: bytes | None, *, host: HostFacts
) -> ImagePlan:
    """``plan`` with ``packages`` recorded in its system-libraries layer and ``sbom`` on top.

    The packages get ``/var/lib/dpkg/status.d`` entries and, unless the image has one, an
    ``os-release`` made from the host's: scanners (trivy, grype) read dpkg data only next to
    an os-release.
    """
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    if packages.packages:
        with builder.into(SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, after=("base",)):
            for path, data in status_d_entries(packages.packages):
                builder.add_data(path, data)
            with builder.missing_only():
                release = os_release(host.os_release).encode()
                builder.add_data("usr/lib/os-release", release, mode=0o444)
                builder.add_symlink("etc/os-release", "../usr/lib/os-release")
    if sbom is not None:
        builder.layer("sbom", "software bill of materials")
        builder.add_data(SBOM_PATH.lstrip("/"), sbom)
    return dataclasses.replace(
        plan,
        layers=builder.finish(),
        nodes=MappingProxyType(dict(builder.nodes)),
        packages=packages,
    )
