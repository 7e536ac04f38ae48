"""STIG Viewer 3 checklists (.cklb, JSON), read and written with STIG Viewer 3's
keys (and Heimdall's ``group_id_src``)."""

from __future__ import annotations

import json
from typing import Any

from apps.core.boundedjson import JsonRefusedError, bounded_loads

from .checklist import (
    Asset,
    Checklist,
    Stig,
    StigInfo,
    Vuln,
    check_size,
    checklist_to_parsed,
    named_uuid,
    refuse,
)
from .parsed import ParsedScan

CKLB_VERSION = "1.0"
# STIG Viewer 3 writes the four .ckl statuses in snake case.
CKLB_STATUS = {
    "NotAFinding": "not_a_finding",
    "Open": "open",
    "Not_Applicable": "not_applicable",
    "Not_Reviewed": "not_reviewed",
}
CKL_STATUS = {v: k for k, v in CKLB_STATUS.items()}


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _cklb_vuln(rule: Any, index: int, stig_name: str) -> Vuln:
    if not isinstance(rule, dict):
        raise refuse(f"Rule {index + 1} of STIG {stig_name!r} is not an object.")
    rule_id = _str(rule.get("rule_id_src") or rule.get("rule_id"))
    name = rule_id or _str(rule.get("group_id")) or f"number {index + 1}"
    status = rule.get("status", "not_reviewed")
    if not isinstance(status, str) or status not in CKL_STATUS:
        raise refuse(
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
            raise refuse(f"Rule {name}: {key} is not a list.")
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
    check_size(content)
    try:
        document = bounded_loads(content, max_bytes=len(content))
    except JsonRefusedError as exc:
        if exc.line:
            raise refuse(
                f"The checklist is not valid JSON (line {exc.line}, column "
                f"{exc.column}): {exc.reason}."
            ) from None
        raise refuse(f"The checklist is refused: {exc.message}") from None
    if not isinstance(document, dict):
        raise refuse("A .cklb is a JSON object; this is not.")
    stigs_in = document.get("stigs")
    if not isinstance(stigs_in, list) or not stigs_in:
        raise refuse('The .cklb has no "stigs": no STIG in it.')
    target = document.get("target_data")
    target = {} if target is None else target
    if not isinstance(target, dict):
        raise refuse('"target_data" is not an object.')
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
            raise refuse(f"STIG {number} of the .cklb is not an object.")
        stig_name = _str(stig.get("stig_name"))
        rules = stig.get("rules")
        rules = [] if rules is None else rules
        if not isinstance(rules, list):
            raise refuse(f"The rules of STIG {stig_name!r} are not a list.")
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


def _stig_uuid(stig: Stig) -> str:
    info = stig.info
    return info.uuid or named_uuid(info.stigid, info.version, info.releaseinfo)


def _rule_uuid(vuln: Vuln, stig_uuid: str) -> str:
    return vuln.uuid or named_uuid(stig_uuid, vuln.rule_id, vuln.vuln_num)


def _checklist_id(checklist: Checklist) -> str:
    stig_uuids = (_stig_uuid(s) for s in checklist.stigs)
    return checklist.id or named_uuid(checklist.asset.host_name, *stig_uuids)


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


def cklb_parse(content: bytes) -> ParsedScan:
    """A .cklb as the importer stores it."""
    return checklist_to_parsed(cklb_loads(content), source_format="cklb")
