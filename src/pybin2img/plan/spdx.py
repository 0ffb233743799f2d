"""The build's SBOM as SPDX 2.3 JSON (``--sbom-format spdx``), from the same facts as the
CycloneDX one (:class:`~.sbom.SbomInput`).

The document is built with the SPDX project's own library (``spdx-tools``: its model, its
validator and its JSON writer), so what is written is valid SPDX 2.3. It describes the image
as a ``CONTAINER`` package that ``CONTAINS`` the CPython runtime, the Python distributions
(compiled into the binary or owning files of it), the Debian packages whose files were copied
from the build machine (each with its package URL, and the CPE for CPython), the app and
pybin2img's own files; each of those ``CONTAINS`` its files in the image (SPDX files with SHA-1
and SHA-256; a copy names its original in the file's comment). A file nothing claims is a
``FILE`` package of the image's. pybin2img, Nuitka, the C compiler, patchelf and strip are
``BUILD_TOOL_OF`` the image. Like the CycloneDX document it is deterministic: the timestamp is
``SOURCE_DATE_EPOCH`` and the document namespace is derived from the content.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from license_expression import ExpressionError
from packageurl import PackageURL
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.file import File
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.spdx_element_utils import calculate_package_verification_code
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from ..dpkg import DebianPackage
from ..toolchain import Tool
from .owners import ImageFile
from .sbom import PythonDistribution, SbomInput
from .sbomparts import COPY_OF, MATCH

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
    # The namespace is a URI of its own: where the placeholder was, nothing else changes.
    namespace = f"https://spdx.org/spdxdocs/pybin2img-{name}-{serial}"
    return draft.replace(json.dumps(_PLACEHOLDER).encode(), json.dumps(namespace).encode(), 1)


def _render(document: Document) -> bytes:
    stream = io.StringIO()
    # Validates against SPDX 2.3 first: an invalid document is a bug, not a user error.
    write_document_to_stream(document, stream, validate=True)
    parsed = json.loads(stream.getvalue())
    return (json.dumps(parsed, indent=2, ensure_ascii=False) + "\n").encode()


def _document(facts: SbomInput, namespace: str) -> Document:
    image = facts.image
    owners = facts.owners
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
    # (package, its files in the image)
    contents: list[tuple[Package, Sequence[ImageFile]]] = [
        (_python(facts.python_version), owners.python if owners else ())
    ]
    for dist in _unique(facts.distributions):
        contents.append((_distribution(dist), owners.pypi.get(dist.key, ()) if owners else ()))
    system = facts.system
    distro = system.distro if system else None
    for installed in system.packages if system else ():
        if owners is not None and installed.key not in owners.debian:
            continue
        deb_namespace = distro.id if distro else "debian"
        deb = _deb(installed, deb_namespace, distro.purl_distro if distro else None)
        contents.append((deb, owners.debian[installed.key] if owners else ()))
    if owners is not None:
        app = os.path.basename(facts.binary) if facts.binary else "app"
        contents.append((_own("SPDXRef-App", app, "the app, compiled by Nuitka"), owners.app))
        contents.append(
            (
                _own("SPDXRef-Generated", "pybin2img-generated", "files pybin2img wrote"),
                owners.generated,
            )
        )
        if owners.base:
            contents.append(
                (_own("SPDXRef-Base", facts.base or "base", "the base image"), owners.base)
            )
        loose: list[tuple[str, ImageFile | None]] = [(f.path, f) for f in owners.unclaimed]
    else:
        loose = [(path, None) for path in (system.unowned if system else ())]
    for number, (path, file) in enumerate(loose, start=1):
        reason = file.reason if file and file.reason else "no installed package owns it"
        contents.append(
            (
                Package(
                    spdx_id=f"SPDXRef-Unclaimed-{number}",
                    name=path,
                    download_location=SpdxNoAssertion(),
                    primary_package_purpose=PackagePurpose.FILE,
                    checksums=_checksums(file) if file else [],
                    comment=f"claimed by no component: {reason}",
                    files_analyzed=False,
                ),
                (),
            )
        )
    spdx_files: list[File] = []
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, subject.spdx_id)]
    packages: list[Package] = []
    for package, owned in contents:
        mine = [_file(f, len(spdx_files) + i) for i, f in enumerate(owned, start=1)]
        if mine:
            package.files_analyzed = True
            package.verification_code = calculate_package_verification_code(mine)
        spdx_files += mine
        packages.append(package)
        relationships.append(
            Relationship(subject.spdx_id, RelationshipType.CONTAINS, package.spdx_id)
        )
        relationships += [
            Relationship(package.spdx_id, RelationshipType.CONTAINS, f.spdx_id) for f in mine
        ]
    tools = [_tool("pybin2img", facts.tool_version)]
    if facts.toolchain is not None:
        tools += [_toolchain(t) for t in (facts.toolchain.nuitka, *facts.toolchain.programs)]
    else:
        tools.append(_tool("nuitka", facts.nuitka_version))
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
        packages=[subject, *packages, *tools],
        files=spdx_files,
        relationships=relationships,
    )


def _file(file: ImageFile, number: int) -> File:
    notes = []
    if file.copy_of:
        notes.append(f"{COPY_OF}: {file.copy_of}")
    if file.match:
        notes.append(f"{MATCH}: {file.match}")
    if file.bundled:
        notes.append("a library bundled with the distribution")
    return File(
        name="." + file.path,
        spdx_id=f"SPDXRef-File-{number}",
        checksums=_checksums(file),
        comment="; ".join(notes) or None,
    )


def _checksums(file: ImageFile) -> list[Checksum]:
    return [
        Checksum(ChecksumAlgorithm.SHA1, file.sha1),
        Checksum(ChecksumAlgorithm.SHA256, file.sha256),
    ]


def _own(spdx_id: str, name: str, description: str) -> Package:
    return Package(
        spdx_id=spdx_id,
        name=name,
        description=description,
        download_location=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.OTHER,
        files_analyzed=False,
    )


def _toolchain(tool: Tool) -> Package:
    return Package(
        spdx_id=_id("Tool", tool.name),
        name=tool.name,
        version=tool.version,
        description=tool.description,
        download_location=SpdxNoAssertion(),
        external_references=[
            ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", tool.purl)
        ]
        if tool.purl
        else [],
        primary_package_purpose=PackagePurpose.APPLICATION,
        files_analyzed=False,
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
