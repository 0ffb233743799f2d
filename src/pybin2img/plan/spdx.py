"""The build's SBOM as SPDX 2.3 JSON (``--sbom-format spdx``), from the same facts as the
CycloneDX one (:class:`~.sbom.SbomInput`).

The document is built with the SPDX project's own library (``spdx-tools``: its model, its
validator and its JSON writer), so what is written is valid SPDX 2.3. It describes the image
as a ``CONTAINER`` package that ``CONTAINS`` the CPython runtime, the Python distributions
compiled into the binary and the Debian packages whose files were copied from the build
machine (each with its package URL, and the CPE for CPython), and records pybin2img, Nuitka and
the C compiler as ``BUILD_TOOL_OF`` the image. Like the CycloneDX document it is deterministic:
the timestamp is ``SOURCE_DATE_EPOCH`` and the document namespace is derived from the content.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any

from license_expression import ExpressionError
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from .dpkg import DebianPackage
from .sbom import PythonDistribution, SbomInput

#: The document's media type (for an OCI artifact or a ``Content-Type``).
MEDIA_TYPE = "application/spdx+json"
SPEC_VERSION = "SPDX-2.3"
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:pybin2img:spdx")
_PLACEHOLDER = "https://spdx.org/spdxdocs/pybin2img-placeholder"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def spdx_document(facts: SbomInput) -> bytes:
    """The SPDX 2.3 JSON document for ``facts``: the same input always gives the same bytes."""
    draft = _render(_document(facts, _PLACEHOLDER))
    name = _ID_UNSAFE.sub("-", facts.image.name).strip("-") or "image"
    serial = uuid.uuid5(_NAMESPACE, hashlib.sha256(draft).hexdigest())
    return _render(_document(facts, f"https://spdx.org/spdxdocs/pybin2img-{name}-{serial}"))


def _render(document: Document) -> bytes:
    stream = io.StringIO()
    # Validates against SPDX 2.3 first: an invalid document is a bug, not a user error.
    write_document_to_stream(document, stream, validate=True)
    parsed = json.loads(stream.getvalue())
    return (json.dumps(parsed, indent=2, ensure_ascii=False) + "\n").encode()


def _document(facts: SbomInput, namespace: str) -> Document:
    image = facts.image
    subject = Package(
        spdx_id="SPDXRef-Image",
        name=image.name,
        version=image.tag,
        download_location=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.CONTAINER,
        external_references=[_purl(_oci_purl(image.name, image.tag, image.digest))]
        if image.digest
        else [],
        files_analyzed=False,
    )
    contents = [_python(facts.python_version)]
    contents += [_distribution(d) for d in _unique(facts.distributions)]
    system = facts.system
    distro = system.distro if system else None
    for package in system.packages if system else ():
        contents.append(
            _deb(package, distro.id if distro else "debian", distro.purl_distro if distro else None)
        )
    for number, path in enumerate(system.unowned if system else (), start=1):
        contents.append(
            Package(
                spdx_id=f"SPDXRef-File-{number}",
                name=path,
                download_location=SpdxNoAssertion(),
                primary_package_purpose=PackagePurpose.FILE,
                comment="copied from the build machine; no installed package owns it",
                files_analyzed=False,
            )
        )
    tools = [
        _tool("pybin2img", facts.tool_version),
        _tool("nuitka", facts.nuitka_version),
    ]
    if facts.compiler:
        versions = re.findall(r"\d+(?:\.\d+)+", facts.compiler)
        tools.append(
            Package(
                spdx_id="SPDXRef-Tool-compiler",
                name=facts.compiler.split()[0],
                version=versions[-1] if versions else None,
                description=facts.compiler,
                download_location=SpdxNoAssertion(),
                primary_package_purpose=PackagePurpose.APPLICATION,
                files_analyzed=False,
            )
        )
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, subject.spdx_id)]
    relationships += [
        Relationship(subject.spdx_id, RelationshipType.CONTAINS, p.spdx_id) for p in contents
    ]
    relationships += [
        Relationship(t.spdx_id, RelationshipType.BUILD_TOOL_OF, subject.spdx_id) for t in tools
    ]
    return Document(
        creation_info=CreationInfo(
            spdx_version=SPEC_VERSION,
            spdx_id="SPDXRef-DOCUMENT",
            name=f"{image.name}:{image.tag}" if image.tag else image.name,
            document_namespace=namespace,
            creators=[Actor(ActorType.TOOL, f"pybin2img-{facts.tool_version}")],
            created=datetime.fromtimestamp(facts.created, tz=timezone.utc).replace(tzinfo=None),
        ),
        packages=[subject, *contents, *tools],
        relationships=relationships,
    )


def _python(version: str) -> Package:
    return Package(
        spdx_id="SPDXRef-Python",
        name="python",
        version=version,
        description="CPython, compiled into the binary by Nuitka",
        download_location=SpdxNoAssertion(),
        license_declared=spdx_licensing.parse("PSF-2.0"),
        external_references=[
            _purl(PackageURL("generic", None, "python", version)),
            ExternalPackageRef(
                ExternalPackageRefCategory.SECURITY,
                "cpe23Type",
                f"cpe:2.3:a:python:python:{version}:*:*:*:*:*:*:*",
            ),
        ],
        primary_package_purpose=PackagePurpose.LIBRARY,
        files_analyzed=False,
    )


def _distribution(dist: PythonDistribution) -> Package:
    name = re.sub(r"[-_.]+", "-", dist.name).lower()
    declared, comment = _license(dist.licenses)
    return Package(
        spdx_id=_id("PyPI", name, dist.version),
        name=dist.name,
        version=dist.version,
        summary=dist.summary,
        homepage=dist.homepage,
        download_location=SpdxNoAssertion(),
        license_declared=declared,
        license_comment=comment,
        external_references=[_purl(PackageURL("pypi", None, name, dist.version))],
        primary_package_purpose=PackagePurpose.LIBRARY,
        files_analyzed=False,
    )


def _deb(package: DebianPackage, namespace: str, distro: str | None) -> Package:
    qualifiers = {"arch": package.architecture}
    if distro:
        qualifiers["distro"] = distro
    declared, comment = _license(package.licenses)
    return Package(
        spdx_id=_id("Deb", package.name, package.architecture),
        name=package.name,
        version=package.version,
        source_info=f"built from the source package {package.source}"
        + (f" {package.source_version}" if package.source_version else ""),
        download_location=SpdxNoAssertion(),
        license_declared=declared,
        license_comment=comment,
        external_references=[
            _purl(PackageURL("deb", namespace, package.name, package.version, qualifiers))
        ],
        primary_package_purpose=PackagePurpose.LIBRARY,
        files_analyzed=False,
    )


def _tool(name: str, version: str) -> Package:
    return Package(
        spdx_id=_id("Tool", name),
        name=name,
        version=version,
        download_location=SpdxNoAssertion(),
        external_references=[_purl(PackageURL("pypi", None, name, version))],
        primary_package_purpose=PackagePurpose.APPLICATION,
        files_analyzed=False,
    )


def _license(values: tuple[str, ...]) -> tuple[Any, str | None]:
    """An SPDX expression when the metadata is one; otherwise NOASSERTION, with the names the
    metadata gives in the license comment."""
    if not values:
        return None, None
    text = " AND ".join(f"({v})" if len(values) > 1 else v for v in values)
    try:
        if not spdx_licensing.validate(text).errors:
            return spdx_licensing.parse(text), None
    except ExpressionError:
        pass
    return SpdxNoAssertion(), "declared in the package metadata as: " + "; ".join(values)


def _purl(purl: PackageURL) -> ExternalPackageRef:
    return ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", purl.to_string())


def _oci_purl(name: str, tag: str | None, digest: str) -> PackageURL:
    qualifiers = {"repository_url": name}
    if tag:
        qualifiers["tag"] = tag
    return PackageURL("oci", None, name.rsplit("/", 1)[-1], digest, qualifiers)


def _id(*parts: str) -> str:
    return "SPDXRef-" + "-".join(_ID_UNSAFE.sub("-", p).strip("-") for p in parts if p)


def _unique(distributions: Any) -> list[PythonDistribution]:
    seen: dict[tuple[str, str], PythonDistribution] = {}
    for dist in distributions:
        seen.setdefault((re.sub(r"[-_.]+", "-", dist.name).lower(), dist.version), dist)
    return [seen[k] for k in sorted(seen)]
