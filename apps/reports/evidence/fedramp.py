"""An organization's FedRAMP documents for a window: the VER reports made
from its SLA ledger under CR26 (apps/sla/cr26.py) and its crypto-module
inventory from the FIPS module registry.

- Vulnerability Detail Report (VER-RPT-VDT) and Accepted Vulnerability Info
  (VER-RPT-AVI): every vulnerability CR26 applied to with activity in the
  window [start, end) (known before its end, not closed before its start),
  as it stood at the window's end: accepted ones in the AVI, the rest in
  the VDT.
- Historical VER Activity (VER-TFR-MRH): at the window's end, every
  vulnerability still active and those closed in the year before.
- Crypto-module inventory (CMU-CSO-CMD): each FIPS image mirrored with FIPS
  included, its newest build by the window's end and that build's modules.

Each is checked against its schema as it is made (a document that does not
hold raises); nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from apps.catalog.models import ImageDigest
from apps.entitlements.models import Mirror
from apps.fips.models import DigestCryptoModule
from apps.fips.status import module_status
from apps.orgs.models import Organization
from apps.sla import cr26
from apps.sla.models import SlaClock
from apps.sla.selectors.fedramp import (
    FedrampInputs,
    clock_cr26,
    fedramp_evaluations,
    fedramp_inputs,
)

from ..formats import cmu, fedramp_ver
from ..formats.fedramp_ver import EvaluationRow, VerRecord

HISTORY_HORIZON = timedelta(days=366)
DESCRIPTION_SUMMARY_MAX = 300
KINDS = (fedramp_ver.VDT, fedramp_ver.AVI, fedramp_ver.HISTORY)
CMU = "cmu"
# The file each document is downloaded and bundled as.
FILE_NAMES = {
    fedramp_ver.VDT: "fedramp-ver-vulnerability-detail.json",
    fedramp_ver.AVI: "fedramp-ver-accepted-vulnerabilities.json",
    fedramp_ver.HISTORY: "fedramp-ver-historical-activity.json",
    CMU: "fedramp-cmu-crypto-modules.json",
}
TITLES = {**fedramp_ver.TITLES, CMU: "Crypto-module inventory (CMU-CSO-CMD)"}
_CLOCK_RELATED = (
    "finding__vulnerability",
    "finding__component",
    "finding__digest__variant__series__repository",
)


@dataclass
class Scoped:
    """One vulnerability in the documents: its clock, CR26 measure, record."""

    clock: SlaClock
    result: cr26.Result
    record: VerRecord


@dataclass
class FedrampPack:
    """An organization's FedRAMP documents for one window."""

    org: Organization
    start: datetime
    end: datetime
    certification_class: str
    package_uri: str
    in_window: list[Scoped] = field(default_factory=list)
    history: list[Scoped] = field(default_factory=list)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def applies(self) -> bool:
        return bool(self.certification_class)


def _tracking_id(clock: SlaClock) -> str:
    return f"V-{clock.pk}"


def _supplementary(clock: SlaClock, result: cr26.Result) -> str:
    finding = clock.finding
    vuln = finding.vulnerability
    parts = [f"Severity {clock.severity}"]
    vector = vuln.cvss_v4_vector or vuln.cvss_v3_vector
    if vector:
        parts.append(f"CVSS {vector}")
    if vuln.kev:
        kev = "In the CISA KEV catalog"
        if vuln.kev_date_added:
            kev += f" since {vuln.kev_date_added.isoformat()}"
        if vuln.kev_due_date:
            kev += f", due {vuln.kev_due_date.isoformat()}"
        if vuln.kev_ransomware:
            kev += ", used in ransomware campaigns"
        parts.append(kev)
    if finding.fixed_version:
        parts.append(f"fixed upstream in {finding.fixed_version}")
    if clock.stop_reason == SlaClock.StopReason.WAIVER and clock.stopped_at:
        parts.append(
            "the publisher's SLA clock is waived (a contract matter; under CR26 "
            "the vulnerability stays active)"
        )
    parts.append(
        f"the publisher's SLA clock {clock.get_state_display().lower()}, due "
        f"{fedramp_ver.stamp(clock.due_at)}"
    )
    return "; ".join(parts) + "."


def _description(clock: SlaClock) -> str:
    finding = clock.finding
    vuln = finding.vulnerability
    component = finding.component
    repository = finding.digest.variant.series.repository
    text = (
        f"{vuln.cve_id} in {component.name}"
        f"{' ' + component.version if component.version else ''} of the "
        f"{repository.name} image {finding.digest.digest[:19]}"
    )
    summary = " ".join((vuln.summary or vuln.details or "").split())
    if summary:
        if len(summary) > DESCRIPTION_SUMMARY_MAX:
            summary = summary[: DESCRIPTION_SUMMARY_MAX - 1].rstrip() + "…"
        text += f": {summary}"
    return text


def _evaluations(result: cr26.Result) -> tuple[EvaluationRow, ...]:
    def source(value: str) -> str:
        return "evaluation" if value == "override" else value

    return tuple(
        EvaluationRow(
            at=e.at,
            rating=e.pain,
            internet_reachable=e.internet_reachable,
            likely_exploitable=e.likely_exploitable,
            rating_source=source(e.pain_source),
            irv_source=source(e.irv_source),
            lev_source=source(e.lev_source),
            lev_basis=e.lev_rule,
            change=e.kind,
            timeframe=e.timeframe_label,
            window_ends_at=e.due_at,
            by=e.by,
            reason=e.reason,
        )
        for e in result.evaluations
    )


def ver_record(clock: SlaClock, result: cr26.Result) -> VerRecord:
    """One clock under CR26 as the VER reports state it."""
    finding = clock.finding
    vuln = finding.vulnerability
    current = result.current
    next_reduction = None
    if (
        result.active
        and not result.accepted
        and current is not None
        and current.pain >= 2
        and result.window_due_at is not None
        and result.window_due_at > result.as_of
    ):
        next_reduction = (result.window_due_at, current.pain - 1)
    ids = [vuln.cve_id, *vuln.other_ids]
    return VerRecord(
        tracking_id=_tracking_id(clock),
        vulnerability_ids=tuple(dict.fromkeys(i for i in ids if i)),
        description=_description(clock),
        detected_at=result.detected_at or finding.detected_at,
        detection_source=(
            f"{settings.SITE_NAME}: the SBOM of the mirrored image matched "
            f"against the {vuln.vuln_id} advisory"
        ),
        affected_image=(
            f"{finding.digest.variant.series.repository.name}@{finding.digest.digest}"
        ),
        affected_component=finding.component.purl,
        certification_class=result.certification_class,
        likely_exploitable=current.likely_exploitable
        if current is not None
        else bool(result.lev and result.lev.likely),
        evaluation_due_at=result.evaluation_due_at or finding.detected_at,
        evaluated_at=result.evaluated_at,
        internet_reachable=current.internet_reachable if current else None,
        rating=current.pain if current else None,
        rating_text=f"N{current.pain}: {cr26.PAIN_DEFINITIONS[current.pain]}"
        if current
        else "",
        evaluations=_evaluations(result),
        reductions=result.reductions,
        window_ends_at=result.window_due_at,
        kev_due_at=result.kev_due_at,
        due_at=result.due_at,
        next_reduction=next_reduction,
        overdue=result.overdue,
        explanation=result.explanation,
        supplementary=_supplementary(clock, result),
        disposition=result.disposition,
        closed_at=result.closed_at,
        closed_reason=result.closed_reason,
        accepted_at=result.accepted_at,
        acceptance_rationale=result.accepted_reason,
    )


def _clocks(org: Organization, *, since: datetime, as_of: datetime):
    """The clocks that may have been active in CR26 from ``since`` to
    ``as_of``: known by then and not stopped before (a waiver stops the
    contract's clock, not CR26)."""
    return (
        SlaClock.objects.for_org(org)
        .filter(created_at__lte=as_of)
        .filter(
            Q(stopped_at__isnull=True)
            | Q(stopped_at__gte=since)
            | Q(stop_reason=SlaClock.StopReason.WAIVER)
        )
        .select_related(*_CLOCK_RELATED)
        .order_by("id")
    )


def _measured(
    org: Organization,
    inputs: FedrampInputs,
    *,
    since: datetime,
    as_of: datetime,
) -> list[Scoped]:
    evaluations = fedramp_evaluations(org=org)
    found = []
    for clock in _clocks(org, since=since, as_of=as_of).iterator(chunk_size=1000):
        result = clock_cr26(
            clock,
            as_of=as_of,
            inputs=inputs,
            evaluations=evaluations.get(clock.pk, []),
        )
        if result.applies:
            found.append(Scoped(clock, result, ver_record(clock, result)))
    return found


def cmu_images(
    org: Organization, *, as_of: datetime, mirrors: list[Mirror] | None = None
) -> list[cmu.ImageRow]:
    """Each FIPS image of the repositories mirrored with FIPS included, its
    newest build by ``as_of`` and that build's modules (status on the day)."""
    if mirrors is None:
        mirrors = list(
            Mirror.objects.for_org(org).filter(created_at__lt=as_of, include_fips=True)
        )
    repositories = [m.repository_id for m in mirrors if m.include_fips]
    builds = (
        ImageDigest.objects.filter(
            variant__fips=True,
            variant__series__repository_id__in=repositories,
            built_at__lte=as_of,
        )
        .order_by("variant_id", "-built_at", "-id")
        .values_list("variant_id", "id")
    )
    newest: dict[int, int] = {}
    for variant_id, digest_id in builds:
        newest.setdefault(variant_id, digest_id)
    links = (
        DigestCryptoModule.objects.filter(digest_id__in=newest.values())
        .select_related("module", "digest__variant__series__repository")
        .order_by("digest_id", "module__certificate_number")
    )
    images: dict[int, dict[str, Any]] = {}
    for link in links:
        digest = link.digest
        image = images.setdefault(
            digest.pk,
            {
                "repository": digest.variant.series.repository.name,
                "series": digest.variant.series.name,
                "variant": str(digest.variant),
                "digest": digest.digest,
                "built_at": digest.built_at,
                "modules": [],
            },
        )
        module = link.module
        status = module_status(module, on=as_of)
        image["modules"].append(
            cmu.ModuleRow(
                certificate=module.certificate_number,
                name=module.name,
                vendor=module.vendor,
                standard=module.get_standard_display(),
                status=status.status,
                status_basis=f"{status.label} on {status.day.isoformat()}",
                validation_date=module.validation_date,
                sunset_date=module.sunset_date,
                validated_version=module.module_version,
                declared_version=link.declared_version,
                package=link.package,
                security_policy=module.security_policy_url,
            )
        )
    return [
        cmu.ImageRow(**{**image, "modules": tuple(image["modules"])})
        for image in images.values()
    ]


def fedramp_pack(
    *,
    org: Organization,
    start: datetime,
    end: datetime,
    mirrors: list[Mirror] | None = None,
) -> FedrampPack:
    """The organization's FedRAMP documents for [start, end), as they stood
    at ``end``. Without a FedRAMP class then, only the CMU inventory."""
    inputs = fedramp_inputs(org=org)
    profile = inputs.profile_at(end)
    pack = FedrampPack(
        org=org,
        start=start,
        end=end,
        certification_class=profile.certification_class if profile else "",
        package_uri=profile.package_uri if profile else "",
    )
    pack.documents[CMU] = cmu.cmu_document(
        generated_at=end, images=cmu_images(org, as_of=end, mirrors=mirrors)
    )
    if not pack.applies:
        return pack
    horizon = end - HISTORY_HORIZON
    scoped = _measured(org, inputs, since=min(start, horizon), as_of=end)
    for item in scoped:
        result = item.result
        closed = result.closed_at
        if (
            result.start_at is not None
            and result.start_at < end
            and (closed is None or closed >= start)
        ):
            pack.in_window.append(item)
        if closed is None or closed >= horizon:
            pack.history.append(item)
    uri = pack.package_uri
    pack.documents[fedramp_ver.VDT] = fedramp_ver.vdt_document(
        package_uri=uri,
        start=start,
        end=end,
        records=[s.record for s in pack.in_window if not s.result.accepted],
    )
    pack.documents[fedramp_ver.AVI] = fedramp_ver.avi_document(
        package_uri=uri,
        start=start,
        end=end,
        records=[s.record for s in pack.in_window if s.result.accepted],
    )
    pack.documents[fedramp_ver.HISTORY] = fedramp_ver.history_document(
        package_uri=uri,
        generated_at=end,
        active=[s.record for s in pack.history if not s.result.accepted],
        accepted=[s.record for s in pack.history if s.result.accepted],
    )
    return pack


def default_window(now: datetime) -> tuple[datetime, datetime]:
    """The last whole calendar month before ``now`` (UTC): VER-TFR-MHR's
    monthly report."""
    first = now.astimezone(UTC).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    previous = (first - timedelta(days=1)).replace(day=1)
    return previous, first


def _summary(pack: FedrampPack) -> dict[str, int]:
    start, end = pack.start, pack.end
    scoped = pack.in_window
    active = [s for s in scoped if s.result.active]
    return {
        "in_window": len(scoped),
        "detail_records": sum(1 for s in scoped if not s.result.accepted),
        "accepted": sum(1 for s in scoped if s.result.accepted),
        "active_at_end": len(active),
        "overdue_at_end": sum(1 for s in active if s.result.overdue),
        "awaiting_evaluation": sum(1 for s in active if s.result.evaluated_at is None),
        "evaluated_in_window": sum(
            1
            for s in scoped
            if s.result.evaluated_at is not None
            and start <= s.result.evaluated_at < end
        ),
        "pain_reductions_in_window": sum(
            1 for s in scoped for at, _ in s.result.reductions if start <= at < end
        ),
        "remediated_in_window": _closed(scoped, cr26.REMEDIATED),
        "fully_mitigated_in_window": _closed(scoped, cr26.FULLY_MITIGATED),
        "false_positive_in_window": _closed(scoped, cr26.FALSE_POSITIVE),
        "history_records": len(pack.history),
    }


def _closed(scoped: list[Scoped], disposition: str) -> int:
    return sum(
        1
        for s in scoped
        if s.result.closed_at is not None and s.result.disposition == disposition
    )


def document_sha256(document: dict[str, Any]) -> str:
    return hashlib.sha256(fedramp_ver.document_bytes(document)).hexdigest()


def fedramp_json(pack: FedrampPack) -> dict[str, Any]:
    """The FedRAMP part of a compliance report's evidence: the documents
    whole (so the signed PDF carries them) and each file's SHA-256."""
    klass = pack.certification_class
    return {
        "certification_class": klass or None,
        "package_uri": pack.package_uri or None,
        "as_of": fedramp_ver.stamp(pack.end),
        "rules": {
            "timeframes": [
                {
                    "pain": pain,
                    "spans": {
                        cr26.COLUMN_LABELS[c]: cr26.timeframe_text(span)
                        for c, span in zip(
                            cr26.COLUMNS, cr26.PVR_TIMEFRAMES[klass][pain], strict=True
                        )
                    },
                }
                for pain in (5, 4, 3, 2)
            ],
            "evaluate_within": cr26.timeframe_text(cr26.EVALUATION_TIMEFRAMES[klass]),
            "accepted_after": cr26.timeframe_text(cr26.ACCEPTED_AFTER),
            "history_every": cr26.HISTORY_UPDATE[klass],
        }
        if klass
        else None,
        "summary": _summary(pack) if klass else None,
        "documents": pack.documents,
        "files": {
            kind: {"name": FILE_NAMES[kind], "sha256": document_sha256(document)}
            for kind, document in sorted(pack.documents.items())
        },
    }


def fedramp_bundle_files(evidence_json: bytes) -> list[tuple[str, bytes]]:
    """The bundle's ``fedramp/`` files: the documents of the compliance
    evidence, as they are downloaded; none for an organization with neither
    a FedRAMP class nor a FIPS image (nothing to say)."""
    return fedramp_files(json.loads(evidence_json).get("fedramp"))


def fedramp_files(block: dict[str, Any] | None) -> list[tuple[str, bytes]]:
    if not block:
        return []
    documents = block["documents"]
    if not block["certification_class"] and not documents[CMU]["images"]:
        return []
    return [
        (f"fedramp/{FILE_NAMES[kind]}", fedramp_ver.document_bytes(document))
        for kind, document in sorted(documents.items())
    ]
