"""Plan stage: every file of the image (path, kind, mode, owner, source) grouped into layers.

The face: :func:`checked_plan`, the stage in one call (host probe, planner, ``ld.so.cache``,
the owners' records and the SBOM, then the closure checked inside the plan: a
:class:`CheckedPlan`), the image config, and the libraries the code loads by name, which the
resolver is given; the rest of the package is private to it.

``host`` probes the build machine once into frozen facts; ``planner`` lays out the dist, the closure
and the base from them, touching nothing else on the host; ``rootfs`` groups the entries into
layers; ``scratch`` generates the base files; ``libraries`` finds the libraries loaded by name and
their data; ``ldsocache`` adds ``/etc/ld.so.cache``. Then ``owners`` finds who each copied file
belongs to (the dpkg database, ``installation``'s CPython files), ``sbom`` (with ``sbomparts``'
components) and ``spdx`` describe the build, and ``packages`` records both in the image; ``checked``
runs them in order. ``config`` makes the image config.
"""

from .checked import CheckedPlan, checked_plan
from .config import image_config
from .host import HostFacts, find_tini, is_static_program
from .libraries import (
    FoundLibrary,
    companion_data,
    data_of_libraries,
    libraries_by_name,
    library_names,
)
from .planner import ImagePlan
from .programs import missing_host_files, missing_programs
from .sbom import SbomMaker, compiled_distributions, sbom_path

__all__ = [
    "CheckedPlan",
    "FoundLibrary",
    "HostFacts",
    "ImagePlan",
    "SbomMaker",
    "checked_plan",
    "companion_data",
    "compiled_distributions",
    "data_of_libraries",
    "find_tini",
    "image_config",
    "is_static_program",
    "libraries_by_name",
    "library_names",
    "missing_host_files",
    "missing_programs",
    "sbom_path",
]
