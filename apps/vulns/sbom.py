"""Reading SBOMs: CycloneDX JSON 1.4-1.7 and SPDX JSON 2.2/2.3.

A document is reviewed against its official schema before anything is read
from it (``sbom_schema``): deviations in fields the portal does not read are
returned as warnings, as the tools users run write such documents; one in what
the portal reads refuses it. A refusal is a ``ValidationError`` on ``document``
that says what is wrong, where in the document (a JSON path) and how many places
share the problem. Nothing here touches the database; ``apps.catalog.evidence``
stores what this returns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from packageurl import PackageURL

from apps.catalog.formats.subject import (
    NOT_STATED,
    StatedSubject,
    cyclonedx_subject,
    spdx_described,
    spdx_subject,
)

from .osv import purl_package
from .sbom_schema import SPDX_SCHEMAS, SbomWarning, cyclonedx_review, spdx_review
from .source_package import (
    SourceHint,
    from_cyclonedx,
    from_spdx,
    from_upstream,
    tools_state_sources,
    with_epoch,
)

CYCLONEDX = "cyclonedx"
SPDX = "spdx"
CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6", "1.7")
SPDX_VERSIONS = SPDX_SCHEMAS
MEDIA_TYPES = {
    CYCLONEDX: "application/vnd.cyclonedx+json",
    SPDX: "application/spdx+json",
}
FORMAT_LABELS = {CYCLONEDX: "CycloneDX", SPDX: "SPDX"}

# Syft before 0.60 wrote Alpine packages as pkg:alpine/<name>; the purl spec's type
# is apk with the distro as namespace, which is what advisories are matched on.
LEGACY_PURL_TYPES = {"alpine": ("apk", "alpine")}
# Distro binaries whose vulnerabilities are filed under the source package.
SOURCE_PACKAGE_TYPES = frozenset({"deb", "apk", "rpm"})
# Column widths of apps.vulns.models.Component.
FIELD_LIMITS = {
    "type": 32,
    "namespace": 255,
    "name": 255,
    "version": 255,
    "source_name": 255,
    "source_version": 255,
    "distro": 64,
}
NO_LICENSE = frozenset({"", "NOASSERTION", "NONE"})


def refuse(message: str, code: str) -> ValidationError:
    """The one shape of a refused document, so forms and the API show it alike."""
    return ValidationError({"document": ValidationError(message, code=code)})


@dataclass(frozen=True)
class SbomComponent:
    """One package of an SBOM, named by its normalized package URL."""

    purl: str
    purl_sha256: str
    type: str
    namespace: str
    name: str
    version: str
    source_name: str
    distro: str
    licenses: tuple[str, ...] = ()
    # The version advisories' ranges are compared with, where it is not
    # ``version``: the source package's, or the binary's with its epoch.
    source_version: str = ""
    # False for a distro binary whose document said nothing of its source.
    source_known: bool = True
    # True when the document itself named the source (not inferred): such a
    # statement completes or corrects what an earlier SBOM left to inference.
    source_stated: bool = False
    # The hash this package URL had when qualifiers that do not identify the
    # package were kept in it ("" when it has none).
    former_sha256: str = ""


@dataclass(frozen=True)
class ParsedSbom:
    """What an SBOM says, once it has passed its schema."""

    format: str
    spec_version: str
    media_type: str
    components: tuple[SbomComponent, ...]
    entries: int
    without_purl: int
    summary: dict[str, Any] = field(default_factory=dict)
    # The image the document says it is about (metadata.component, or the
    # package an SPDX document describes).
    subject: StatedSubject = NOT_STATED
    # Deviations from the schema in fields the portal does not read, grouped.
    warnings: tuple[SbomWarning, ...] = ()


# --- Reading the bytes ----------------------------------------------------------


def document_json(content: bytes) -> Any:
    """Parse an evidence document, refusing oversize, non-UTF-8 and non-JSON input.

    The size is checked before a byte is parsed.
    """
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise refuse(
            f"The document is {len(content):,} bytes; the limit is {limit:,} bytes.",
            "too_large",
        )
    if not content.strip():
        raise refuse("The document is empty.", "invalid_json")
    if content.lstrip()[:1] == b"<":
        raise refuse(
            "This looks like XML; only JSON documents are accepted.", "unknown_format"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"The document is not UTF-8 text (byte {exc.start}).", "invalid_json"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise refuse(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            "invalid_json",
        ) from None
    except (RecursionError, ValueError) as exc:
        raise refuse(f"Not valid JSON: {exc}.", "invalid_json") from None


def _reject_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON has neither.
    raise ValueError(f"{name} is not a JSON value")


# --- Formats and schemas --------------------------------------------------------


def sbom_parse(content: bytes) -> ParsedSbom:
    """Detect the format, review it against its schema, read the components.

    Deviations from the schema in fields the portal does not read come back as
    ``warnings``; one in what it reads refuses the document (``sbom_schema``).
    """
    doc = document_json(content)
    if isinstance(doc, dict) and doc.get("bomFormat") == "CycloneDX":
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
        parsed = _read(_cyclonedx_read, doc, _cyclonedx_purls, "components")
        return replace(parsed, warnings=review.warnings)
    if isinstance(doc, dict) and "spdxVersion" in doc:
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
        parsed = _read(_spdx_read, doc, _spdx_package_purls, "packages")
        return replace(parsed, warnings=review.warnings)
    if isinstance(doc, dict) and _is_spdx_3(doc):
        raise refuse(
            "SPDX 3 (JSON-LD) is not supported; the portal reads SPDX 2.2 and "
            "2.3 JSON and CycloneDX JSON "
            f"{', '.join(CYCLONEDX_VERSIONS[:-1])} and {CYCLONEDX_VERSIONS[-1]}.",
            "unsupported_version",
        )
    if isinstance(doc, dict) and "SPDXID" in doc:
        raise refuse(
            'An SPDX document without "spdxVersion": the portal reads '
            f"{' and '.join(SPDX_VERSIONS)} JSON, which state it.",
            "unsupported_version",
        )
    raise refuse(
        "Not an SBOM this portal reads: expected CycloneDX JSON "
        '("bomFormat": "CycloneDX") or SPDX JSON ("spdxVersion").',
        "unknown_format",
    )


def _read(
    reader: Callable[[dict[str, Any]], ParsedSbom],
    doc: dict[str, Any],
    purls: Callable[[dict[str, Any]], Iterator[str]],
    noun: str,
) -> ParsedSbom:
    """Read the components; a refused purl says how many more are refused."""
    try:
        return reader(doc)
    except ValidationError as exc:
        error = exc.error_dict["document"][0]
        if error.code != "invalid_purl":
            raise
        sharing = sum(1 for purl in purls(doc) if not _purl_reads(purl))
        if sharing < 2:
            raise
        raise refuse(
            f"{error.message.rstrip('.')} ({sharing} {noun} share this problem).",
            "invalid_purl",
        ) from None


def _purl_reads(purl: str) -> bool:
    try:
        component_from_purl(purl)
    except ValidationError:
        return False
    return True


def _cyclonedx_purls(doc: dict[str, Any]) -> Iterator[str]:
    for _, item in _cyclonedx_components(doc):
        if item.get("purl"):
            yield item["purl"]


def _spdx_package_purls(doc: dict[str, Any]) -> Iterator[str]:
    for i, package in enumerate(doc.get("packages") or []):
        purl, _ = _spdx_purl(package, f"$.packages[{i}]")
        if purl:
            yield purl


def _is_spdx_3(doc: dict[str, Any]) -> bool:
    """SPDX 3 JSON-LD: its ``@context`` is spdx.org/rdf/3.x."""
    context = doc.get("@context")
    contexts = context if isinstance(context, list) else [context]
    return any(isinstance(c, str) and "spdx.org/rdf/3." in c for c in contexts)


# --- Package URLs ---------------------------------------------------------------


def component_from_purl(
    purl: str,
    *,
    licenses: Iterable[str] = (),
    where: str = "purl",
    source: SourceHint | None = None,
) -> SbomComponent:
    """Normalize a package URL into the component it names.

    ``where`` is the document path reported when the purl is refused;
    ``source`` is what the document says of a distro binary's source package
    outside the purl (properties, pedigree, sourceInfo), which wins over the
    purl's ``upstream`` qualifier.
    """
    component = _component(purl.strip(), source)
    if isinstance(component, str):
        raise refuse(f"{where}: {component}", "invalid_purl")
    kept = tuple(dict.fromkeys(lic for lic in licenses if lic not in NO_LICENSE))
    return replace(component, licenses=kept) if kept else component


# Qualifiers that say nothing of which package it is: Syft's source package
# (kept as the component's source) and bom-ref style ids.
NON_IDENTIFYING = frozenset({"upstream", "package-id"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A catalog's SBOMs name the same package versions again and again; parsing a
# package URL costs ~100 us, most of an SBOM's reading time.
PURL_CACHE_SIZE = 65_536


@lru_cache(maxsize=PURL_CACHE_SIZE)
def _component(purl: str, source: SourceHint | None) -> SbomComponent | str:
    """The component a purl names, or why it is refused (cached either way)."""
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError as exc:
        return f"not a package URL ({str(exc).rstrip('.')})."
    qualifiers: dict[str, str] = parsed.qualifiers or {}  # type: ignore[assignment]
    legacy = LEGACY_PURL_TYPES.get(parsed.type)
    if legacy and not parsed.namespace:
        parsed = PackageURL(
            type=legacy[0],
            namespace=legacy[1],
            name=parsed.name,
            version=parsed.version,
            qualifiers=qualifiers,
            subpath=parsed.subpath,
        )
    # The package's identity: Syft's ``upstream`` qualifier says where it came
    # from (read below), not which package it is, and Trivy's purl for the
    # same package lacks it; two SBOMs of one build must name one component.
    kept = {k: v for k, v in qualifiers.items() if k not in NON_IDENTIFYING}
    canonical = PackageURL(
        type=parsed.type,
        namespace=parsed.namespace,
        name=parsed.name,
        version=parsed.version,
        qualifiers=kept,
        subpath=parsed.subpath,
    ).to_string()
    # Rows stored before the qualifier was dropped are found by their old name.
    former = parsed.to_string() if len(kept) < len(qualifiers) else ""
    name = parsed.name
    version = parsed.version or ""
    match_version = version
    source_known = True
    distro = qualifiers.get("distro", "")
    if parsed.type in SOURCE_PACKAGE_TYPES:
        source = source or from_upstream(parsed.type, qualifiers.get("upstream", ""))
        source_known = source is not None
        source_name = source.name if source else name
        match_version = (source and source.version) or with_epoch(version, qualifiers)
        if parsed.type == "apk" and distro[:1].isdigit():
            # Trivy names an Alpine release by its number alone.
            distro = f"{parsed.namespace or 'alpine'}-{distro}"
    else:
        # Advisories name Go modules, npm scopes and Maven artifacts in full.
        source_name = purl_package(parsed.type, parsed.namespace or "", name)
    component = SbomComponent(
        purl=canonical,
        purl_sha256=_sha256(canonical),
        type=parsed.type,
        namespace=parsed.namespace or "",
        name=name,
        version=version,
        source_name=source_name,
        distro=distro,
        source_version="" if match_version == version else match_version,
        source_known=source_known,
        source_stated=source is not None,
        former_sha256=_sha256(former) if former else "",
    )
    for attr, limit in FIELD_LIMITS.items():
        if len(getattr(component, attr)) > limit:
            return f"the {attr.replace('_', ' ')} is longer than {limit} characters."
    return component


# --- CycloneDX ------------------------------------------------------------------


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
            source=from_cyclonedx(item) if _distro_purl(purl) else None,
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
    return _parsed(
        CYCLONEDX,
        doc["specVersion"],
        components,
        entries,
        without_purl,
        summary,
        cyclonedx_subject(doc),
    )


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


# --- SPDX -----------------------------------------------------------------------


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
            if _distro_purl(purl)
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
    return _parsed(
        SPDX, version, components, entries, without_purl, summary, spdx_subject(doc)
    )


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


def _distro_purl(purl: str) -> bool:
    return purl.lstrip().lower().startswith(_DISTRO_PURL_PREFIXES)


_DISTRO_PURL_PREFIXES = tuple(
    f"pkg:{t}/" for t in (*SOURCE_PACKAGE_TYPES, *LEGACY_PURL_TYPES)
)


def _sources_known(
    components: dict[str, SbomComponent], tools: list[str]
) -> dict[str, SbomComponent]:
    """Mark every distro binary's source known when the document states any.

    Tools write a binary's source only where it differs from the binary's
    name, so in a document that states some (or comes from a tool known to),
    a binary without one is its own source. A document stating none leaves
    its distro binaries matched by name only: partial coverage.
    """
    unknown = [c for c in components.values() if not c.source_known]
    if not unknown:
        return components
    stated = len(unknown) < sum(
        1 for c in components.values() if c.type in SOURCE_PACKAGE_TYPES
    )
    if stated or tools_state_sources(tools):
        for component in unknown:
            components[component.purl] = replace(component, source_known=True)
    return components


def _is_image(package: dict[str, Any], purl: str) -> bool:
    if package.get("primaryPackagePurpose") == "CONTAINER":
        return True
    return purl.startswith(("pkg:oci/", "pkg:docker/"))


def _parsed(
    fmt: str,
    version: str,
    components: dict[str, SbomComponent],
    entries: int,
    without_purl: int,
    summary: dict[str, Any],
    subject: StatedSubject,
) -> ParsedSbom:
    components = _sources_known(components, summary.get("tools") or [])
    summary |= {
        "components": entries,
        "components_with_purl": entries - without_purl,
        "components_without_purl": without_purl,
        "unique_purls": len(components),
        "source_unknown": sum(1 for c in components.values() if not c.source_known),
    }
    return ParsedSbom(
        format=fmt,
        spec_version=version,
        media_type=MEDIA_TYPES[fmt],
        components=tuple(components.values()),
        entries=entries,
        without_purl=without_purl,
        summary=summary,
        subject=subject,
    )
