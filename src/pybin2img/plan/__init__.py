"""Plan stage: every file of the image (path, kind, mode, owner, source) grouped into layers.

The face: :func:`probe_host` and :func:`plan_image` (the :class:`ImagePlan`), what is added
to the plan after it (``ld.so.cache``, the owners' records and the SBOM), the image config,
and the libraries the code loads by name; the rest of the package is private to it.

``host`` probes the build machine once into frozen facts; ``planner`` lays out the dist, the
closure and the base from them, touching nothing else on the host; ``rootfs`` groups the
entries into layers; ``scratch`` generates the base files; ``libraries`` finds the libraries
loaded by name and their data; ``ldsocache`` adds ``/etc/ld.so.cache``. Then ``owners`` finds
who each copied file belongs to (the dpkg database, ``installation``'s CPython files), ``sbom``
and ``spdx`` describe the build, and ``packages`` records both in the image. ``config`` makes
the image config.
"""

from .config import image_config
from .host import HostFacts, find_tini, is_static_program, probe_host
from .ldsocache import add_ld_so_cache
from .libraries import FoundLibrary, data_of_libraries, libraries_by_name, library_names
from .packages import record_owners
from .planner import ImagePlan, plan_image, searched_library_path, staged_view
from .sbom import SbomMaker, compiled_distributions, sbom_path

__all__ = [
    "FoundLibrary",
    "HostFacts",
    "ImagePlan",
    "SbomMaker",
    "add_ld_so_cache",
    "compiled_distributions",
    "data_of_libraries",
    "find_tini",
    "image_config",
    "is_static_program",
    "libraries_by_name",
    "library_names",
    "plan_image",
    "probe_host",
    "record_owners",
    "sbom_path",
    "searched_library_path",
    "staged_view",
]
