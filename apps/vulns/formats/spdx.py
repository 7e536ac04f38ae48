"""SPDX SBOMs (JSON 2.2 and 2.3): the packages a document lists, apart from the
image it describes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from apps.catalog.formats.document import refuse
from apps.catalog.formats.subject import spdx_described, spdx_subject

from .sbom_parsed import (
    FORMAT_LABELS,
    SPDX,
    ParsedSbom,
    SbomComponent,
    component_from_purl,
    components_read,
    distro_purl,
    parsed_sbom,
)
from .sbom_schema import SPDX_SCHEMAS, spdx_review
from .source_package import from_spdx

SPDX_VERSIONS = SPDX_SCHEMAS


def spdx_parse(doc: dict[str, Any]) -> ParsedSbom:
    """An SPDX 2 document reviewed against its schema, then read."""
    version = doc["spdxVersion"]
    if not isinstance(version, str) or version not in SPDX_VERSIONS:
        raise refuse(
            f"{str(version)[:20]!r} is not supported; "
            f"use {' or '.join(SPDX_VERSIONS)} JSON.",
            "unsupported_version",
        )
    review = spdx_review(doc, version)
    if review.refusal:
        raise refuse(review.refusal, "schema")
    if "packages" not in doc:
        # Valid SPDX, but an SBOM that lists no packages says nothing of
        # what the image carries.
        raise refuse(
            f"Not an SBOM this portal reads: the {version.replace('-', ' ')} "
            'document has no "packages".',
            "schema",
        )
    parsed = components_read(_spdx_read, doc, _spdx_package_purls, "packages")
    return replace(parsed, warnings=review.warnings)


def _spdx_read(doc: dict[str, Any]) -> ParsedSbom:
    described = spdx_described(doc)
    entries = 0
    without_purl = 0
    subject: dict[str, str] = {}
    components: dict[str, SbomComponent] = {}
    for i, package in enumerate(doc.get("packages") or []):
        path = f"$.packages[{i}]"
        purl, purl_path = _spdx_purl(package, path)
        if package["SPDXID"] in described and _is_image(package, purl):
            # The image the SBOM is about, not something inside it.
            subject = {
                "name": package["name"],
                "version": package.get("versionInfo", ""),
            }
            if purl:
                subject["purl"] = purl
            continue
        entries += 1
        if not purl:
            without_purl += 1
            continue
        licenses = [
            package.get("licenseConcluded", ""),
            package.get("licenseDeclared", ""),
        ]
        component = component_from_purl(
            purl,
            licenses=licenses,
            where=purl_path,
            source=from_spdx(package, _spdx_purls(package))
            if distro_purl(purl)
            else None,
        )
        components.setdefault(component.purl, component)
    creation = doc["creationInfo"]
    summary = {
        "format": FORMAT_LABELS[SPDX],
        "spec_version": doc["spdxVersion"],
        "name": doc["name"],
        "document_namespace": doc.get("documentNamespace", ""),
        "created": creation["created"],
        "tools": list(creation["creators"]),
        "subject": subject,
    }
    version = doc["spdxVersion"].removeprefix("SPDX-")
    return parsed_sbom(
        SPDX, version, components, entries, without_purl, summary, spdx_subject(doc)
    )


def _spdx_package_purls(doc: dict[str, Any]) -> Iterator[str]:
    for i, package in enumerate(doc.get("packages") or []):
        purl, _ = _spdx_purl(package, f"$.packages[{i}]")
        if purl:
            yield purl


def _spdx_purl(package: dict[str, Any], path: str) -> tuple[str, str]:
    for j, ref in enumerate(package.get("externalRefs") or []):
        if ref["referenceType"] == "purl":
            return ref["referenceLocator"], f"{path}.externalRefs[{j}].referenceLocator"
    return "", ""


def _spdx_purls(package: dict[str, Any]) -> list[str]:
    return [
        ref["referenceLocator"]
        for ref in package.get("externalRefs") or ()
        if ref.get("referenceType") == "purl"
    ][1:]


def _is_image(package: dict[str, Any], purl: str) -> bool:
    if package.get("primaryPackagePurpose") == "CONTAINER":
        return True
    return purl.startswith(("pkg:oci/", "pkg:docker/"))


def is_spdx_3(doc: dict[str, Any]) -> bool:
    """SPDX 3 JSON-LD: its ``@context`` is spdx.org/rdf/3.x."""
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    return any(isinstance(c, str) and "spdx.org/rdf/3." in c for c in contexts)
