"""CycloneDX VEX: JSON 1.4 to 1.6 checked against the official schema (strict),
and XML read safely into the JSON shape; and the 1.6 documents the portal
exports. Analysis states and justifications are mapped to OpenVEX's, keeping
what does not map one to one in the status notes."""

from __future__ import annotations

import json
import re
import uuid
from collections import defaultdict
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import unquote

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET
from django.utils import timezone
from packageurl import PackageURL

from apps.catalog.formats.document import refuse
from apps.core.inputs import ascii_int

from .vex_parsed import (
    AUTHOR_MAX,
    DOCUMENT_ID_MAX,
    ExportStatement,
    ParsedDocument,
    ParsedStatement,
    canonical_product,
    checked_vuln_id,
    content_hash,
    document_version,
    format_time,
    keep_newest,
    parse_time,
    settle,
    unknown_format,
)

CYCLONEDX_VERSIONS = ("1.4", "1.5", "1.6")

CYCLONEDX_EXPORT_VERSION = "1.6"

CYCLONEDX_SCHEMA_URL = "http://cyclonedx.org/schema/bom-1.6.schema.json"

# CycloneDX analysis.state -> OpenVEX status.
CDX_STATE_TO_STATUS = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "exploitable": "affected",
    "resolved": "fixed",
    "resolved_with_pedigree": "fixed",
    "in_triage": "under_investigation",
}

STATUS_TO_CDX_STATE = {
    "not_affected": "not_affected",
    "affected": "exploitable",
    "fixed": "resolved",
    "under_investigation": "in_triage",
}

# CycloneDX analysis.justification -> the nearest OpenVEX justification.
# code_* map one to one. requires_configuration/_dependency/_environment all say
# "the vulnerable code is there but an attacker cannot reach the condition it
# needs", which is OpenVEX's vulnerable_code_cannot_be_controlled_by_adversary
# (a missing dependency is not component_not_present: the vulnerable component
# itself is present). protected_* all say a control outside the vulnerable code
# stops the attack: inline_mitigations_already_exist. Where the mapping is not
# one to one the original code is kept in the status notes.
CDX_JUSTIFICATION = {
    "code_not_present": "vulnerable_code_not_present",
    "code_not_reachable": "vulnerable_code_not_in_execute_path",
    "requires_configuration": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_dependency": "vulnerable_code_cannot_be_controlled_by_adversary",
    "requires_environment": "vulnerable_code_cannot_be_controlled_by_adversary",
    "protected_by_compiler": "inline_mitigations_already_exist",
    "protected_at_runtime": "inline_mitigations_already_exist",
    "protected_at_perimeter": "inline_mitigations_already_exist",
    "protected_by_mitigating_control": "inline_mitigations_already_exist",
}

# OpenVEX justification -> the CycloneDX code an export writes. Importing that
# code gives the justification back, except component_not_present, which
# CycloneDX cannot say (code_not_present is the nearest).
JUSTIFICATION_TO_CDX = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "requires_environment",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
}


@cache
def _cyclonedx_validator(spec_version: str) -> JsonStrictValidator:
    # Building one reads the schema: ~50 ms, so once per version.
    return JsonStrictValidator(SchemaVersion.from_version(spec_version))


def cyclonedx_schema_error(document: dict[str, Any], spec_version: str) -> str | None:
    """The first violation of the official CycloneDX schema (strict: no unknown
    properties), as ``<JSON path>: <what is wrong>``, or None."""
    error = _cyclonedx_validator(spec_version).validate_str(json.dumps(document))
    if error is None:
        return None
    detail = error.data
    message = getattr(detail, "message", str(detail))
    path = getattr(detail, "json_path", "$")
    return f"{path}: {message[:300]}"


def cyclonedx_vex_parse(data: dict[str, Any]) -> ParsedDocument:
    """A CycloneDX VEX (JSON, or XML already in the JSON shape), checked against
    the schema of its specVersion, its analyses read as statements."""
    spec_version = data.get("specVersion")
    if spec_version not in CYCLONEDX_VERSIONS:
        raise refuse(
            f"Unsupported CycloneDX specVersion {spec_version!r}: this portal reads "
            f"{', '.join(CYCLONEDX_VERSIONS)}.",
            "unsupported_version",
        )
    error = cyclonedx_schema_error(data, spec_version)
    if error:
        raise refuse(f"Not valid CycloneDX {spec_version}: {error}.", "schema")
    metadata = data.get("metadata") or {}
    issued_at = parse_time(metadata.get("timestamp"), "$.metadata.timestamp")
    default_time = issued_at or timezone.now()
    bom = _Bom(data, metadata)
    rows: dict[tuple[str, str, str], ParsedStatement] = {}
    stated = 0
    for i, vulnerability in enumerate(data.get("vulnerabilities") or []):
        if not vulnerability.get("analysis"):
            # A vulnerability without an analysis is a report, not a VEX
            # statement: nothing is said about exploitability.
            continue
        stated += 1
        for row in bom.statements(vulnerability, i, default_time):
            keep_newest(rows, row)
    if not rows:
        raise refuse(
            "This CycloneDX document carries no VEX analysis "
            "(vulnerabilities[].analysis): it is an SBOM or a vulnerability "
            "report, not VEX.",
            "not_vex",
        )
    # The serial number names the BOM across its versions (CycloneDX: a
    # modified BOM keeps it and increments ``version``).
    serial = data.get("serialNumber") or ""
    return ParsedDocument(
        format="cyclonedx",
        spec_version=spec_version,
        document_id=serial[:DOCUMENT_ID_MAX],
        author=_cdx_author(metadata)[:AUTHOR_MAX],
        issued_at=issued_at,
        version=document_version(data.get("version", 1)),
        raw=data,
        statements=list(rows.values()),
        statement_count=stated,
    )


class _Bom:
    """The components of one BOM that its vulnerabilities' ``affects`` name."""

    def __init__(self, data: dict[str, Any], metadata: dict[str, Any]):
        self.refs: dict[str, str] = {}  # bom-ref -> the identifier statements use
        self.subject = ""
        self.subject_ref = None
        if metadata.get("component"):
            self.subject = _cdx_component_id(metadata["component"])
            self.subject_ref = metadata["component"].get("bom-ref")
        for component in _cdx_components(data.get("components") or []):
            if component.get("bom-ref"):
                self.refs[component["bom-ref"]] = _cdx_component_id(component)

    def statements(
        self, vulnerability: dict[str, Any], i: int, default_time: datetime
    ) -> list[ParsedStatement]:
        """One statement per product and subcomponent the vulnerability names."""
        path = f"$.vulnerabilities[{i}]"
        analysis = vulnerability["analysis"]
        if not analysis.get("state"):
            raise refuse(f"{path}.analysis.state: the VEX state is missing.", "schema")
        vuln_id = checked_vuln_id(vulnerability.get("id"), f"{path}.id")
        timestamp = _cdx_timestamp(vulnerability, path) or default_time
        fields = _cdx_fields(vulnerability, analysis, where=path)
        return [
            ParsedStatement(
                vuln_id=vuln_id,
                product=canonical_product(product),
                subcomponent=subcomponent,
                timestamp=timestamp,
                index=i,
                **fields,
            )
            for product, subcomponent in self.targets(vulnerability, path)
        ]

    def targets(
        self, vulnerability: dict[str, Any], path: str
    ) -> list[tuple[str, str]]:
        """(product, subcomponent) pairs: the BOM's subject is the product; what
        affects[] names inside it is the subcomponent. Without a subject each
        target is a product."""
        targets = []
        for k, affect in enumerate(vulnerability.get("affects") or []):
            # The 1.4 schema's affects items have no "type": it lets 1 through.
            if not isinstance(affect, dict) or not isinstance(affect.get("ref"), str):
                raise refuse(f"{path}.affects[{k}]: needs a ref.", "schema")
            targets.append(_cdx_ref_target(affect["ref"], self.refs))
        if not targets and vulnerability.get("bom-ref") in self.refs:
            # JFrog Xray names the affected component by giving the
            # vulnerability the component's bom-ref instead of an affects list.
            targets.append(self.refs[vulnerability["bom-ref"]])
        if not targets and not self.subject:
            raise refuse(
                f"{path}.affects: names no product (no affects[] and no "
                "metadata.component).",
                "invalid_statement",
            )
        pairs = []
        for target in targets or [self.subject]:
            if not self.subject:
                pairs.append((target, ""))
            elif target in (self.subject, self.subject_ref):
                pairs.append((self.subject, ""))
            else:
                pairs.append((self.subject, target))
        return pairs


def _cdx_timestamp(vulnerability: dict[str, Any], path: str) -> datetime | None:
    """The statement's time: the analysis's, else the vulnerability's."""
    analysis = vulnerability["analysis"]
    for name, value in (
        ("analysis.lastUpdated", analysis.get("lastUpdated")),
        ("analysis.firstIssued", analysis.get("firstIssued")),
        ("updated", vulnerability.get("updated")),
        ("published", vulnerability.get("published")),
        ("created", vulnerability.get("created")),
    ):
        found = parse_time(value, f"{path}.{name}")
        if found:
            return found
    return None


def _cdx_components(components: list[dict[str, Any]]):
    for component in components:
        yield component
        yield from _cdx_components(component.get("components") or [])


def _cdx_component_id(component: dict[str, Any]) -> str:
    if component.get("purl"):
        return component["purl"]
    if component.get("bom-ref"):
        return component["bom-ref"]
    name = component.get("name", "")
    return f"{name}@{component['version']}" if component.get("version") else name


def _cdx_ref_target(ref: str, refs: dict[str, str]) -> str:
    # A BOM-Link (urn:cdx:<serial>/<version>#<bom-ref>, percent-encoded) names a
    # component of this or another BOM by its bom-ref; some tools write the
    # serial number form (urn:uuid:...#<bom-ref>) instead.
    fragment = ref
    if ref.startswith(("urn:cdx:", "urn:uuid:")) and "#" in ref:
        fragment = unquote(ref.split("#", 1)[1])
    return refs.get(fragment, refs.get(ref, fragment))


def _cdx_author(metadata: dict[str, Any]) -> str:
    names = [a.get("name", "") for a in metadata.get("authors") or [] if a.get("name")]
    if names:
        return ", ".join(names)
    for key in ("supplier", "manufacturer", "manufacture"):
        if (metadata.get(key) or {}).get("name"):
            return metadata[key]["name"]
    return ""


def _cdx_fields(
    vulnerability: dict[str, Any], analysis: dict[str, Any], *, where: str
) -> dict[str, str]:
    state = analysis["state"]
    status = CDX_STATE_TO_STATUS[state]
    code = analysis.get("justification") or ""
    detail = (analysis.get("detail") or "").strip()
    responses = analysis.get("response") or []
    recommendation = (vulnerability.get("recommendation") or "").strip()

    notes: list[str] = []
    if STATUS_TO_CDX_STATE[status] != state:
        notes.append(f"CycloneDX analysis state: {state}.")
    justification = ""
    if code:
        mapped = CDX_JUSTIFICATION[code]
        if status == "not_affected":
            justification = mapped
        if status != "not_affected" or JUSTIFICATION_TO_CDX[mapped] != code:
            notes.append(f"CycloneDX justification: {code}.")
    if responses:
        notes.append(f"CycloneDX response: {', '.join(responses)}.")

    impact = action = ""
    if status == "not_affected":
        if justification:
            notes.insert(0, detail)
        elif detail:
            impact = detail
        elif state == "false_positive":
            impact = "The vulnerability was reported in error (a false positive)."
    elif status == "affected":
        action = recommendation or detail
        if recommendation:
            notes.insert(0, detail)
        elif responses and not detail:
            action = f"Response: {', '.join(responses)}."
    else:
        notes.insert(0, detail)
    return settle(
        status=status,
        justification=justification,
        impact_statement=impact,
        action_statement=action,
        status_notes="\n".join(note for note in notes if note),
        where=where,
    )


_XML_NS_RE = re.compile(r"^\{http://cyclonedx\.org/schema/bom/(\d+\.\d+)\}bom$")


def cyclonedx_vex_xml_parse(content: bytes) -> ParsedDocument:
    """CycloneDX XML VEX, read with defusedxml (no DTDs, no entities: an XML
    bomb or an external entity is refused before anything expands) and turned
    into the JSON shape, which is then validated against the JSON schema. Only
    what VEX needs is carried over; other elements are ignored."""
    try:
        root = SafeET.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise refuse(
            "XML with a DTD or entity declarations is refused (it could be an "
            f"XML bomb or reach outside the document): {type(exc).__name__}.",
            "unsafe_xml",
        ) from None
    except SafeET.ParseError as exc:
        raise refuse(f"Invalid XML: {exc}.", "invalid_xml") from None
    match = _XML_NS_RE.match(root.tag)
    if not match:
        raise unknown_format(f"the XML root is {root.tag[:100]!r}, not a CycloneDX bom")
    ns = match.group(0)[1:].split("}")[0]
    return cyclonedx_vex_parse(_cyclonedx_xml_to_json(root, ns, match.group(1)))


def _cyclonedx_xml_to_json(root: Any, ns: str, spec_version: str) -> dict[str, Any]:
    xml = _CdxXml(ns)
    version = root.get("version", "1")
    bom: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": spec_version,
        "version": number if (number := ascii_int(version)) is not None else version,
    }
    if root.get("serialNumber"):
        bom["serialNumber"] = root.get("serialNumber")
    metadata = root.find(xml.q("metadata"))
    if metadata is not None:
        bom["metadata"] = xml.metadata(metadata)
    components = root.find(xml.q("components"))
    if components is not None:
        bom["components"] = [
            xml.component(c) for c in components.iter(xml.q("component"))
        ]
    vulnerabilities = [
        xml.vulnerability(element)
        for element in root.findall(xml.path("vulnerabilities", "vulnerability"))
    ]
    if vulnerabilities:
        bom["vulnerabilities"] = vulnerabilities
    return bom


class _CdxXml:
    """CycloneDX XML elements of one schema version, in the JSON shape. Only
    what VEX needs is carried over."""

    def __init__(self, ns: str):
        self.ns = ns

    def q(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"

    def path(self, *names: str) -> str:
        return "/".join(self.q(name) for name in names)

    def text(self, element: Any, name: str) -> str | None:
        child = element.find(self.q(name))
        if child is None or child.text is None:
            return None
        return child.text.strip()

    def texts(self, element: Any, names: tuple[str, ...]) -> dict[str, Any]:
        found = {name: self.text(element, name) for name in names}
        return {name: value for name, value in found.items() if value is not None}

    def component(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": element.get("type", "library")}
        if element.get("bom-ref"):
            out["bom-ref"] = element.get("bom-ref")
        out.update(self.texts(element, ("group", "name", "version", "purl")))
        out.setdefault("name", "")
        return out

    def metadata(self, metadata: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text(metadata, "timestamp"):
            out["timestamp"] = self.text(metadata, "timestamp")
        if metadata.find(self.q("component")) is not None:
            out["component"] = self.component(metadata.find(self.q("component")))
        authors = [
            {"name": self.text(a, "name")}
            for a in metadata.findall(self.path("authors", "author"))
            if self.text(a, "name")
        ]
        if authors:
            out["authors"] = authors
        return out

    def vulnerability(self, element: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if element.get("bom-ref"):
            out["bom-ref"] = element.get("bom-ref")
        out.update(
            self.texts(
                element, ("id", "recommendation", "created", "published", "updated")
            )
        )
        analysis = element.find(self.q("analysis"))
        if analysis is not None:
            out["analysis"] = self.analysis(analysis)
        affects = [
            {"ref": self.text(target, "ref") or ""}
            for target in element.findall(self.path("affects", "target"))
        ]
        if affects:
            out["affects"] = affects
        return out

    def analysis(self, analysis: Any) -> dict[str, Any]:
        out = self.texts(
            analysis,
            ("state", "justification", "detail", "firstIssued", "lastUpdated"),
        )
        responses = [
            r.text.strip()
            for r in analysis.findall(self.path("responses", "response"))
            if r.text
        ]
        if responses:
            out["response"] = responses
        return out


def _cdx_component(purl_or_ref: str, component_type: str = "library") -> dict:
    out: dict[str, Any] = {"type": component_type, "bom-ref": purl_or_ref}
    try:
        purl = PackageURL.from_string(purl_or_ref)
    except ValueError:
        out["name"] = purl_or_ref
        return out
    if purl.namespace:
        out["group"] = purl.namespace
    out["name"] = purl.name
    if purl.version:
        out["version"] = purl.version
    out["purl"] = purl_or_ref
    return out


def build_cyclonedx(
    *,
    statements: list[ExportStatement],
    subject: str,
    author: str,
    fallback_timestamp: datetime,
) -> dict[str, Any]:
    """A CycloneDX 1.6 VEX: the image is the BOM's subject, subcomponents are its
    components and each vulnerability's ``affects`` refers to them."""
    settled = [statement.exportable() for statement in statements]
    groups: dict[tuple, set[str]] = defaultdict(set)
    for statement in settled:
        groups[statement.content()].add(statement.subcomponent or subject)
    vulnerabilities = []
    for content in sorted(groups):
        vuln_id, timestamp, status, justification, impact, action, notes, _ = content
        analysis: dict[str, Any] = {"state": STATUS_TO_CDX_STATE[status]}
        if justification:
            analysis["justification"] = JUSTIFICATION_TO_CDX[justification]
        detail = impact if status == "not_affected" and impact else notes
        if detail:
            analysis["detail"] = detail
        analysis["lastUpdated"] = format_time(timestamp)
        vulnerability: dict[str, Any] = {"id": vuln_id, "analysis": analysis}
        if action:
            vulnerability["recommendation"] = action
        vulnerability["affects"] = [{"ref": ref} for ref in sorted(groups[content])]
        vulnerabilities.append(vulnerability)
    subcomponents = sorted(
        {
            s.subcomponent
            for s in settled
            if s.subcomponent and s.subcomponent != subject
        }
    )
    newest = max((s.timestamp for s in settled), default=fallback_timestamp)
    subject_component = _cdx_component(subject, "container")
    body: dict[str, Any] = {
        "metadata": {
            "timestamp": format_time(newest),
            "authors": [{"name": author}],
            "component": subject_component,
        },
        "components": [_cdx_component(sub) for sub in subcomponents],
        "vulnerabilities": vulnerabilities,
    }
    serial = uuid.uuid5(uuid.NAMESPACE_URL, f"{subject}#{content_hash(body)}")
    return {
        "$schema": CYCLONEDX_SCHEMA_URL,
        "bomFormat": "CycloneDX",
        "specVersion": CYCLONEDX_EXPORT_VERSION,
        "serialNumber": serial.urn,
        "version": 1,
        **body,
    }
