"""DISA STIG Viewer checklists: what a .ckl (STIG Viewer 2.x XML) and a .cklb
(STIG Viewer 3 JSON) hold, and what the importer stores from one.

A ``Checklist`` holds what either format says: the asset (the target), one or more
STIGs, and one entry per rule with its status, finding details and comments. The
readers and writers are ``ckl`` and ``cklb``; they refuse what they cannot read
with a ``ValidationError({"document": ...})`` that names the line (XML) or the
rule. Nothing here touches the database: ``apps.stig.selectors.checklist_from_scan``
builds a checklist from a stored scan, and ``checklist_to_parsed`` turns one into
the ``ParsedScan`` the importer stores.
"""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.catalog.formats.subject import scan_target_subject

from .parsed import STATUS_RESULT, ParsedRule, ParsedScan

SEVERITIES = ("high", "medium", "low", "unknown")

# Names for the identifiers a checklist needs and a scan does not have: the same
# scan exports the same ids, so the same evidence gives the same file.
_ID_NAMESPACE = uuid.UUID("0f6c2a64-5d1e-4c55-9d3c-3b1c8a4e7f21")


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


def refuse(message: str) -> ValidationError:
    return ValidationError({"document": message})


def check_size(content: bytes) -> None:
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise refuse(f"The checklist is {len(content)} bytes; the limit is {limit}.")
    if not content.strip():
        raise refuse("The checklist is empty.")


def named_uuid(*parts: str) -> str:
    """A uuid named by ``parts``: the same parts give the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(parts)))


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
        raise refuse(
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
            raise refuse(f"Rule {rule_id} appears twice in the checklist.")
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
