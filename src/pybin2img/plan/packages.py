"""After planning: record in the image what its files belong to.

The plan names the build machine's files the image holds (:attr:`ImagePlan.host_files`); once
the owner of every file is known (:func:`~.owners.claim_files`, from the packages owning the
copied files, :func:`~.dpkg.system_packages`), :func:`add_records` adds distroless-style dpkg
entries where scanners look for them, and :func:`add_sbom` the SBOM in a small top layer.
:func:`record_owners` does all three for a build.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from ..dpkg import SystemPackages, status_d_entries, system_packages
from ..oci import Entry
from .host import HostFacts
from .installation import PythonDistribution, PythonInstallation
from .owners import FileOwners, claim_files
from .planner import SYSTEM_LAYER, SYSTEM_LAYER_DESCRIPTION, ImagePlan
from .rootfs import RootfsBuilder
from .scratch import os_release

#: Where the image's own SBOM (CycloneDX JSON) lives.
SBOM_PATH = "/usr/share/pybin2img/sbom.cdx.json"
#: Where each distribution compiled into the binary gets a ``.dist-info/METADATA`` for scanners.
PYTHON_RECORDS = "usr/share/pybin2img/python"
_SBOM_LAYER = ("sbom", "software bill of materials")


def python_records(distributions: Sequence[PythonDistribution]) -> list[tuple[str, bytes]]:
    """A ``<name>-<version>.dist-info/METADATA`` for each of ``distributions``: its name,
    version and license, as core metadata writes them. Scanners find installed Python packages
    by these files anywhere in an image (syft's and so grype's only way; trivy reads the SBOM
    too); the binary holds no such file of its own."""
    records = []
    for dist in sorted(distributions, key=lambda d: d.key):
        if not _FIELD.fullmatch(dist.name) or not _FIELD.fullmatch(dist.version):
            continue
        lines = ["Metadata-Version: 2.1", f"Name: {dist.name}", f"Version: {dist.version}"]
        license_ = " AND ".join(dist.licenses)
        lines += [f"License: {license_}"] if _FIELD.fullmatch(license_) else []
        escaped = re.sub(r"[-_.]+", "_", dist.name).lower()
        version = dist.version.replace("-", "_")
        path = f"{PYTHON_RECORDS}/{escaped}-{version}.dist-info/METADATA"
        records.append((path, ("\n".join(lines) + "\n").encode()))
    return records


#: A value that fits one core-metadata header line.
_FIELD = re.compile(r"[^\r\n]{1,200}")


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


def add_python_records(plan: ImagePlan, distributions: Sequence[PythonDistribution]) -> ImagePlan:
    """``plan`` with :func:`python_records` of ``distributions`` in the top layer, where the
    SBOM goes too."""
    records = python_records(distributions)
    if not records:
        return plan
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    builder.layer(*_SBOM_LAYER)
    for path, data in records:
        builder.add_data(path, data)
    return dataclasses.replace(
        plan, layers=builder.finish(), nodes=MappingProxyType(dict(builder.nodes))
    )


def add_sbom(plan: ImagePlan, sbom: bytes) -> ImagePlan:
    """``plan`` with ``sbom`` at :data:`SBOM_PATH`, in the top layer of its own (with the
    distributions' records)."""
    builder = RootfsBuilder.resume(plan.layers, plan.nodes)
    if plan.layers and plan.layers[-1].name == _SBOM_LAYER[0]:
        with builder.into(_SBOM_LAYER[0]):
            builder.add_data(SBOM_PATH.lstrip("/"), sbom)
    else:
        builder.layer(*_SBOM_LAYER)
        builder.add_data(SBOM_PATH.lstrip("/"), sbom)
    return dataclasses.replace(
        plan, layers=builder.finish(), nodes=MappingProxyType(dict(builder.nodes))
    )


def record_owners(
    plan: ImagePlan,
    *,
    dist_dir: Path,
    origins: Mapping[str, str | None],
    installation: PythonInstallation,
    host: HostFacts,
    make_sbom: Callable[[FileOwners, SystemPackages | None, str | None], bytes],
    base_root: str | None = None,
    compiled: Sequence[PythonDistribution] = (),
) -> tuple[ImagePlan, FileOwners]:
    """``plan`` with the owner of every file found and recorded: the dpkg records of the
    packages owning the files copied from the build machine and those Nuitka copied into the
    dist (``origins``: dist-relative path -> host path, from its report), then the SBOM
    ``make_sbom`` makes of the owners; and the owners."""
    packages = system_packages([*plan.host_files, *(path for path in origins.values() if path)])
    owners = claim_files(
        _without_sbom(plan.nodes),
        dist_dir=dist_dir,
        app_files=plan.app_files,
        origins=origins,
        packages=packages,
        installation=installation,
        base_root=base_root,
    )
    plan = add_records(plan, packages, owners, host=host)
    plan = add_python_records(plan, compiled)
    owners = owners.with_generated(_without_sbom(plan.nodes))
    return add_sbom(plan, make_sbom(owners, plan.packages, None)), owners


def _without_sbom(nodes: Mapping[str, Entry]) -> dict[str, Entry]:
    # The SBOM (or a base image's, which it replaces) cannot list its own hash; it names itself.
    return {path: entry for path, entry in nodes.items() if path != SBOM_PATH.lstrip("/")}
