"""Builders for the SLA ledger tests: fixed times, orgs holding a plan's
grants, mirrors and findings with every SLA timestamp set."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from apps.entitlements.models import Mirror
from apps.vulns.models import Finding
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import OrganizationFactory, UserFactory

# A Monday, outside any US holiday week.
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)

_serial = itertools.count(1)

SELECT = {"sla": None, "fips": None, "stig": None, "sso": None}
SELECT_COUNTED = {"customizations": 5, "auditor_seats": 2}
ENTERPRISE_COUNTED = {"customizations": None, "auditor_seats": None}


def plan_org(
    plan: str = "select",
    *,
    starts_at: datetime = LONG_AGO,
    ends_at: datetime | None = None,
    name: str | None = None,
):
    """An org holding every grant of the plan, as a subscription leaves them."""
    n = next(_serial)
    org = OrganizationFactory(features=(), name=name or f"SLA org {n}", slug=f"sla-{n}")
    if plan == "community":
        return org
    entitle(org, *SELECT, starts_at=starts_at, ends_at=ends_at)
    counted = SELECT_COUNTED if plan == "select" else ENTERPRISE_COUNTED
    for key, quantity in counted.items():
        entitle(org, key, quantity=quantity, starts_at=starts_at, ends_at=ends_at)
    return org


def staff(**kwargs):
    return UserFactory(is_staff=True, **kwargs)


def repo_and_series(name: str | None = None):
    repo = catalog.repository(name or f"repo{next(_serial)}")
    return repo, catalog.series(repo)


def mirror(org, repo, *, created_at: datetime = LONG_AGO) -> Mirror:
    return Mirror.objects.create(
        org=org, repository=repo, created_by=UserFactory(), created_at=created_at
    )


def finding(
    series,
    *,
    severity: str = "high",
    upstream_fix_at: datetime | None = None,
    disclosed_at: datetime | None = None,
    detected_at: datetime | None = None,
    built_at: datetime | None = None,
    kev_due_date=None,
    status: str = Finding.Status.AFFECTED,
    image=None,
    vuln=None,
) -> Finding:
    """An affected finding; by default its upstream fix came out at NOW."""
    n = next(_serial)
    vuln = vuln or catalog.vulnerability(
        f"CVE-2026-{n:05d}",
        severity=severity,
        disclosed_at=disclosed_at,
        kev=kev_due_date is not None,
        kev_due_date=kev_due_date,
    )
    image = image or catalog.build(series, built_at=built_at or NOW - timedelta(days=3))
    return Finding.objects.create(
        digest=image,
        vulnerability=vuln,
        component=catalog.component(f"lib{n}"),
        status=status,
        severity=severity,
        disclosed_at=disclosed_at,
        upstream_fix_at=NOW if upstream_fix_at is None else upstream_fix_at,
        detected_at=detected_at or NOW,
    )


def fix(finding: Finding, at: datetime) -> Finding:
    finding.status = Finding.Status.FIXED
    finding.fixed_published_at = at
    finding.save(update_fields=["status", "fixed_published_at"])
    return finding


def many_findings(series, n: int, *, severity: str = "high") -> list[Finding]:
    """``n`` affected findings on one digest, written in bulk."""
    from apps.vulns.models import Vulnerability

    image = catalog.build(series, built_at=NOW - timedelta(days=3))
    comp = catalog.component(f"bulk{next(_serial)}")
    tag = next(_serial)
    vulns = Vulnerability.objects.bulk_create(
        Vulnerability(vuln_id=f"CVE-2099-{tag}-{i}", severity=severity)
        for i in range(n)
    )
    return Finding.objects.bulk_create(
        Finding(
            digest=image,
            vulnerability=v,
            component=comp,
            severity=severity,
            upstream_fix_at=NOW,
            detected_at=NOW,
        )
        for v in vulns
    )


def ledger_clock(
    org,
    f,
    version,
    *,
    severity="high",
    state="open",
    started_at=NOW,
    due_at=None,
    stopped_at=None,
):
    """A clock row written directly, for the metrics' tables."""
    from apps.sla.models import SlaClock

    due_at = due_at or started_at + timedelta(days=9)
    return SlaClock.objects.create(
        org=org,
        finding=f,
        policy_version=version,
        severity=severity,
        start_event="upstream_fix",
        started_at=started_at,
        due_at=due_at,
        at_risk_at=started_at + (due_at - started_at) * 70 // 100,
        state=state,
        stopped_at=stopped_at,
        stop_reason="fixed" if state in ("met", "missed") else "",
    )
