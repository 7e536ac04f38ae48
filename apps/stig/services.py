"""Writes of STIG scans: one import door for XCCDF, ARF and STIG Viewer checklists."""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.catalog.models import Attestation, ImageDigest
from apps.catalog.services import SubjectOverride, attestation_store
from apps.core.boundedjson import JsonRefusedError, bounded_loads

from .formats import ckl, cklb
from .formats.parsed import SEVERITY_CAT, ParsedScan, status_for
from .formats.xccdf import safe_xml, xccdf_read
from .models import StigRuleResult, StigScan

RULE_BATCH = 500
SEVERITIES = frozenset(StigRuleResult.Severity.values)
RESULTS = frozenset(StigRuleResult.Result.values)
# Lengths of the scan's text columns: longer values are cut, not refused.
_SCAN_TEXT = {
    "benchmark_title": 500,
    "benchmark_version": 64,
    "release_info": 255,
    "profile_id": 255,
    "profile_title": 500,
    "scanner": 255,
    "target": 255,
    "score_system": 255,
}


@dataclasses.dataclass
class StigImportResult:
    """What an import stored; its str/int/bool fields go into the audit record."""

    scan_id: int
    attestation_id: int
    created: bool
    source_format: str
    benchmark: str
    profile: str
    rules: int
    passed: int
    failed: int
    not_applicable: int
    not_reviewed: int
    score: str
    subject: str


@dataclasses.dataclass
class _Read:
    scan: ParsedScan
    media_type: str
    spec_version: str


def _refuse(message: str) -> ValidationError:
    return ValidationError({"document": message})


def _read(content: bytes) -> _Read:
    """Tell the format by its first bytes and root, and read it."""
    head = content.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] in (b"{", b"["):
        try:
            document = bounded_loads(content, max_bytes=settings.EVIDENCE_MAX_BYTES)
        except JsonRefusedError as exc:
            raise _refuse(f"The document is not valid JSON: {exc.message}") from None
        if not isinstance(document, dict) or "stigs" not in document:
            raise _refuse(
                "A JSON document must be a STIG Viewer checklist (.cklb), an "
                'object with "stigs"; XCCDF and ARF results are XML.'
            )
        return _Read(cklb.cklb_parse(content), "application/json", "")
    root = safe_xml(content)
    if root.tag == "CHECKLIST":
        return _Read(ckl.ckl_parse(content), "application/xml", "")
    read = xccdf_read(root)
    return _Read(read.scan, "application/xml", read.spec_version)


def stig_document_read(content: bytes) -> ParsedScan:
    """Read a scan or checklist document (any format the door takes)."""
    return _read(content).scan


def _validate(scan: ParsedScan) -> None:
    """What every reader's output must hold before anything is written."""
    if not scan.benchmark_id or len(scan.benchmark_id) > 255:
        raise _refuse("The document names no benchmark (or one over 255 characters).")
    if scan.source_format not in StigScan.Format.values:
        raise _refuse(f"Unknown source format {scan.source_format!r}.")
    if not scan.rules:
        raise _refuse("The document holds no rule results.")
    seen: set[str] = set()
    for rule in scan.rules:
        if not rule.rule_id or len(rule.rule_id) > 255:
            raise _refuse("A rule has no id (or one over 255 characters).")
        if rule.rule_id in seen:
            raise _refuse(f"Rule {rule.rule_id} has two results in one scan.")
        seen.add(rule.rule_id)
        if rule.result not in RESULTS:
            raise _refuse(f"Rule {rule.rule_id} has an unknown result {rule.result!r}.")
        if rule.severity not in SEVERITIES:
            raise _refuse(
                f"Rule {rule.rule_id} has an unknown severity {rule.severity!r}."
            )
        if len(rule.vuln_id) > 64 or len(rule.stig_id) > 128:
            raise _refuse(f"Rule {rule.rule_id} has an over-long V-number or STIG id.")
        if rule.weight is not None and abs(rule.weight) >= 10_000:
            rule.weight = None
    for name in ("score", "score_max"):
        value = getattr(scan, name)
        if value is not None and abs(value) >= 10_000_000:
            what = name.replace("_", " ")
            raise _refuse(f"The scan's {what} {value} is out of range.")


def stig_counts(scan: ParsedScan) -> dict[str, dict[str, int]]:
    """Results per CAT: {"1": {"pass": 3, "fail": 1}, ..., "none": {...}}."""
    counts: dict[str, Counter[str]] = {}
    for rule in scan.rules:
        cat = SEVERITY_CAT.get(rule.severity)
        counts.setdefault(str(cat) if cat else "none", Counter())[rule.result] += 1
    return {cat: dict(sorted(c.items())) for cat, c in sorted(counts.items())}


def _by_status(scan: ParsedScan) -> Counter[str]:
    return Counter(status_for(rule.result) for rule in scan.rules)


def _result(scan: StigScan, created: bool, subject: str) -> StigImportResult:
    statuses: Counter[str] = Counter()
    for results in scan.counts.values():
        for result, n in results.items():
            statuses[status_for(result)] += n
    return StigImportResult(
        scan_id=scan.pk,
        attestation_id=scan.attestation_id,
        created=created,
        source_format=scan.source_format,
        benchmark=scan.benchmark_id,
        profile=scan.profile_id,
        rules=scan.rule_count,
        passed=statuses["NotAFinding"],
        failed=statuses["Open"],
        not_applicable=statuses["Not_Applicable"],
        not_reviewed=statuses["Not_Reviewed"],
        score="" if scan.score is None else str(scan.score),
        subject=subject,
    )


def _fit(value: str, length: int) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


@transaction.atomic
def stig_scan_import(
    *,
    image: ImageDigest,
    content: bytes,
    subject_override: SubjectOverride | None = None,
) -> StigImportResult:
    """Attach a STIG scan to a STIG build: the document as its ``stig-scan``
    attestation, the scan and one row per rule result.

    Reads OpenSCAP XCCDF 1.2 (or 1.1) results, ARF reports and STIG Viewer
    checklists (.ckl, .cklb). Everything is read and checked before anything is
    written; the same bytes imported again return the scan already stored.
    Raises ValidationError on a bad document, a build that is not STIG, or a
    scan whose target names another image (unless staff override).
    """
    if not image.variant.stig:
        raise ValidationError(
            {
                "digest": f"{image.digest} is a build of {image.variant}, which is "
                "not a STIG variant; STIG scans attach to STIG builds only."
            }
        )
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise _refuse(f"The document is {len(content)} bytes; the limit is {limit}.")
    if not content.strip():
        raise _refuse("The document is empty.")

    sha256 = hashlib.sha256(content).hexdigest()
    stored = (
        Attestation.objects.filter(digest=image, sha256=sha256)
        .select_related("stig_scan")
        .first()
    )
    if stored is not None:
        scan = getattr(stored, "stig_scan", None)
        if scan is None:
            raise _refuse(
                f"This document is already attached to the build as "
                f"{stored.get_kind_display()}."
            )
        return _result(scan, created=False, subject=stored.subject_status)

    read = _read(content)
    parsed = read.scan
    _validate(parsed)
    counts = stig_counts(parsed)
    statuses = _by_status(parsed)
    summary: dict[str, Any] = {
        "format": parsed.source_format,
        "benchmark": parsed.benchmark_id,
        "benchmark_version": parsed.benchmark_version,
        "profile": parsed.profile_id,
        "rules": len(parsed.rules),
        "open": statuses["Open"],
        "not_a_finding": statuses["NotAFinding"],
        "not_applicable": statuses["Not_Applicable"],
        "not_reviewed": statuses["Not_Reviewed"],
        "score": None if parsed.score is None else str(parsed.score),
    }

    attestation, _ = attestation_store(
        image=image,
        kind=Attestation.Kind.STIG_SCAN,
        content=content,
        subject=parsed.subject,
        subject_override=subject_override,
        spec_version=read.spec_version,
        media_type=read.media_type,
        summary=summary,
    )
    try:
        scan = _scan_store(attestation, parsed, counts)
    except Exception:
        # The rows roll back with the transaction; the file would not.
        attestation.document.delete(save=False)
        raise
    return _result(scan, created=True, subject=attestation.subject_status)


def _scan_store(
    attestation: Attestation, parsed: ParsedScan, counts: dict[str, dict[str, int]]
) -> StigScan:
    image = attestation.digest
    scan = StigScan.objects.create(
        attestation=attestation,
        digest=image,
        source_format=parsed.source_format,
        benchmark_id=parsed.benchmark_id,
        **{name: _fit(getattr(parsed, name), n) for name, n in _SCAN_TEXT.items()},
        started_at=parsed.started_at,
        finished_at=parsed.finished_at,
        score=parsed.score,
        score_max=parsed.score_max,
        counts=counts,
        rule_count=len(parsed.rules),
    )
    StigRuleResult.objects.bulk_create(
        (
            StigRuleResult(
                scan=scan,
                rule_id=rule.rule_id,
                vuln_id=rule.vuln_id,
                stig_id=rule.stig_id,
                title=rule.title,
                severity=rule.severity,
                cat=rule.cat,
                result=rule.result,
                description=rule.description,
                check_text=rule.check_text,
                fix_text=rule.fix_text,
                finding_details=rule.finding_details,
                comments=rule.comments,
                ccis=rule.ccis,
                weight=rule.weight,
            )
            for rule in parsed.rules
        ),
        batch_size=RULE_BATCH,
    )
    return scan
