"""CycloneDX SBOMs (JSON 1.4 to 1.7): the components a document lists, nested
ones included, with their licenses and the tools that wrote it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from apps.catalog.formats.document import refuse
from apps.catalog.formats.subject import cyclonedx_subject

from .sbom_parsed import (
    CYCLONEDX,
    FORMAT_LABELS,
    ParsedSbom,
    SbomComponent,
    component_from_purl,
    components_read,
    distro_purl,
    parsed_sbom,
)
from .sbom_schema import cyclonedx_review
from .source_package import from_cyclonedx

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6", "1.7")


def cyclonedx_parse(doc: dict[str, Any]) -> ParsedSbom:
    """A CycloneDX document reviewed against its schema, then read."""
    version = doc.get("specVersion")
    if not isinstance(version, str) or version not in CYCLONEDX_VERSIONS:
        raise refuse(
            f"CycloneDX {str(version)[:20]!r} is not supported; "
            f"use CycloneDX {', '.join(CYCLONEDX_VERSIONS[:-1])} or "
            f"{CYCLONEDX_VERSIONS[-1]}.",
            "unsupported_version",
        )
    review = cyclonedx_review(doc, version)
    if review.refusal:
        raise refuse(review.refusal, "schema")
    parsed = components_read(_cyclonedx_read, doc, _cyclonedx_purls, "components")
    return replace(parsed, warnings=review.warnings)


def _cyclonedx_read(doc: dict[str, Any]) -> ParsedSbom:
    entries = 0
    without_purl = 0
    components: dict[str, SbomComponent] = {}
    for path, item in _cyclonedx_components(doc):
        entries += 1
        purl = item.get("purl")
        if not purl:
            without_purl += 1
            continue
        component = component_from_purl(
            purl,
            licenses=_cyclonedx_licenses(item),
            where=f"{path}.purl",
            source=from_cyclonedx(item) if distro_purl(purl) else None,
        )
        components.setdefault(component.purl, component)
    metadata = doc.get("metadata") or {}
    subject = metadata.get("component") or {}
    summary = {
        "format": FORMAT_LABELS[CYCLONEDX],
        "spec_version": doc["specVersion"],
        "serial_number": doc.get("serialNumber", ""),
        "created": metadata.get("timestamp", ""),
        "tools": _cyclonedx_tools(metadata.get("tools")),
        "subject": {
            key: subject[key]
            for key in ("type", "name", "version", "purl")
            if isinstance(subject.get(key), str)
        },
    }
    return parsed_sbom(
        CYCLONEDX,
        doc["specVersion"],
        components,
        entries,
        without_purl,
        summary,
        cyclonedx_subject(doc),
    )


def _cyclonedx_purls(doc: dict[str, Any]) -> Iterator[str]:
    for _, item in _cyclonedx_components(doc):
        if item.get("purl"):
            yield item["purl"]


# Real images nest components a few levels (an archive inside an archive); far
# deeper nesting is a malformed or hostile document.
MAX_COMPONENT_DEPTH = 32


def _cyclonedx_components(doc: dict[str, Any]) -> Iterator[tuple[str, dict]]:
    """Every component, nested ones included, in document order, with its path."""
    stack = [
        (f"$.components[{i}]", item, 1)
        for i, item in enumerate(doc.get("components") or [])
    ]
    stack.reverse()
    while stack:
        path, item, depth = stack.pop()
        if depth > MAX_COMPONENT_DEPTH:
            raise refuse(
                f"Components nest deeper than {MAX_COMPONENT_DEPTH} levels at {path}.",
                "schema",
            )
        yield path, item
        children = [
            (f"{path}.components[{i}]", child, depth + 1)
            for i, child in enumerate(item.get("components") or [])
        ]
        stack.extend(reversed(children))


def _cyclonedx_licenses(item: dict[str, Any]) -> list[str]:
    found = []
    for choice in item.get("licenses") or []:
        if "expression" in choice:
            found.append(choice["expression"])
        elif "license" in choice:
            license_ = choice["license"]
            found.append(license_.get("id") or license_.get("name") or "")
    return found


def _cyclonedx_tools(tools: Any) -> list[str]:
    # 1.4 lists tools; 1.5 and later may name them as components and services.
    if isinstance(tools, dict):
        tools = [*tools.get("components", []), *tools.get("services", [])]
    names = []
    for tool in tools or []:
        vendor = tool.get("vendor") or (tool.get("group") or "")
        words = [vendor, tool.get("name", ""), tool.get("version", "")]
        names.append(" ".join(word for word in words if isinstance(word, str) and word))
    return names
