"""The build's software bill of materials: a CycloneDX 1.6 JSON document.

:func:`sbom_document` lists what the image holds and how it was made. Every regular file of the
image is under the component it belongs to (:mod:`.owners`), with its SHA-256: the Debian
packages whose files were copied from the build machine (also those Nuitka copied into the
dist: ``/app/libssl.so.3`` under ``libssl3``), the Python distributions (compiled into the
binary, and their extension modules, data files and bundled libraries), CPython (compiled into
the binary, and its extension modules), the app (the binary and its data), and pybin2img's own
files; a file nothing claims is a ``file`` component of its own. The tools are pybin2img,
Nuitka, the C compiler, patchelf and strip (:mod:`pybin2img.toolchain`). Package URLs let
scanners match each component: ``pkg:pypi/flask@3.1.3``,
``pkg:deb/debian/libc6@2.36-9+deb12u14?arch=amd64&distro=debian-12&upstream=glibc``.

Each file of a component is a nested component (``file``, or ``library`` for a library a wheel
bundles) named by its image path, with its ``SHA-256`` and, for a copy, the properties
``pybin2img:copy-of`` (the original, as its package names it) and ``pybin2img:match``
(``identical``, or ``same code``: a shared object whose RUNPATH and symbol tables differ).

The document is deterministic: components are sorted, the timestamp is
``SOURCE_DATE_EPOCH`` and the serial number is derived from the content, so identical builds
give identical bytes. :class:`SbomMaker` gathers for a build what only another program can
tell (the build interpreter's distributions). Each component is built in :mod:`.sbomparts`;
this module puts them together, with the files of each, and renders the document.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from .._version import __version__
from ..compile import expand
from ..dpkg import SystemPackages
from .installation import (
    PythonDistribution,
    PythonInstallation,
    normalize,
    read_installation,
    select,
)
from .owners import FileOwners, ImageFile
from .planner import APP_DIR
from .sbomparts import (
    app_component,
    base_component,
    compiler_component,
    deb_component,
    file_component,
    file_json,
    generated_component,
    pypi_component,
    pypi_purl,
    python_component,
    tool_component,
    toolchain_component,
)

if TYPE_CHECKING:
    from ..compile import CompileResult
    from ..reference import ImageReference
    from ..toolchain import Toolchain

__all__ = [
    "MEDIA_TYPE",
    "SBOM_SUFFIXES",
    "SPEC_VERSION",
    "ImageSubject",
    "PythonDistribution",
    "SbomInput",
    "SbomMaker",
    "compiled_distributions",
    "compiler_version",
    "python_distributions",
    "sbom_document",
    "sbom_path",
]

#: The CycloneDX version written: the newest that trivy, grype/syft and Dependency-Track read.
SPEC_VERSION = "1.6"
#: The document's media type (for an OCI artifact or a ``Content-Type``).
MEDIA_TYPE = "application/vnd.cyclonedx+json"

# Serial numbers are name-based UUIDs (version 5) in a namespace of pybin2img's own.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pybin2img:sbom")
_PLACEHOLDER_SERIAL = uuid.UUID(int=0)
_LEADING_KEYS = ("$schema", "bomFormat", "specVersion", "serialNumber", "version")


@dataclass(frozen=True, kw_only=True)
class ImageSubject:
    """The image the SBOM describes."""

    #: Repository part of the reference (``registry.example.com/team/app``).
    name: str
    tag: str | None = None
    #: Manifest digest (``sha256:…``) when known: the copy inside the image cannot name it.
    digest: str | None = None


@dataclass(frozen=True, kw_only=True)
class SbomInput:
    """Everything a build's SBOM is made of."""

    image: ImageSubject
    #: ``SOURCE_DATE_EPOCH``: the document's timestamp.
    created: int
    python_version: str
    nuitka_version: str
    #: First line of the C compiler's ``--version`` (``gcc (Debian 12.2.0-14) 12.2.0``), when
    #: there is no ``toolchain``.
    compiler: str | None = None
    #: What compiled the app: its tools are the document's (with versions and purls).
    toolchain: Toolchain | None = None
    #: The distributions compiled into the binary, and those owning files of the image.
    distributions: Sequence[PythonDistribution] = ()
    #: Normalized names of those compiled into the binary; ``None``: all of them.
    compiled: frozenset[str] | None = None
    system: SystemPackages | None = None
    #: Every file of the image by owner; ``None``: only the packages' own files are listed.
    owners: FileOwners | None = None
    #: Image path of the compiled binary, recorded as where the Python components are.
    binary: str | None = None
    #: The base image's name (``--base IMAGE.tar``), whose files are listed under it.
    base: str | None = None
    tool_version: str = __version__


def sbom_document(facts: SbomInput) -> bytes:
    """The CycloneDX JSON document for ``facts``: the same input always gives the same bytes."""
    draft = _render(*_bom(facts, _PLACEHOLDER_SERIAL))
    # The serial number names this content: a hash of the document without it, so that a
    # rebuild with the same inputs repeats it and any change gives a new one.
    serial = uuid.uuid5(_NAMESPACE, hashlib.sha256(draft).hexdigest())
    return draft.replace(_PLACEHOLDER_SERIAL.urn.encode(), serial.urn.encode(), 1)


#: ``--sbom-format`` -> the SBOM file's suffix.
SBOM_SUFFIXES = {"cyclonedx": ".sbom.cdx.json", "spdx": ".sbom.spdx.json"}


def sbom_path(tarball: Path, sbom_format: str = "cyclonedx") -> Path:
    """The SBOM written next to the tarball: ``app.tar`` -> ``app.sbom.cdx.json`` (or
    ``app.sbom.spdx.json``)."""
    return tarball.with_name(tarball.name.removesuffix(".tar") + SBOM_SUFFIXES[sbom_format])


class SbomMaker:
    """The build's SBOM, made from the owners of the image's files once planning found them:
    with the image's digest when it is known (the copy next to the tarball) or without (in the
    image), as CycloneDX or (``sbom_format="spdx"``) SPDX 2.3.

    The build interpreter's installation (its distributions, their files) is read here, once.
    """

    def __init__(
        self,
        reference: ImageReference,
        compiled: CompileResult,
        epoch: int,
        toolchain: Toolchain | None = None,
        base: str | None = None,
    ) -> None:
        self._reference = reference
        self._base = base
        self._compiled = compiled
        self._epoch = epoch
        self._toolchain = toolchain
        #: The build interpreter's installation: CPython's files, the distributions'.
        self.installation: PythonInstallation = read_installation(compiled.interpreter.executable)
        versions = {normalize(n): v for n, v in compiled_distributions(compiled)}
        #: Normalized names of the distributions compiled into the binary.
        self.compiled = frozenset(
            d.key
            for d in select(self.installation, versions)
            if d.version == versions.get(d.key, d.version)
        )

    def compiled_distributions(self) -> Sequence[PythonDistribution]:
        """The distributions compiled into the binary, as installed."""
        return select(self.installation, self.compiled)

    def origins(self) -> dict[str, str | None]:
        """Dist-relative path -> the host file Nuitka copied it from (``None``: the app's own
        directory, which the compile ran in), from its report."""
        found: dict[str, str | None] = {}
        prefixes = self.installation.prefixes
        for rel, source in self._compiled.origins.items():
            if source.startswith("${cwd}"):
                found[rel] = None
            elif (path := expand(source, prefixes, Path.home())) is not None:
                found[rel] = path
        return found

    def __call__(
        self,
        owners: FileOwners,
        packages: SystemPackages | None,
        digest: str | None,
        sbom_format: str = "cyclonedx",
    ) -> bytes:
        write = sbom_document
        if sbom_format == "spdx":
            from .spdx import spdx_document as write  # spdx-tools takes seconds to import
        wanted = self.compiled | set(owners.pypi)
        interpreter = self._compiled.interpreter
        return write(
            SbomInput(
                image=ImageSubject(
                    name=self._reference.repository, tag=self._reference.tag, digest=digest
                ),
                created=self._epoch,
                python_version=interpreter.python_version,
                nuitka_version=interpreter.nuitka_version,
                compiler=None if self._toolchain else compiler_version(),
                toolchain=self._toolchain,
                distributions=select(self.installation, wanted),
                compiled=self.compiled,
                system=packages,
                owners=owners,
                binary=f"{APP_DIR}/{self._compiled.binary.name}",
                base=self._base,
            )
        )


def compiled_distributions(compiled: CompileResult) -> tuple[tuple[str, str], ...]:
    """The installed distributions (with versions) whose modules Nuitka compiled in."""
    versions = {normalize(name): version for name, version in compiled.interpreter.distributions}
    return tuple(
        (name, versions.get(normalize(name), "unknown")) for name in sorted(compiled.distributions)
    )


def python_distributions(
    python: Path, names: Iterable[str] | None = None
) -> tuple[PythonDistribution, ...]:
    """Read the metadata of ``names`` (every installed distribution if ``None``) with ``python``.

    Names are matched as pip matches them (case, ``-``, ``_`` and ``.`` alike); names that are
    not installed are left out. Sorted by normalized name.
    """
    return select(read_installation(python), names)


def compiler_version(program: str = "gcc") -> str | None:
    """The first line of ``program --version``, or ``None`` when it cannot be run."""
    path = shutil.which(program)
    if path is None:
        return None
    try:
        proc = subprocess.run(
            [path, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


# --- the document -------------------------------------------------------------------------


def _render(bom: Bom, files: Mapping[str, _Files] | None = None) -> bytes:
    # The library keeps every collection sorted, so equal content gives equal text. It appends
    # the format keys last; readers (and people) expect them first, as the spec's examples do.
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    # Each component's files go in as plain JSON: hundreds of nested model objects would make
    # the library take seconds.
    for component in document.get("components", []):
        owned = (files or {}).get(component.get("bom-ref", ""))
        if owned and owned.files:
            evidence = component.setdefault("evidence", {})
            evidence.setdefault("occurrences", []).extend({"location": f.path} for f in owned.files)
            component["components"] = sorted(
                (file_json(f, owned.owner) for f in owned.files),
                key=lambda c: (c["type"], c["name"]),
            )
    # Except occurrences: sorted by a key that is not their location, which changes from run to
    # run. Put them in path order.
    components = list(document.get("components", []))
    while components:
        component = components.pop()
        occurrences = component.get("evidence", {}).get("occurrences")
        if occurrences:
            occurrences.sort(key=lambda o: o.get("location", ""))
        components.extend(component.get("components", []))
    first = {key: document.pop(key) for key in _LEADING_KEYS if key in document}
    return (json.dumps({**first, **document}, indent=2, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class _Files:
    """A component's files, added to its JSON by :func:`_render`."""

    files: Sequence[ImageFile]
    #: The distribution whose bundled libraries are among them.
    owner: str | None = None


def _bom(facts: SbomInput, serial: uuid.UUID) -> tuple[Bom, dict[str, _Files]]:
    subject = _image_component(facts.image)
    owners = facts.owners
    binary = facts.binary
    files: dict[str, _Files] = {}
    python = python_component(facts.python_version, binary)
    if owners:
        files[str(python.bom_ref)] = _Files(owners.python)
    compiled: list[Component] = []
    dists = []
    for dist in _unique(facts.distributions):
        inside = facts.compiled is None or dist.key in facts.compiled
        component = pypi_component(dist, binary if inside else None)
        if owners:
            files[str(component.bom_ref)] = _Files(owners.pypi.get(dist.key, ()), dist.name)
        dists.append(component)
        if inside:
            compiled.append(component)
    system = facts.system
    distro = system.distro if system else None
    debs = []
    for package in system.packages if system else ():
        if owners is not None and package.key not in owners.debian:
            continue
        component = deb_component(
            package,
            distro.id if distro else "debian",
            distro.purl_distro if distro else None,
            listed=owners is None,
        )
        if owners:
            files[str(component.bom_ref)] = _Files(owners.debian[package.key])
        debs.append(component)
    own: list[Component] = []
    app = None
    if owners is not None:
        app = app_component(binary)
        own = [app, generated_component()]
        files["app"] = _Files(owners.app)
        files["generated"] = _Files(owners.generated)
        if owners.base:
            own.append(base_component(facts.base or "base"))
            files["base"] = _Files(owners.base)
        # What nothing claims is still in the image: a file of its own, with the reason.
        loose = [file_component(f.path, f) for f in owners.unclaimed]
    else:
        loose = [file_component(path) for path in (system.unowned if system else ())]
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(
            timestamp=datetime.fromtimestamp(facts.created, tz=timezone.utc),
            component=subject,
            tools=ToolRepository(components=_tools(facts)),
        ),
        components=[python, *dists, *debs, *own, *loose],
    )
    bom.register_dependency(subject, [python, *dists, *debs, *own, *loose])
    for component in (python, *dists, *debs, *own, *loose):
        bom.register_dependency(component)
    if app is not None:
        # The binary is the app's code with CPython and the distributions compiled in.
        bom.register_dependency(app, [python, *compiled])
    return bom, files


def _tools(facts: SbomInput) -> list[Component]:
    pybin2img = PackageURL("pypi", None, "pybin2img", facts.tool_version)
    tools = [tool_component("pybin2img", facts.tool_version, pybin2img)]
    toolchain = facts.toolchain
    if toolchain is None:
        nuitka = PackageURL("pypi", None, "nuitka", facts.nuitka_version)
        tools.append(tool_component("nuitka", facts.nuitka_version, nuitka))
        if facts.compiler:
            tools.append(compiler_component(facts.compiler))
        return tools
    for tool in (toolchain.nuitka, *toolchain.programs):
        tools.append(toolchain_component(tool))
    return tools


def _unique(distributions: Iterable[PythonDistribution]) -> list[PythonDistribution]:
    seen: dict[str, PythonDistribution] = {}
    for dist in distributions:
        seen.setdefault(pypi_purl(dist.name, dist.version).to_string(), dist)
    return [seen[k] for k in sorted(seen)]


def _image_component(image: ImageSubject) -> Component:
    purl = None
    if image.digest:
        # purl's oci type names the image by digest; the repository and tag are qualifiers.
        qualifiers = {"repository_url": image.name}
        if image.tag:
            qualifiers["tag"] = image.tag
        purl = PackageURL("oci", None, image.name.rsplit("/", 1)[-1], image.digest, qualifiers)
    return Component(
        type=ComponentType.CONTAINER,
        name=image.name,
        version=image.tag,
        bom_ref="image",
        purl=purl,
    )
