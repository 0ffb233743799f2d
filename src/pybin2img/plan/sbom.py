"""The build's software bill of materials: a CycloneDX 1.6 JSON document.

:func:`sbom_document` lists what the image holds and how it was made: the Python distributions
compiled into the binary, the CPython runtime, every Debian package whose files were copied
from the build machine (with the files, as evidence), and as tools pybin2img, Nuitka and the C
compiler. Package URLs let scanners match each component: ``pkg:pypi/flask@3.1.3``,
``pkg:deb/debian/libc6@2.36-9+deb12u14?arch=amd64&distro=debian-12&upstream=glibc``.

The document is deterministic: components are sorted, the timestamp is
``SOURCE_DATE_EPOCH`` and the serial number is derived from the content, so identical builds
give identical bytes. :func:`python_distributions` and :func:`compiler_version` gather the
inputs that only another program can tell; :func:`sbom_maker` gathers them for a build.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from cyclonedx.contrib.license.exceptions import InvalidSpdxLicenseException
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import ExternalReference, ExternalReferenceType, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.license import DisjunctiveLicense, License
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import is_expression
from packageurl import PackageURL

from .. import __version__
from ..errors import CompileError
from .dpkg import DebianPackage, SystemPackages
from .planner import APP_DIR

if TYPE_CHECKING:
    from ..compile.nuitka import CompileResult
    from ..reference import ImageReference

#: The CycloneDX version written: the newest that trivy, grype/syft and Dependency-Track read.
SPEC_VERSION = "1.6"
#: The document's media type (for an OCI artifact or a ``Content-Type``).
MEDIA_TYPE = "application/vnd.cyclonedx+json"

# Serial numbers are name-based UUIDs (version 5) in a namespace of pybin2img's own.
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pybin2img:sbom")
_PLACEHOLDER_SERIAL = uuid.UUID(int=0)
_VERSION = re.compile(r"\d+(?:\.\d+)+")
_LEADING_KEYS = ("$schema", "bomFormat", "specVersion", "serialNumber", "version")
_NOT_A_LICENSE = frozenset({"", "unknown", "none", "n/a", "other/proprietary license"})

# Runs under the build interpreter: the metadata of its installed distributions, the first
# one on sys.path winning for each name (the one ``import`` and so Nuitka found).
_PROBE = r"""
import json, re, sys
from importlib.metadata import distributions
asked = json.loads(sys.argv[1])
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
wanted = None if asked is None else {norm(n) for n in asked}
out = {}
for dist in distributions():
    meta = dist.metadata
    name = meta.get("Name")
    if not name or norm(name) in out or (wanted is not None and norm(name) not in wanted):
        continue
    out[norm(name)] = {
        "name": name,
        "version": dist.version,
        "license_expression": meta.get("License-Expression"),
        "license": meta.get("License"),
        "classifiers": [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")],
        "summary": meta.get("Summary"),
        "home_page": meta.get("Home-page"),
        "project_urls": meta.get_all("Project-URL") or [],
    }
print(json.dumps(out))
"""


@dataclass(frozen=True, kw_only=True)
class PythonDistribution:
    """A Python distribution whose modules are compiled into the binary."""

    name: str
    version: str
    #: SPDX ids or expressions, or license names where the metadata has no SPDX form.
    licenses: tuple[str, ...] = ()
    summary: str | None = None
    #: The project's home page, from ``Home-page`` or a ``Homepage``/``Source`` Project-URL.
    homepage: str | None = None


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
    #: First line of the C compiler's ``--version`` (``gcc (Debian 12.2.0-14) 12.2.0``).
    compiler: str | None = None
    distributions: Sequence[PythonDistribution] = ()
    system: SystemPackages | None = None
    #: Image path of the compiled binary, recorded as where the Python components are.
    binary: str | None = None
    tool_version: str = __version__


def sbom_document(facts: SbomInput) -> bytes:
    """The CycloneDX JSON document for ``facts``: the same input always gives the same bytes."""
    bom = _bom(facts, _PLACEHOLDER_SERIAL)
    # The serial number names this content: a hash of the document without it, so that a
    # rebuild with the same inputs repeats it and any change gives a new one.
    digest = hashlib.sha256(_render(bom)).hexdigest()
    return _render(_bom(facts, uuid.uuid5(_NAMESPACE, digest)))


#: ``--sbom-format`` -> the SBOM file's suffix.
SBOM_SUFFIXES = {"cyclonedx": ".sbom.cdx.json", "spdx": ".sbom.spdx.json"}


def sbom_path(tarball: Path, sbom_format: str = "cyclonedx") -> Path:
    """The SBOM written next to the tarball: ``app.tar`` -> ``app.sbom.cdx.json`` (or
    ``app.sbom.spdx.json``)."""
    return tarball.with_name(tarball.name.removesuffix(".tar") + SBOM_SUFFIXES[sbom_format])


def sbom_maker(
    reference: ImageReference, compiled: CompileResult, epoch: int
) -> Callable[..., bytes]:
    """A function making the build's SBOM from the packages found while planning, with the
    image's digest when it is known (the copy next to the tarball) or without (in the image),
    as CycloneDX or (``sbom_format="spdx"``) SPDX 2.3.

    The metadata of the compiled distributions is read here, once, with the build interpreter.
    """
    versions = dict(compiled_distributions(compiled))
    distributions = tuple(
        d
        for d in python_distributions(compiled.interpreter.executable, versions)
        if d.version == versions.get(d.name, d.version)
    )
    compiler = compiler_version()

    def make(
        packages: SystemPackages | None, digest: str | None, sbom_format: str = "cyclonedx"
    ) -> bytes:
        write = sbom_document
        if sbom_format == "spdx":
            from .spdx import spdx_document as write  # spdx-tools takes seconds to import
        return write(
            SbomInput(
                image=ImageSubject(name=reference.repository, tag=reference.tag, digest=digest),
                created=epoch,
                python_version=compiled.interpreter.python_version,
                nuitka_version=compiled.interpreter.nuitka_version,
                compiler=compiler,
                distributions=distributions,
                system=packages,
                binary=f"{APP_DIR}/{compiled.binary.name}",
            )
        )

    return make


def compiled_distributions(compiled: CompileResult) -> tuple[tuple[str, str], ...]:
    """The installed distributions (with versions) whose modules Nuitka compiled in."""

    def normal(name: str) -> str:  # PEP 503
        return re.sub(r"[-_.]+", "-", name).lower()

    versions = {normal(name): version for name, version in compiled.interpreter.distributions}
    return tuple(
        (name, versions.get(normal(name), "unknown")) for name in sorted(compiled.distributions)
    )


def python_distributions(
    python: Path, names: Iterable[str] | None = None
) -> tuple[PythonDistribution, ...]:
    """Read the metadata of ``names`` (every installed distribution if ``None``) with ``python``.

    Names are matched as pip matches them (case, ``-``, ``_`` and ``.`` alike); names that are
    not installed are left out. Sorted by normalized name.
    """
    asked = None if names is None else sorted(set(names))
    try:
        proc = subprocess.run(
            [str(python), "-I", "-c", _PROBE, json.dumps(asked)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"cannot read distribution metadata with {python}: {exc}") from exc
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise CompileError(f"reading distribution metadata with {python} failed: {last}")
    found: dict[str, dict[str, object]] = json.loads(proc.stdout)
    return tuple(_distribution(found[key]) for key in sorted(found))


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


# --- metadata -----------------------------------------------------------------------------


def _distribution(meta: dict[str, object]) -> PythonDistribution:
    def text(key: str) -> str | None:
        value = meta.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    def texts(key: str) -> list[str]:
        value = meta.get(key)
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

    return PythonDistribution(
        name=text("name") or "",
        version=text("version") or "",
        licenses=_declared_licenses(
            text("license_expression"), text("license"), texts("classifiers")
        ),
        summary=text("summary"),
        homepage=_homepage(text("home_page"), texts("project_urls")),
    )


def _declared_licenses(
    expression: str | None, field: str | None, classifiers: Sequence[str]
) -> tuple[str, ...]:
    # PEP 639's License-Expression is SPDX by definition; the older License field is often a
    # whole license text, which names nothing: then the trove classifiers are the best hint.
    if expression:
        return (expression,)
    if field and "\n" not in field and len(field) <= 100 and field.lower() not in _NOT_A_LICENSE:
        return (field,)
    names = {c.split("::")[-1].strip() for c in classifiers}
    return tuple(sorted(n for n in names if n.lower() not in _NOT_A_LICENSE | {"osi approved"}))


def _homepage(home_page: str | None, project_urls: Sequence[str]) -> str | None:
    if home_page and home_page.upper() != "UNKNOWN":
        return home_page
    urls: dict[str, str] = {}
    for entry in project_urls:
        label, _, url = entry.partition(",")
        urls.setdefault(label.strip().lower().replace("-", "").replace("_", ""), url.strip())
    return next((urls[k] for k in ("homepage", "home", "source", "repository") if k in urls), None)


# --- the document -------------------------------------------------------------------------


def _render(bom: Bom) -> bytes:
    # The library keeps every collection sorted, so equal content gives equal text. It appends
    # the format keys last; readers (and people) expect them first, as the spec's examples do.
    document = json.loads(JsonV1Dot6(bom).output_as_string())
    # Except occurrences: sorted by a key that is not their location, which changes from run to
    # run. Put them in path order.
    for component in document.get("components", []):
        occurrences = component.get("evidence", {}).get("occurrences")
        if occurrences:
            occurrences.sort(key=lambda o: o.get("location", ""))
    first = {key: document.pop(key) for key in _LEADING_KEYS if key in document}
    return (json.dumps({**first, **document}, indent=2, ensure_ascii=False) + "\n").encode()


def _bom(facts: SbomInput, serial: uuid.UUID) -> Bom:
    subject = _image_component(facts.image)
    python = _python_component(facts.python_version, facts.binary)
    dists = [_pypi_component(d, facts.binary) for d in _unique(facts.distributions)]
    system = facts.system
    distro = system.distro if system else None
    debs = [
        _deb_component(p, distro.id if distro else "debian", distro.purl_distro if distro else None)
        for p in (system.packages if system else ())
    ]
    # Files copied from the build machine that no package owns are still in the image.
    loose = [_file_component(path) for path in (system.unowned if system else ())]
    tools = [
        _tool(
            "pybin2img",
            facts.tool_version,
            PackageURL("pypi", None, "pybin2img", facts.tool_version),
        ),
        _tool(
            "nuitka", facts.nuitka_version, PackageURL("pypi", None, "nuitka", facts.nuitka_version)
        ),
    ]
    if facts.compiler:
        tools.append(_compiler_component(facts.compiler))
    bom = Bom(
        serial_number=serial,
        metadata=BomMetaData(
            timestamp=datetime.fromtimestamp(facts.created, tz=timezone.utc),
            component=subject,
            tools=ToolRepository(components=tools),
        ),
        components=[python, *dists, *debs, *loose],
    )
    bom.register_dependency(subject, [python, *dists, *debs, *loose])
    for component in (python, *dists, *debs, *loose):
        bom.register_dependency(component)
    return bom


def _unique(distributions: Iterable[PythonDistribution]) -> list[PythonDistribution]:
    seen: dict[str, PythonDistribution] = {}
    for dist in distributions:
        seen.setdefault(_pypi_purl(dist.name, dist.version).to_string(), dist)
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


def _python_component(version: str, binary: str | None) -> Component:
    purl = PackageURL("generic", None, "python", version)
    return Component(
        type=ComponentType.PLATFORM,
        name="python",
        version=version,
        description="CPython, compiled into the binary by Nuitka",
        bom_ref=purl.to_string(),
        purl=purl,
        # The CPE NVD files CPython's vulnerabilities under.
        cpe=f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*",
        licenses=[DisjunctiveLicense(id="PSF-2.0")],
        evidence=_evidence([binary] if binary else []),
    )


def _pypi_purl(name: str, version: str) -> PackageURL:
    # purl's pypi type wants the normalized name (lower case, dashes).
    return PackageURL("pypi", None, re.sub(r"[-_.]+", "-", name).lower(), version)


def _pypi_component(dist: PythonDistribution, binary: str | None) -> Component:
    purl = _pypi_purl(dist.name, dist.version)
    refs = []
    if dist.homepage:
        # A malformed URL in someone's metadata is no reason to fail the build.
        with contextlib.suppress(InvalidUriException):
            refs.append(
                ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(dist.homepage))
            )
    return Component(
        type=ComponentType.LIBRARY,
        name=dist.name,
        version=dist.version,
        description=dist.summary,
        bom_ref=purl.to_string(),
        purl=purl,
        licenses=_licenses(dist.licenses),
        external_references=refs,
        evidence=_evidence([binary] if binary else []),
    )


def _deb_component(package: DebianPackage, namespace: str, distro: str | None) -> Component:
    qualifiers = {"arch": package.architecture}
    if distro:
        qualifiers["distro"] = distro
    if package.source != package.name or package.source_version:
        # Not in the purl spec, but how grype finds advisories filed against the source package.
        qualifiers["upstream"] = (
            f"{package.source}@{package.source_version}"
            if package.source_version
            else package.source
        )
    purl = PackageURL("deb", namespace, package.name, package.version, qualifiers)
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        bom_ref=purl.to_string(),
        purl=purl,
        licenses=_licenses(package.licenses),
        evidence=_evidence(package.files),
    )


def _file_component(path: str) -> Component:
    return Component(
        type=ComponentType.FILE,
        name=path,
        description="copied from the build machine; no installed package owns it",
        bom_ref=f"file:{path}",
        evidence=_evidence([path]),
    )


def _tool(name: str, version: str, purl: PackageURL) -> Component:
    return Component(
        type=ComponentType.APPLICATION,
        name=name,
        version=version,
        bom_ref=purl.to_string(),
        purl=purl,
    )


def _compiler_component(line: str) -> Component:
    versions = _VERSION.findall(line)
    words = line.split()
    name = next((w for w in words if w.lower() in ("gcc", "clang", "cc")), words[0])
    return Component(
        type=ComponentType.APPLICATION,
        name=name,
        version=versions[-1] if versions else None,
        description=line,
        bom_ref=f"compiler:{name}",
    )


def _licenses(values: Sequence[str]) -> list[License]:
    factory = LicenseFactory()
    if len(values) == 1 and is_expression(values[0]):
        # One SPDX id or expression: written as such. Several values are listed one by one,
        # since CycloneDX allows one expression or a list of licenses, never both.
        return [factory.make_from_string(values[0])]
    out: list[License] = []
    for value in values:
        try:
            out.append(factory.make_with_id(value))
        except InvalidSpdxLicenseException:
            out.append(factory.make_with_name(value))
    return out


def _evidence(paths: Iterable[str]) -> ComponentEvidence | None:
    locations = sorted(set(paths))
    if not locations:
        return None
    return ComponentEvidence(occurrences=[Occurrence(location=p) for p in locations])
