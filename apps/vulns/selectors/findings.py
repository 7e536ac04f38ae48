"""Reads of components, vulnerabilities and findings.

The digest page and the public API read through these, so both show the same
rows in the same order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from apps.catalog.models import ImageDigest

from ..models import (
    SEVERITY_ORDER,
    Component,
    DigestComponent,
    Finding,
    Severity,
    Vulnerability,
)

# Findings a reader still has to care about: not fixed, not ruled out.
OPEN_STATUSES = (Finding.Status.AFFECTED, Finding.Status.UNDER_INVESTIGATION)

SEVERITY_RANK = Case(
    *[When(severity=s, then=Value(rank)) for s, rank in SEVERITY_ORDER.items()],
    default=Value(len(SEVERITY_ORDER)),
    output_field=IntegerField(),
)


def _json_string_in_list(value: str) -> str:
    # A JSON list's text holds each member quoted, so searching for the quoted
    # value matches whole members only ("CVE-2024-1" does not find
    # "CVE-2024-12"), on SQLite and PostgreSQL alike.
    return json.dumps(value)


# --------------------------------------------------------------------------
# Components
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentFilter:
    digest: str = ""  # canonical digest: the components its SBOM lists
    type: str = ""  # purl type
    name: str = ""  # exact package name


def component_list(*, filters: ComponentFilter = ComponentFilter()) -> QuerySet:
    components = Component.objects.all()
    if filters.digest:
        components = components.filter(appearances__digest__digest=filters.digest)
    if filters.type:
        components = components.filter(type=filters.type)
    if filters.name:
        components = components.filter(name=filters.name)
    return components


def digest_component_list(*, image: ImageDigest) -> QuerySet[DigestComponent]:
    """What a build's SBOM lists, by package type, name and version."""
    return (
        DigestComponent.objects.filter(digest=image)
        .select_related("component")
        .order_by("component__type", "component__name", "component__version", "id")
    )


# --------------------------------------------------------------------------
# Vulnerabilities
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class VulnerabilityFilter:
    id: str = ""  # the advisory id or one of its aliases
    severity: str = ""
    kev: bool | None = None


def vulnerability_list(
    *, filters: VulnerabilityFilter = VulnerabilityFilter()
) -> QuerySet[Vulnerability]:
    vulns = Vulnerability.objects.all()
    if filters.id:
        vulns = vulns.filter(
            Q(vuln_id__iexact=filters.id)
            | Q(aliases__icontains=_json_string_in_list(filters.id))
        )
    if filters.severity:
        vulns = vulns.filter(severity=filters.severity)
    if filters.kev is not None:
        vulns = vulns.filter(kev=filters.kev)
    return vulns


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class FindingFilter:
    repository: str = ""  # repository name
    series: int | None = None  # series id
    digest: str = ""  # canonical digest
    severity: str = ""
    status: str = ""
    kev: bool | None = None
    vulnerability: str = ""  # advisory id


def finding_list(*, filters: FindingFilter = FindingFilter()) -> QuerySet[Finding]:
    """Findings with their vulnerability, component and build joined."""
    findings = Finding.objects.select_related(
        "vulnerability", "component", "digest__variant__series__repository", "fixed_in"
    )
    if filters.repository:
        findings = findings.filter(
            digest__variant__series__repository__name=filters.repository
        )
    if filters.series is not None:
        findings = findings.filter(digest__variant__series_id=filters.series)
    if filters.digest:
        findings = findings.filter(digest__digest=filters.digest)
    if filters.severity:
        findings = findings.filter(severity=filters.severity)
    if filters.status:
        findings = findings.filter(status=filters.status)
    if filters.kev is not None:
        findings = findings.filter(vulnerability__kev=filters.kev)
    if filters.vulnerability:
        # Any id it is known by: its own, or an alias (a CVE for a GHSA
        # record, a PYSEC or distribution id), matched whole.
        wanted = filters.vulnerability.strip()
        findings = findings.filter(
            Q(vulnerability__vuln_id__iexact=wanted)
            | Q(vulnerability__aliases__icontains=json.dumps(wanted))
        )
    return findings


def digest_finding_list(
    *, image: ImageDigest, filters: FindingFilter = FindingFilter()
) -> QuerySet[Finding]:
    """One build's findings, worst first: severity, then KEV, then advisory id."""
    return (
        finding_list(filters=filters)
        .filter(digest=image)
        .select_related(None)
        .select_related("vulnerability", "component")
        .order_by(SEVERITY_RANK, "-vulnerability__kev", "vulnerability__vuln_id", "id")
    )


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    label: str
    open: int  # affected or under investigation
    total: int


def digest_severity_counts(*, image: ImageDigest) -> list[SeverityCount]:
    """Findings of a build per severity, worst first (one query)."""
    open_by: dict[str, int] = {}
    total_by: dict[str, int] = {}
    # A withdrawn finding is history, not a finding: in neither count.
    rows = (
        Finding.objects.filter(digest=image)
        .exclude(status=Finding.Status.WITHDRAWN)
        .values("severity", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        total_by[row["severity"]] = total_by.get(row["severity"], 0) + row["n"]
        if row["status"] in OPEN_STATUSES:
            open_by[row["severity"]] = open_by.get(row["severity"], 0) + row["n"]
    return [
        SeverityCount(
            severity=severity,
            label=Severity(severity).label,
            open=open_by.get(severity, 0),
            total=total_by.get(severity, 0),
        )
        for severity in SEVERITY_ORDER
        # "None" and "Unknown" only where a build has some.
        if severity not in (Severity.NONE, Severity.UNKNOWN) or severity in total_by
    ]
