"""The plan stage in one call: :func:`checked_plan`.

The build machine is probed once (:func:`~.host.probe_host`), the image laid out
(:func:`~.planner.plan_image`), its ``/etc/ld.so.cache`` made (:func:`~.ldsocache.add_ld_so_cache`),
the owner of every file found and recorded with the SBOM (:func:`~.packages.record_owners`), and
the closure resolved again inside the planned image (:func:`~pybin2img.resolve.verify_closure`):
what comes out is a plan whose every lookup finds the same bytes as on the build machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..compile import CompileResult
from ..log import Log
from ..oci import BaseImage, Kind
from ..options import BuildOptions
from ..resolve import Closure, verify_closure
from ..toolchain import Toolchain
from .host import probe_host
from .ldsocache import add_ld_so_cache
from .owners import FileOwners
from .packages import record_owners
from .planner import ImagePlan, plan_image, searched_library_path, staged_view
from .sbom import SbomMaker


@dataclass(frozen=True, kw_only=True)
class CheckedPlan:
    """The image's plan, checked inside itself, and who owns its files."""

    plan: ImagePlan
    owners: FileOwners
    #: Makes the SBOM documents (the image's own copy is in ``plan`` already).
    sbom: SbomMaker
    #: The regular files of the image.
    files: int

    @property
    def summary(self) -> str:
        """The plan stage's line."""
        return f"{len(self.plan.layers)} layers, {self.files} files, checked inside the image"


def checked_plan(
    options: BuildOptions,
    *,
    compiled: CompileResult,
    closure: Closure,
    roots: Sequence[Path],
    app_data: Sequence[str],
    traced_files: Sequence[str],
    tini: str | None,
    base_image: BaseImage | None,
    toolchain: Toolchain,
    epoch: int,
    workdir: Path,
    log: Log,
) -> CheckedPlan:
    """Plan the image of ``compiled`` and its ``closure`` (resolved from ``roots``, with
    ``tini`` when ``--init tini``), on ``base_image`` when ``--base`` names one.

    ``app_data`` are the dist-relative paths of the app's own data files (the compile target's),
    ``traced_files`` the host files ``--trace`` and the libraries loaded by name add. ``toolchain``
    and ``epoch`` go into the SBOM. A lookup that the planned image answers differently from the
    build machine is a :class:`~pybin2img.errors.ResolveError`.
    """
    host = probe_host(closure, tini=tini)
    plan = plan_image(
        base=options.base,
        dist_dir=compiled.dist_dir,
        roots=roots,
        closure=closure,
        host=host,
        modules=compiled.modules,
        base_image=base_image,
        ca_certs=options.ca_certs,
        tzdata=options.tzdata,
        init=options.init,
        ldconfig=options.ldconfig,
        app_paths=(*app_data, *(d.partition("=")[2] for d in options.include_data)),
        traced_files=traced_files,
        extra_files=options.extra_files,
        library_path=options.library_path,
    )
    for warning in plan.warnings:
        log.warning(warning)
    plan = add_ld_so_cache(plan, host.ldconfig or "", workdir)
    # Who owns each file: the packages of the files copied from the build machine and of those
    # Nuitka copied into the dist, the distributions, CPython, the app.
    base = base_image.name if base_image else None
    sbom = SbomMaker(options.reference, compiled, epoch, toolchain, base=base)
    plan, owners = record_owners(
        plan,
        dist_dir=compiled.dist_dir,
        origins=sbom.origins(),
        installation=sbom.installation,
        host=host,
        make_sbom=sbom,
        base_root=str(base_image.rootfs) if base_image else None,
        compiled=sbom.compiled_distributions(),
    )
    for item in owners.unclaimed:
        log.detail(f"no component claims {item.path}: {item.reason}")
    verify_closure(
        closure,
        staged_view(plan.nodes),
        library_path=searched_library_path(plan.env),
        roots=plan.roots,
    )
    files = sum(1 for e in plan.nodes.values() if e.kind is Kind.FILE)
    return CheckedPlan(plan=plan, owners=owners, sbom=sbom, files=files)
