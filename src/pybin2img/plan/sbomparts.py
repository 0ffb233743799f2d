"""The SBOM's CycloneDX components, one builder per kind of thing the image holds or was made
with: CPython, a Python distribution (``pkg:pypi``), a Debian package (``pkg:deb``), the app,
pybin2img's own files, the base image's, a file nothing claims, and the tools; with their
licenses, their files' JSON (``pybin2img:copy-of``, ``pybin2img:match``) and their evidence.
``sbom`` puts them together into the document.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from cyclonedx.contrib.license.exceptions import InvalidSpdxLicenseException
from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.exception.model import InvalidUriException
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    XsUri,
)
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.license import DisjunctiveLicense, License
from cyclonedx.spdx import is_expression
from packageurl import PackageURL

from ..dpkg import DebianPackage
from .installation import PythonDistribution
from .owners import ImageFile

if TYPE_CHECKING:
    from ..toolchain import Tool

_VERSION = re.compile(r"\d+(?:\.\d+)+")
#: Where the image's own SBOM is (as in :data:`~.packages.SBOM_PATH`), listed under
#: pybin2img's files without a hash: a document cannot hold its own.
_SBOM_IN_IMAGE = "/usr/share/pybin2img/sbom.cdx.json"
#: The property names of a copied file.
COPY_OF = "pybin2img:copy-of"
MATCH = "pybin2img:match"


def toolchain_component(tool: Tool) -> Component:
    purl = PackageURL.from_string(tool.purl) if tool.purl else None
    return Component(
        type=ComponentType.APPLICATION,
        name=tool.name,
        version=tool.version,
        description=tool.description,
        bom_ref=purl.to_string() if purl else f"tool:{tool.name}",
        purl=purl,
    )


def python_component(version: str, binary: str | None) -> Component:
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


def pypi_purl(name: str, version: str) -> PackageURL:
    # purl's pypi type wants the normalized name (lower case, dashes).
    return PackageURL("pypi", None, re.sub(r"[-_.]+", "-", name).lower(), version)


def pypi_component(dist: PythonDistribution, binary: str | None) -> Component:
    purl = pypi_purl(dist.name, dist.version)
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


def deb_component(
    package: DebianPackage, namespace: str, distro: str | None, *, listed: bool = True
) -> Component:
    """A Debian package; ``listed``: with the files asked about as its evidence (they are in
    the image at the same path), else without (:func:`_render` adds its files)."""
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
        evidence=_evidence(package.files if listed else ()),
    )


def app_component(binary: str | None) -> Component:
    return Component(
        type=ComponentType.APPLICATION,
        name=os.path.basename(binary) if binary else "app",
        description="the app: its code, with CPython and the Python distributions it imports, "
        "compiled by Nuitka into the binary; and its own data files",
        bom_ref="app",
    )


def generated_component() -> Component:
    return Component(
        type=ComponentType.DATA,
        name="pybin2img-generated",
        description="files pybin2img wrote: users and groups, name service configuration, "
        "the loader's cache, os-release, the dpkg records and this SBOM",
        bom_ref="generated",
        evidence=_evidence([_SBOM_IN_IMAGE]),
    )


def base_component(name: str) -> Component:
    return Component(
        type=ComponentType.CONTAINER,
        name=name,
        description="the base image (--base): its files, as its own SBOM describes them",
        bom_ref="base",
    )


def file_json(file: ImageFile, owner: str | None) -> dict[str, Any]:
    """A file's nested component: its image path and SHA-256, and for a copy what it is a copy
    of and how that was matched; a library a wheel bundles is a library (with the path as its
    evidence)."""
    bundled = file.bundled and owner is not None
    out: dict[str, Any] = {
        "type": "library" if bundled else "file",
        "bom-ref": f"file:{file.path}",
        "name": os.path.basename(file.path) if bundled else file.path,
    }
    if bundled:
        out["description"] = f"bundled with {owner}"
    out["hashes"] = [{"alg": HashAlgorithm.SHA_256.value, "content": file.sha256}]
    properties = [(COPY_OF, file.copy_of), (MATCH, file.match)]
    if any(value for _, value in properties):
        out["properties"] = [{"name": n, "value": v} for n, v in properties if v]
    if bundled:
        out["evidence"] = {"occurrences": [{"location": file.path}]}
    return out


def file_component(path: str, file: ImageFile | None = None) -> Component:
    reason = file.reason if file and file.reason else "no installed package owns it"
    return Component(
        type=ComponentType.FILE,
        name=path,
        description=f"claimed by no component: {reason}",
        bom_ref=f"file:{path}",
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=file.sha256)] if file else None,
        evidence=_evidence([path]),
    )


def tool_component(name: str, version: str, purl: PackageURL) -> Component:
    return Component(
        type=ComponentType.APPLICATION,
        name=name,
        version=version,
        bom_ref=purl.to_string(),
        purl=purl,
    )


def compiler_component(line: str) -> Component:
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
