"""The image dossier of one build: its tags, attestations, provenance,
components, findings with the VEX in force, STIG results and FIPS modules, and
what may be said of its vulnerabilities, all as of the data cut-off."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q

from apps.catalog.formats.verdict import CHECK_LABELS
from apps.catalog.models import Attestation, ImageDigest, TagEvent
from apps.fips.selectors import digest_crypto_modules
from apps.fips.status import module_status
from apps.stig.selectors import digest_latest_scans
from apps.vulns.models import DigestComponent, Finding, VexStatement
from apps.vulns.selectors import assessment as vuln_assessment

from ..models import Report
from .common import CHUNK, Progress, day, scan_json, ts

SIGNATURE_STATUSES = tuple(Attestation.SignatureStatus.values)


def _tags(image: ImageDigest, cutoff: datetime) -> list[dict]:
    return [
        {
            "tag": t["tag"],
            "assigned_at": ts(t["assigned_at"]),
            "removed_at": ts(t["removed_at"]),
            "removal_reason": t["removal_reason"],
        }
        for t in TagEvent.objects.filter(digest=image, assigned_at__lt=cutoff)
        .values("tag", "assigned_at", "removed_at", "removal_reason")
        .order_by("tag", "assigned_at")
    ]


def _attestations(image: ImageDigest, cutoff: datetime) -> list[dict]:
    """The build's attestations with each one's signature verdict (as last
    checked: a signer revoked since shows as no longer trusted)."""
    return [
        {
            "kind": a["kind"],
            "sha256": a["sha256"],
            "size": a["size"],
            "media_type": a["media_type"],
            "spec_version": a["spec_version"],
            "signer_key_id": a["signer_key_id"],
            "signature_verified": a["signature_status"] == "verified",
            "signature": {
                "status": a["signature_status"],
                "check": a["signature_check"],
                "check_label": CHECK_LABELS.get(a["signature_check"], ""),
                "signer": a["signature_signer__name"] or "",
                "identity": a["signature_identity"],
                "signed_at": ts(a["signature_signed_at"]),
                "checked_at": ts(a["signature_checked_at"]),
                "message": a["signature_message"],
            },
            "created_at": ts(a["created_at"]),
        }
        for a in Attestation.objects.filter(digest=image, created_at__lt=cutoff)
        .values(
            "kind",
            "sha256",
            "size",
            "media_type",
            "spec_version",
            "signer_key_id",
            "signature_status",
            "signature_check",
            "signature_signer__name",
            "signature_identity",
            "signature_signed_at",
            "signature_checked_at",
            "signature_message",
            "created_at",
        )
        .order_by("kind", "created_at", "sha256")
    ]


def signature_counts(attestations: list[dict]) -> dict[str, int]:
    """How many attestations end in each signature verdict, every verdict
    named (0 when none), and how many of the untrusted ones are so because
    their signer was revoked since ("no longer trusted")."""
    counts = {status: 0 for status in SIGNATURE_STATUSES}
    counts["no_longer_trusted"] = 0
    for a in attestations:
        signature = a["signature"]
        counts[signature["status"]] += 1
        if signature["status"] == "untrusted" and signature["check"] == "revoked":
            counts["no_longer_trusted"] += 1
    return counts


def _provenance(image: ImageDigest, cutoff: datetime) -> list[Any]:
    return [
        _plain(a.summary)
        for a in Attestation.objects.filter(
            digest=image, kind=Attestation.Kind.SLSA_PROVENANCE, created_at__lt=cutoff
        ).order_by("created_at", "sha256")
    ]


def _components(image: ImageDigest) -> list[dict]:
    return [
        {
            "purl": c["component__purl"],
            "name": c["component__name"],
            "version": c["component__version"],
            "type": c["component__type"],
            "licenses": list(c["component__licenses"] or []),
        }
        for c in DigestComponent.objects.filter(digest=image)
        .values(
            "component__purl",
            "component__name",
            "component__version",
            "component__type",
            "component__licenses",
        )
        .order_by("component__purl")
        .iterator(chunk_size=CHUNK)
    ]


def _vex_statements(image: ImageDigest, cutoff: datetime) -> dict[int, list[dict]]:
    """The VEX statements in force at the cut-off about this build (or its
    whole repository), by vulnerability id."""
    statements: dict[int, list[dict]] = {}
    vex_rows = (
        VexStatement.objects.in_force_at(cutoff)
        .filter(
            Q(digest=image)
            | Q(digest__isnull=True, repository=image.variant.series.repository),
            timestamp__lt=cutoff,
        )
        .values(
            "vulnerability_id",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "subcomponent",
            "author",
            "timestamp",
        )
        .order_by("vulnerability_id", "timestamp", "id")
    )
    for v in vex_rows.iterator(chunk_size=CHUNK):
        statements.setdefault(v["vulnerability_id"], []).append(
            {
                "status": v["status"],
                "justification": v["justification"],
                "impact_statement": v["impact_statement"],
                "action_statement": v["action_statement"],
                "subcomponent": v["subcomponent"],
                "author": v["author"],
                "timestamp": ts(v["timestamp"]),
            }
        )
    return statements


def _findings(image: ImageDigest, statements: dict[int, list[dict]]) -> list[dict]:
    return [
        {
            "vuln_id": f["vulnerability__vuln_id"],
            "kev": f["vulnerability__kev"],
            "component": f["component__purl"],
            "severity": f["severity"],
            "status": f["status"],
            "fixed_version": f["fixed_version"],
            "detected_at": ts(f["detected_at"]),
            "fixed_published_at": ts(f["fixed_published_at"]),
            "vex": statements.get(f["vulnerability_id"], []),
        }
        for f in (
            # Findings in force: one whose advisory was withdrawn is history.
            Finding.objects.filter(digest=image)
            .exclude(status=Finding.Status.WITHDRAWN)
            .values(
                "vulnerability_id",
                "vulnerability__vuln_id",
                "vulnerability__kev",
                "component__purl",
                "severity",
                "status",
                "fixed_version",
                "detected_at",
                "fixed_published_at",
            )
            .order_by("vulnerability__vuln_id", "component__purl")
            .iterator(chunk_size=CHUNK)
        )
    ]


def _fips_modules(image: ImageDigest, cutoff: datetime) -> list[dict]:
    return [
        {
            "certificate": link.module.certificate_number,
            "name": link.module.name,
            "vendor": link.module.vendor,
            "version": link.module.module_version,
            "standard": link.module.get_standard_display(),
            "status": module_status(link.module, on=cutoff).status,
            "status_label": module_status(link.module, on=cutoff).label,
            "registry_status": link.module.status,
            "sunset_date": day(link.module.sunset_date),
        }
        for link in digest_crypto_modules(image=image)
    ]


def _image_json(image: ImageDigest, cutoff: datetime) -> dict[str, Any]:
    series = image.variant.series
    return {
        "repository": series.repository.name,
        "series": series.name,
        "variant": str(image.variant),
        "fips": image.variant.fips,
        "stig": image.variant.stig,
        "digest": image.digest,
        "architectures": sorted(image.architectures or []),
        "built_at": ts(image.built_at),
        "lifecycle": {
            "support_end": day(series.support_end),
            "els_end": day(series.els_end),
            "status_at_cutoff": series.status_on(cutoff.date()),
        },
    }


def image_dossier_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    if report.digest_id is None:
        raise ValueError("An image dossier is for one digest.")
    image = ImageDigest.objects.select_related("variant__series__repository").get(
        pk=report.digest_id
    )
    cutoff = report.data_cutoff
    progress(10, "Tags and attestations")
    tags = _tags(image, cutoff)
    attestations = _attestations(image, cutoff)
    provenance = _provenance(image, cutoff)
    progress(25, "Components")
    components = _components(image)
    progress(45, "Vulnerabilities and VEX")
    findings = _findings(image, _vex_statements(image, cutoff))
    progress(60, "STIG and FIPS evidence")
    stig = sorted(
        (scan_json(s) for s in digest_latest_scans(image=image)),
        key=lambda s: s["benchmark_id"],
    )
    fips = _fips_modules(image, cutoff)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    # What may be said of the findings: advisory sources as of the cut-off.
    assessment = vuln_assessment.digest_assessment(digest=image, as_of=cutoff)
    return {
        "image": _image_json(image, cutoff),
        "tags": tags,
        "attestations": attestations,
        "signature_counts": signature_counts(attestations),
        "provenance": provenance,
        "components": components,
        "findings": findings,
        "finding_counts": {k: counts[k] for k in sorted(counts)},
        "assessment": vuln_assessment.assessment_json(assessment),
        "advisory_sources": vuln_assessment.advisory_sources_json([assessment]),
        "kev": vuln_assessment.kev_json(vuln_assessment.kev_last_import(as_of=cutoff)),
        "stig": stig,
        "fips_modules": fips,
    }


def _plain(value: Any) -> Any:
    """A stored JSON summary with keys sorted and no float surprises."""
    if isinstance(value, dict):
        return {str(k): _plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value
