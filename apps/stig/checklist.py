"""DISA STIG Viewer checklists: .ckl (STIG Viewer 2.x XML) and .cklb (STIG Viewer 3
JSON), read and written.

A ``Checklist`` holds what either format says: the asset (the target), one or more
STIGs, and one entry per rule with its status, finding details and comments. The
readers refuse what they cannot read with a ``ValidationError({"document": ...})``
that names the line (XML) or the rule; XML is parsed without DTDs, entities or
network access, and a document declaring entities is refused outright.

Only what a checklist holds is here; ``checklist_from_scan`` builds one from a stored
scan (the models are imported inside it), and the STIG importer turns a checklist
into a ``ParsedScan`` with ``ckl_parse`` / ``cklb_parse``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from lxml import etree

from apps.catalog.formats.subject import scan_target_subject

from .parsed import STATUS_RESULT, ParsedRule, ParsedScan, status_for

# The first line after the XML declaration: the format marker STIG Viewer 2.x
# writes, and which other tools writing its format (Evaluate-STIG) write too.
CKL_COMMENT = "DISA STIG Viewer :: 2.17"
CKLB_VERSION = "1.0"

CKL_STATUSES = ("NotAFinding", "Open", "Not_Applicable", "Not_Reviewed")
# STIG Viewer 3 writes the same four statuses in snake case.
CKLB_STATUS = {
    "NotAFinding": "not_a_finding",
    "Open": "open",
    "Not_Applicable": "not_applicable",
    "Not_Reviewed": "not_reviewed",
}
CKL_STATUS = {v: k for k, v in CKLB_STATUS.items()}
SEVERITIES = ("high", "medium", "low", "unknown")

# Names for the identifiers a checklist needs and a scan does not have: the same
# scan exports the same ids, so the same evidence gives the same file.
_ID_NAMESPACE = uuid.UUID("0f6c2a64-5d1e-4c55-9d3c-3b1c8a4e7f21")
# Entity expansion (billion laughs) and external entities: a checklist never
# needs them, so a document declaring any is refused before it is parsed.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
_ENTITIES_REFUSED = "The checklist declares XML entities in its DOCTYPE; refused."
_NOT_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclasses.dataclass
class Asset:
    """The target the checklist is about (ckl ASSET, cklb target_data)."""

    role: str = "None"
    asset_type: str = "Computing"
    marking: str = ""
    host_name: str = ""
    host_ip: str = ""
    host_mac: str = ""
    host_fqdn: str = ""
    target_comment: str = ""
    tech_area: str = ""
    target_key: str = ""
    web_or_database: bool = False
    web_db_site: str = ""
    web_db_instance: str = ""


@dataclasses.dataclass
class StigInfo:
    """One STIG's header (ckl STIG_INFO/SI_DATA)."""

    version: str = ""
    classification: str = ""
    customname: str = ""
    stigid: str = ""
    description: str = ""
    filename: str = ""
    releaseinfo: str = ""
    title: str = ""
    uuid: str = ""
    notice: str = ""
    source: str = ""


@dataclasses.dataclass
class Vuln:
    """One rule of a STIG: its STIG_DATA attributes, status and review."""

    vuln_num: str = ""
    severity: str = ""
    group_title: str = ""
    rule_id: str = ""
    rule_ver: str = ""
    rule_title: str = ""
    vuln_discuss: str = ""
    ia_controls: str = ""
    check_content: str = ""
    fix_text: str = ""
    false_positives: str = ""
    false_negatives: str = ""
    documentable: str = "false"
    mitigations: str = ""
    potential_impact: str = ""
    third_party_tools: str = ""
    mitigation_control: str = ""
    responsibility: str = ""
    security_override_guidance: str = ""
    check_content_ref: str = ""
    weight: str = ""
    class_: str = ""
    stig_ref: str = ""
    target_key: str = ""
    stig_uuid: str = ""
    legacy_ids: list[str] = dataclasses.field(default_factory=list)
    ccis: list[str] = dataclasses.field(default_factory=list)
    status: str = "Not_Reviewed"
    finding_details: str = ""
    comments: str = ""
    severity_override: str = ""
    severity_justification: str = ""
    # Only a .cklb holds these; a .ckl reads them as empty.
    uuid: str = ""
    group_tree: list[dict[str, Any]] | None = None  # None: the default one
    created_at: str = ""
    updated_at: str = ""


@dataclasses.dataclass
class Stig:
    """One STIG of a checklist (ckl iSTIG, cklb stigs[])."""

    info: StigInfo = dataclasses.field(default_factory=StigInfo)
    vulns: list[Vuln] = dataclasses.field(default_factory=list)
    # Only a .cklb holds these.
    display_name: str = ""
    reference_identifier: str = ""


@dataclasses.dataclass
class Checklist:
    asset: Asset = dataclasses.field(default_factory=Asset)
    stigs: list[Stig] = dataclasses.field(default_factory=list)
    # Only a .cklb holds these.
    title: str = ""
    id: str = ""


# STIG_DATA attributes in the order STIG Viewer 2.x writes them; LEGACY_ID and
# CCI_REF (repeated) follow, then the review elements.
VULN_ATTRIBUTES = (
    ("Vuln_Num", "vuln_num"),
    ("Severity", "severity"),
    ("Group_Title", "group_title"),
    ("Rule_ID", "rule_id"),
    ("Rule_Ver", "rule_ver"),
    ("Rule_Title", "rule_title"),
    ("Vuln_Discuss", "vuln_discuss"),
    ("IA_Controls", "ia_controls"),
    ("Check_Content", "check_content"),
    ("Fix_Text", "fix_text"),
    ("False_Positives", "false_positives"),
    ("False_Negatives", "false_negatives"),
    ("Documentable", "documentable"),
    ("Mitigations", "mitigations"),
    ("Potential_Impact", "potential_impact"),
    ("Third_Party_Tools", "third_party_tools"),
    ("Mitigation_Control", "mitigation_control"),
    ("Responsibility", "responsibility"),
    ("Security_Override_Guidance", "security_override_guidance"),
    ("Check_Content_Ref", "check_content_ref"),
    ("Weight", "weight"),
    ("Class", "class_"),
    ("STIGRef", "stig_ref"),
    ("TargetKey", "target_key"),
    ("STIG_UUID", "stig_uuid"),
)
VULN_REPEATED = (("LEGACY_ID", "legacy_ids"), ("CCI_REF", "ccis"))
VULN_REVIEW = (
    ("STATUS", "status"),
    ("FINDING_DETAILS", "finding_details"),
    ("COMMENTS", "comments"),
    ("SEVERITY_OVERRIDE", "severity_override"),
    ("SEVERITY_JUSTIFICATION", "severity_justification"),
)
ASSET_ELEMENTS = (
    ("ROLE", "role"),
    ("ASSET_TYPE", "asset_type"),
    ("MARKING", "marking"),
    ("HOST_NAME", "host_name"),
    ("HOST_IP", "host_ip"),
    ("HOST_MAC", "host_mac"),
    ("HOST_FQDN", "host_fqdn"),
    ("TARGET_COMMENT", "target_comment"),
    ("TECH_AREA", "tech_area"),
    ("TARGET_KEY", "target_key"),
    ("WEB_OR_DATABASE", "web_or_database"),
    ("WEB_DB_SITE", "web_db_site"),
    ("WEB_DB_INSTANCE", "web_db_instance"),
)
SI_NAMES = tuple(f.name for f in dataclasses.fields(StigInfo))

_ATTRIBUTE_FIELD = dict(VULN_ATTRIBUTES)
_REPEATED_FIELD = dict(VULN_REPEATED)
_REVIEW_FIELD = dict(VULN_REVIEW)


def _refuse(message: str) -> ValidationError:
    return ValidationError({"document": message})


def _check_size(content: bytes) -> None:
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise _refuse(f"The checklist is {len(content)} bytes; the limit is {limit}.")
    if not content.strip():
        raise _refuse("The checklist is empty.")


# --- .ckl (XML) ------------------------------------------------------------------


def _xml_root(content: bytes) -> etree._Element:
    _check_size(content)
    if _ENTITY_DECLARATION.search(content):
        raise _refuse(_ENTITIES_REFUSED)
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        reason = re.sub(r",? line \d+, column \d+$", "", exc.msg or "").strip()
        raise _refuse(
            f"The checklist is not well-formed XML (line {line}, column {column}): "
            f"{reason}."
        ) from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # Declarations the byte check cannot see (another encoding than UTF-8).
        raise _refuse(_ENTITIES_REFUSED)
    if root.tag != "CHECKLIST":
        raise _refuse(
            f"The root element is <{root.tag}> (line {root.sourceline}); a STIG Viewer "
            "checklist starts with <CHECKLIST>."
        )
    return root


def _text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    if len(element):
        # An element inside a text field: an entity reference left unexpanded, or
        # markup where text belongs.
        raise _refuse(
            f"<{element.tag}> on line {element.sourceline} holds markup where text "
            "belongs."
        )
    return element.text or ""


def _ckl_vuln(element: etree._Element) -> Vuln:
    vuln = Vuln(legacy_ids=[], ccis=[])
    for child in element:
        if child.tag == "STIG_DATA":
            name = _text(child.find("VULN_ATTRIBUTE"))
            value = _text(child.find("ATTRIBUTE_DATA"))
            if name in _ATTRIBUTE_FIELD:
                setattr(vuln, _ATTRIBUTE_FIELD[name], value)
            elif name in _REPEATED_FIELD:
                getattr(vuln, _REPEATED_FIELD[name]).append(value)
            # Attributes a later STIG Viewer may add are not ours to keep.
        elif child.tag in _REVIEW_FIELD:
            setattr(vuln, _REVIEW_FIELD[child.tag], _text(child))
    rule = vuln.rule_id or vuln.vuln_num
    if not rule:
        raise _refuse(f"The VULN on line {element.sourceline} has no Rule_ID.")
    if vuln.status not in CKL_STATUSES:
        raise _refuse(
            f"Rule {rule} (line {element.sourceline}) has the status "
            f"{vuln.status!r}; a checklist status is one of "
            f"{', '.join(CKL_STATUSES)}."
        )
    return vuln


def ckl_loads(content: bytes) -> Checklist:
    """Read a STIG Viewer 2.x .ckl."""
    root = _xml_root(content)
    asset = Asset()
    asset_element = root.find("ASSET")
    if asset_element is not None:
        for tag, name in ASSET_ELEMENTS:
            value = _text(asset_element.find(tag))
            if name == "web_or_database":
                setattr(asset, name, value.strip().lower() == "true")
            else:
                setattr(asset, name, value)
    istigs = root.findall("STIGS/iSTIG")
    if not istigs:
        raise _refuse("The checklist has no STIGS/iSTIG: no STIG in it.")
    stigs = []
    for istig in istigs:
        info = StigInfo()
        for si in istig.findall("STIG_INFO/SI_DATA"):
            name = _text(si.find("SID_NAME"))
            if name in SI_NAMES:
                setattr(info, name, _text(si.find("SID_DATA")))
        vulns = [_ckl_vuln(v) for v in istig.findall("VULN")]
        stigs.append(Stig(info=info, vulns=vulns))
    return Checklist(asset=asset, stigs=stigs)


def _xml_text(value: str) -> str:
    return _NOT_XML_CHARS.sub("", value)


def _leaf(parent: etree._Element, tag: str, value: str | None) -> None:
    element = etree.SubElement(parent, tag)
    if value is not None:
        # Text "" (not None) writes <TAG></TAG>, as STIG Viewer does.
        element.text = _xml_text(value)


def ckl_dumps(checklist: Checklist) -> bytes:
    """Write a .ckl as STIG Viewer 2.x does: its element order, tab indents, its
    header comment, an empty SI_DATA without SID_DATA."""
    root = etree.Element("CHECKLIST")
    asset = etree.SubElement(root, "ASSET")
    for tag, name in ASSET_ELEMENTS:
        value = getattr(checklist.asset, name)
        if isinstance(value, bool):
            value = "true" if value else "false"
        _leaf(asset, tag, value)
    stigs = etree.SubElement(root, "STIGS")
    for stig in checklist.stigs:
        istig = etree.SubElement(stigs, "iSTIG")
        info = etree.SubElement(istig, "STIG_INFO")
        for name in SI_NAMES:
            si = etree.SubElement(info, "SI_DATA")
            _leaf(si, "SID_NAME", name)
            value = getattr(stig.info, name)
            if value:
                _leaf(si, "SID_DATA", value)
        for vuln in stig.vulns:
            element = etree.SubElement(istig, "VULN")
            for attribute, name in VULN_ATTRIBUTES:
                data = etree.SubElement(element, "STIG_DATA")
                _leaf(data, "VULN_ATTRIBUTE", attribute)
                _leaf(data, "ATTRIBUTE_DATA", getattr(vuln, name))
            for attribute, name in VULN_REPEATED:
                for value in getattr(vuln, name):
                    data = etree.SubElement(element, "STIG_DATA")
                    _leaf(data, "VULN_ATTRIBUTE", attribute)
                    _leaf(data, "ATTRIBUTE_DATA", value)
            for tag, name in VULN_REVIEW:
                _leaf(element, tag, getattr(vuln, name))
    etree.indent(root, space="\t")
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    head = f'<?xml version="1.0" encoding="UTF-8"?>\n<!--{CKL_COMMENT}-->\n'
    return head.encode() + body


# --- .cklb (JSON) ----------------------------------------------------------------


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _cklb_vuln(rule: Any, index: int, stig_name: str) -> Vuln:
    if not isinstance(rule, dict):
        raise _refuse(f"Rule {index + 1} of STIG {stig_name!r} is not an object.")
    rule_id = _str(rule.get("rule_id_src") or rule.get("rule_id"))
    name = rule_id or _str(rule.get("group_id")) or f"number {index + 1}"
    status = rule.get("status", "not_reviewed")
    if not isinstance(status, str) or status not in CKL_STATUS:
        raise _refuse(
            f"Rule {name} of STIG {stig_name!r} has the status {status!r}; a .cklb "
            f"status is one of {', '.join(CKL_STATUS)}."
        )
    ref = rule.get("check_content_ref") or {}
    overrides = rule.get("overrides") or {}
    severity = overrides.get("severity") if isinstance(overrides, dict) else None
    severity = severity if isinstance(severity, dict) else {}
    lists = {}
    for key in ("legacy_ids", "ccis"):
        value = rule.get(key) or []
        if not isinstance(value, list):
            raise _refuse(f"Rule {name}: {key} is not a list.")
        lists[key] = [_str(v) for v in value]
    group_tree = rule.get("group_tree")
    return Vuln(
        vuln_num=_str(rule.get("group_id")),
        severity=_str(rule.get("severity")),
        group_title=_str(rule.get("group_title")),
        rule_id=rule_id,
        rule_ver=_str(rule.get("rule_version")),
        rule_title=_str(rule.get("rule_title")),
        vuln_discuss=_str(rule.get("discussion")),
        ia_controls=_str(rule.get("ia_controls")),
        check_content=_str(rule.get("check_content")),
        fix_text=_str(rule.get("fix_text")),
        false_positives=_str(rule.get("false_positives")),
        false_negatives=_str(rule.get("false_negatives")),
        documentable=_str(rule.get("documentable")),
        mitigations=_str(rule.get("mitigations")),
        potential_impact=_str(rule.get("potential_impacts")),
        third_party_tools=_str(rule.get("third_party_tools")),
        mitigation_control=_str(rule.get("mitigation_control")),
        responsibility=_str(rule.get("responsibility")),
        security_override_guidance=_str(rule.get("security_override_guidance")),
        check_content_ref=_str(ref.get("name")) if isinstance(ref, dict) else "",
        weight=_str(rule.get("weight")),
        class_=_str(rule.get("classification")),
        stig_ref=_str(rule.get("stig_ref")),
        target_key=_str(rule.get("target_key")),
        stig_uuid=_str(rule.get("stig_uuid") or rule.get("STIGUuid")),
        legacy_ids=lists["legacy_ids"],
        ccis=lists["ccis"],
        status=CKL_STATUS[status],
        finding_details=_str(rule.get("finding_details")),
        comments=_str(rule.get("comments")),
        severity_override=_str(severity.get("severity")),
        severity_justification=_str(severity.get("reason")),
        uuid=_str(rule.get("uuid")),
        group_tree=group_tree if isinstance(group_tree, list) else None,
        created_at=_str(rule.get("createdAt")),
        updated_at=_str(rule.get("updatedAt")),
    )


def cklb_loads(content: bytes) -> Checklist:
    """Read a STIG Viewer 3 .cklb."""
    _check_size(content)
    try:
        document = json.loads(content)
    except UnicodeDecodeError:
        raise _refuse("The checklist is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise _refuse(
            f"The checklist is not valid JSON (line {exc.lineno}, column "
            f"{exc.colno}): {exc.msg}."
        ) from None
    except RecursionError:
        raise _refuse("The checklist's JSON is nested too deeply.") from None
    if not isinstance(document, dict):
        raise _refuse("A .cklb is a JSON object; this is not.")
    stigs_in = document.get("stigs")
    if not isinstance(stigs_in, list) or not stigs_in:
        raise _refuse('The .cklb has no "stigs": no STIG in it.')
    target = document.get("target_data")
    target = {} if target is None else target
    if not isinstance(target, dict):
        raise _refuse('"target_data" is not an object.')
    asset = Asset(
        role=_str(target.get("role")),
        asset_type=_str(target.get("target_type")),
        host_name=_str(target.get("host_name")),
        host_ip=_str(target.get("ip_address")),
        host_mac=_str(target.get("mac_address")),
        host_fqdn=_str(target.get("fqdn")),
        target_comment=_str(target.get("comments")),
        tech_area=_str(target.get("technology_area")),
        web_or_database=bool(target.get("is_web_database")),
        web_db_site=_str(target.get("web_db_site")),
        web_db_instance=_str(target.get("web_db_instance")),
    )
    stigs = []
    for number, stig in enumerate(stigs_in, 1):
        if not isinstance(stig, dict):
            raise _refuse(f"STIG {number} of the .cklb is not an object.")
        stig_name = _str(stig.get("stig_name"))
        rules = stig.get("rules")
        rules = [] if rules is None else rules
        if not isinstance(rules, list):
            raise _refuse(f"The rules of STIG {stig_name!r} are not a list.")
        vulns = [_cklb_vuln(rule, i, stig_name) for i, rule in enumerate(rules)]
        ref = next((v for v in rules if isinstance(v, dict)), {}).get(
            "check_content_ref"
        )
        info = StigInfo(
            version=_str(stig.get("version")),
            stigid=_str(stig.get("stig_id")),
            releaseinfo=_str(stig.get("release_info")),
            title=stig_name,
            uuid=_str(stig.get("uuid")),
            # STIG Viewer 3 names the benchmark file in each rule's reference.
            filename=_str(ref.get("href")) if isinstance(ref, dict) else "",
        )
        stigs.append(
            Stig(
                info=info,
                vulns=vulns,
                display_name=_str(stig.get("display_name")),
                reference_identifier=_str(stig.get("reference_identifier")),
            )
        )
    checklist = Checklist(
        asset=asset,
        stigs=stigs,
        title=_str(document.get("title")),
        id=_str(document.get("id")),
    )
    return _ids_fill(checklist)


def _named_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)))


def _stig_uuid(stig: Stig) -> str:
    info = stig.info
    return info.uuid or _named_uuid(info.stigid, info.version, info.releaseinfo)


def _rule_uuid(vuln: Vuln, stig_uuid: str) -> str:
    return vuln.uuid or _named_uuid(stig_uuid, vuln.rule_id, vuln.vuln_num)


def _checklist_id(checklist: Checklist) -> str:
    stig_uuids = (_stig_uuid(s) for s in checklist.stigs)
    return checklist.id or _named_uuid(checklist.asset.host_name, *stig_uuids)


def _checklist_title(checklist: Checklist) -> str:
    return checklist.title or checklist.asset.host_name or "checklist"


def _ids_fill(checklist: Checklist) -> Checklist:
    """Give a checklist the ids STIG Viewer 3 needs and a .ckl (or a converted
    .cklb) lacks: the ids ``cklb_dumps`` would write for it, so reading what it
    wrote gives the same checklist."""
    checklist.id = _checklist_id(checklist)
    checklist.title = _checklist_title(checklist)
    for stig in checklist.stigs:
        stig.info.uuid = _stig_uuid(stig)
        for vuln in stig.vulns:
            vuln.stig_uuid = vuln.stig_uuid or stig.info.uuid
            vuln.uuid = _rule_uuid(vuln, stig.info.uuid)
    return checklist


def _cklb_rule(vuln: Vuln, stig: Stig, stig_uuid: str) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if vuln.severity_override or vuln.severity_justification:
        overrides["severity"] = {
            "severity": vuln.severity_override,
            "reason": vuln.severity_justification,
        }
    group_tree = vuln.group_tree
    if group_tree is None:
        group_tree = [
            {
                "id": vuln.vuln_num,
                "title": vuln.group_title,
                "description": "<GroupDescription></GroupDescription>",
            }
        ]
    # STIG Viewer 3's key order; group_id_src is in its schema and in files
    # converted by Heimdall.
    return {
        "uuid": _rule_uuid(vuln, stig_uuid),
        "stig_uuid": vuln.stig_uuid or stig_uuid,
        "target_key": vuln.target_key,
        "stig_ref": vuln.stig_ref,
        "group_id": vuln.vuln_num,
        "group_id_src": vuln.vuln_num,
        "rule_id": vuln.rule_id.removesuffix("_rule"),
        "rule_id_src": vuln.rule_id,
        "weight": vuln.weight,
        "classification": vuln.class_,
        "severity": vuln.severity,
        "rule_version": vuln.rule_ver,
        "group_title": vuln.group_title,
        "rule_title": vuln.rule_title,
        "fix_text": vuln.fix_text,
        "false_positives": vuln.false_positives,
        "false_negatives": vuln.false_negatives,
        "discussion": vuln.vuln_discuss,
        "check_content": vuln.check_content,
        "documentable": vuln.documentable,
        "mitigations": vuln.mitigations,
        "potential_impacts": vuln.potential_impact,
        "third_party_tools": vuln.third_party_tools,
        "mitigation_control": vuln.mitigation_control,
        "responsibility": vuln.responsibility,
        "security_override_guidance": vuln.security_override_guidance,
        "ia_controls": vuln.ia_controls,
        "check_content_ref": {
            "href": stig.info.filename,
            "name": vuln.check_content_ref,
        },
        "legacy_ids": list(vuln.legacy_ids),
        "ccis": list(vuln.ccis),
        "group_tree": group_tree,
        # Null when unknown (a rule read from a .ckl): no invented review dates.
        "createdAt": vuln.created_at or None,
        "updatedAt": vuln.updated_at or None,
        "STIGUuid": vuln.stig_uuid or stig_uuid,
        "status": CKLB_STATUS[vuln.status],
        "overrides": overrides,
        "comments": vuln.comments,
        "finding_details": vuln.finding_details,
    }


def cklb_dumps(checklist: Checklist) -> bytes:
    """Write a .cklb with STIG Viewer 3's keys (and Heimdall's group_id_src)."""
    asset = checklist.asset
    stigs = []
    for stig in checklist.stigs:
        info = stig.info
        stig_uuid = _stig_uuid(stig)
        stigs.append(
            {
                "stig_name": info.title,
                "display_name": stig.display_name or info.title,
                "stig_id": info.stigid,
                "release_info": info.releaseinfo,
                "version": info.version,
                "uuid": stig_uuid,
                "reference_identifier": stig.reference_identifier,
                "size": len(stig.vulns),
                "rules": [_cklb_rule(v, stig, stig_uuid) for v in stig.vulns],
            }
        )
    document = {
        "title": _checklist_title(checklist),
        "id": _checklist_id(checklist),
        "stigs": stigs,
        "active": True,
        "mode": 2,
        "has_path": False,
        "target_data": {
            "target_type": asset.asset_type,
            "host_name": asset.host_name,
            "ip_address": asset.host_ip,
            "mac_address": asset.host_mac,
            "fqdn": asset.host_fqdn,
            "comments": asset.target_comment,
            "role": asset.role,
            "is_web_database": asset.web_or_database,
            "technology_area": asset.tech_area,
            "web_db_site": asset.web_db_site,
            "web_db_instance": asset.web_db_instance,
        },
        "cklb_version": CKLB_VERSION,
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()


# --- to and from the scans we store ----------------------------------------------


def _decimal(value: str) -> Decimal | None:
    try:
        return Decimal(value.strip()) if value.strip() else None
    except InvalidOperation:
        return None


def checklist_to_parsed(
    checklist: Checklist, *, source_format: str = "ckl"
) -> ParsedScan:
    """What the importer stores from a checklist.

    A stored scan is one benchmark's, so a checklist of several STIGs is refused
    (naming them) rather than cut down to its first: import one checklist per
    STIG. A severity override stays out (the scan keeps the benchmark's
    severity); the reviewer's justification is kept in the comments.
    """
    if len(checklist.stigs) != 1:
        names = ", ".join(s.info.stigid or s.info.title or "?" for s in checklist.stigs)
        raise _refuse(
            f"This checklist holds {len(checklist.stigs)} STIGs ({names}); a scan is "
            "of one STIG, so import one checklist per STIG."
        )
    (stig,) = checklist.stigs
    info = stig.info
    rules: list[ParsedRule] = []
    seen: set[str] = set()
    for vuln in stig.vulns:
        rule_id = vuln.rule_id or vuln.vuln_num
        if rule_id in seen:
            raise _refuse(f"Rule {rule_id} appears twice in the checklist.")
        seen.add(rule_id)
        severity = vuln.severity.strip().lower()
        comments = vuln.comments
        if vuln.severity_override:
            note = f"Severity overridden to {vuln.severity_override}"
            note += (
                f": {vuln.severity_justification}"
                if vuln.severity_justification
                else "."
            )
            comments = f"{comments}\n\n{note}" if comments else note
        rules.append(
            ParsedRule(
                rule_id=rule_id,
                result=STATUS_RESULT[vuln.status],
                severity=severity if severity in SEVERITIES else "unknown",
                vuln_id=vuln.vuln_num,
                stig_id=vuln.rule_ver,
                title=vuln.rule_title,
                description=vuln.vuln_discuss,
                check_text=vuln.check_content,
                fix_text=vuln.fix_text,
                finding_details=vuln.finding_details,
                comments=comments,
                ccis=[c for c in vuln.ccis if c.strip()],
                weight=_decimal(vuln.weight),
            )
        )
    asset = checklist.asset
    return ParsedScan(
        source_format=source_format,
        benchmark_id=info.stigid or info.title,
        benchmark_title=info.title,
        benchmark_version=info.version,
        release_info=info.releaseinfo,
        target=asset.host_name or asset.host_fqdn or asset.host_ip,
        rules=rules,
        subject=scan_target_subject(
            asset.host_name or asset.host_fqdn,
            [("host_fqdn", asset.host_fqdn), ("target_comment", asset.target_comment)],
            where="the checklist's asset",
        ),
    )


def ckl_parse(content: bytes) -> ParsedScan:
    """A .ckl as the importer stores it."""
    return checklist_to_parsed(ckl_loads(content), source_format="ckl")


def cklb_parse(content: bytes) -> ParsedScan:
    """A .cklb as the importer stores it."""
    return checklist_to_parsed(cklb_loads(content), source_format="cklb")


def checklist_from_scan(
    scan,
    *,
    host_name: str = "",
    host_ip: str = "",
    host_mac: str = "",
    host_fqdn: str = "",
    target_comment: str = "",
    tech_area: str = "",
    role: str = "None",
    asset_type: str = "Computing",
    marking: str = "",
) -> Checklist:
    """A checklist of a stored ``StigScan``: its benchmark as the STIG, one entry
    per rule result (ordered by vuln id and rule id)."""
    from .models import StigRuleResult

    title = scan.benchmark_title or scan.benchmark_id
    info = StigInfo(
        version=scan.benchmark_version,
        classification="UNCLASSIFIED",
        stigid=scan.benchmark_id,
        releaseinfo=scan.release_info,
        title=title,
        uuid=_named_uuid(scan.benchmark_id, scan.benchmark_version, scan.release_info),
        source="STIG.DOD.MIL",
    )
    release = ", ".join(p for p in (scan.benchmark_version, scan.release_info) if p)
    stig_ref = f"{title} :: Version {release}" if release else title
    stamp = scan.finished_at or scan.created_at
    stamped = stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    results = StigRuleResult.objects.filter(scan=scan).order_by("vuln_id", "rule_id")
    vulns = [
        Vuln(
            vuln_num=r.vuln_id,
            severity=r.severity,
            rule_id=r.rule_id,
            rule_ver=r.stig_id,
            rule_title=r.title,
            vuln_discuss=r.description,
            check_content=r.check_text,
            fix_text=r.fix_text,
            check_content_ref="M",
            weight=f"{r.weight:.1f}" if r.weight is not None else "10.0",
            class_="Unclass",
            stig_ref=stig_ref,
            stig_uuid=info.uuid,
            ccis=list(r.ccis),
            status=status_for(r.result),
            finding_details=r.finding_details,
            comments=r.comments,
            created_at=stamped,
            updated_at=stamped,
        )
        for r in results
    ]
    asset = Asset(
        role=role,
        asset_type=asset_type,
        marking=marking,
        host_name=host_name,
        host_ip=host_ip,
        host_mac=host_mac,
        host_fqdn=host_fqdn,
        target_comment=target_comment,
        tech_area=tech_area,
    )
    return Checklist(
        asset=asset,
        stigs=[Stig(info=info, vulns=vulns)],
        title=host_name,
    )
