"""Report fixtures: an organization with an SLA ledger, FIPS and STIG
evidence, an ELS-covered series, exemptions, and a Report row for a window.

Other report tests import these (``compliance_org``, ``report_for``).
Times are relative to the start of today (UTC), so the builds the FIPS and
STIG builders date "days ago" fall inside the default window.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.reports.models import Report
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock, SlaPolicyVersion, SlaWaiver
from apps.vulns.models import Finding, Vulnerability
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers
from tests.factories import UserFactory
from tests.fips import builders as fips
from tests.sla.builders import ledger_clock, plan_org
from tests.stig import builders as stig

_serial = itertools.count(1)
DAY = timedelta(days=1)
WINDOW_DAYS = 90


def today() -> date:
    return timezone.now().astimezone(UTC).date()


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def default_window() -> tuple[date, date]:
    """The last WINDOW_DAYS whole UTC days, yesterday included."""
    end = today() - DAY
    return end - timedelta(days=WINDOW_DAYS - 1), end


# (severity, state, started, due, stopped): days from the window's start;
# None: not stopped. A state "exempt" row is stopped by VEX or a waiver.
CLOCK_ROWS: list[tuple[str, str, int, int, int | None]] = [
    ("critical", "met", 5, 12, 8),
    ("critical", "missed", 10, 17, 30),
    ("critical", "breached", 20, 27, None),
    ("high", "met", 2, 32, 10),
    ("high", "met", 3, 33, 20),
    ("high", "met", 30, 60, 45),
    ("high", "missed", 4, 34, 50),
    ("high", "breached", 40, 70, None),
    ("medium", "met", 1, 90, 40),
    ("medium", "at_risk", 60, 100, None),
    ("low", "open", 70, 200, None),
    ("high", "exempt", 15, 45, 25),  # VEX not_affected
    ("medium", "exempt", 25, 115, 35),  # approved waiver
    # Fixed before the window: not in its figures nor its appendix.
    ("high", "met", -60, -30, -40),
]


def sla_version() -> SlaPolicyVersion:
    ensure_tiers()
    version = SlaPolicyVersion.objects.filter(policy__key="enterprise-default").first()
    if version is None:
        # A transactional test's flush emptied what the data migration loaded.
        defaults_load()
        version = SlaPolicyVersion.objects.get(policy__key="enterprise-default")
    return version


@dataclass
class Scenario:
    org: object
    report: Report
    window: tuple[date, date]
    repository: object
    series: object
    clocks: list[SlaClock] = field(default_factory=list)
    vuln_ids: list[str] = field(default_factory=list)
    fips_module: object = None
    stig_scan: object = None
    els_series: object = None
    staff: tuple = ()


def _vulnerability(severity: str) -> Vulnerability:
    n = next(_serial)
    return catalog.vulnerability(
        f"CVE-2026-{7000 + n:05d}",
        severity=severity,
        disclosed_at=timezone.now() - timedelta(days=200),
    )


def add_clocks(
    org,
    series,
    rows=CLOCK_ROWS,
    *,
    window_start: date,
    staff: tuple | None = None,
) -> list[SlaClock]:
    """One finding and clock per row on a build of ``series``; exempt rows
    are stopped by a VEX statement (odd) or an approved waiver (even)."""
    version = sla_version()
    base = midnight(window_start) + timedelta(hours=9)
    image = catalog.build(series, built_at=base - 30 * DAY)
    comp = catalog.component(f"libreport{next(_serial)}")
    clocks = []
    exempt_seen = 0
    for severity, state, started, due, stopped in rows:
        vuln = _vulnerability(severity)
        started_at = base + started * DAY
        stopped_at = None if stopped is None else base + stopped * DAY
        fixed = state in ("met", "missed")
        f = Finding.objects.create(
            digest=image,
            vulnerability=vuln,
            component=comp,
            severity=severity,
            status=Finding.Status.FIXED if fixed else Finding.Status.AFFECTED,
            upstream_fix_at=started_at,
            detected_at=started_at,
            fixed_version="1.0-r1" if fixed else "",
            fixed_published_at=stopped_at if fixed else None,
        )
        clock = ledger_clock(
            org,
            f,
            version,
            severity=severity,
            state=state,
            started_at=started_at,
            due_at=base + due * DAY,
            stopped_at=stopped_at,
        )
        if state == "exempt":
            exempt_seen += 1
            if exempt_seen % 2:
                statement = catalog.vex(
                    vuln,
                    image=image,
                    impact_statement="The affected function is never called.",
                    timestamp=stopped_at,
                )
                clock.vex_statement = statement
                clock.stop_reason = SlaClock.StopReason.VEX
                clock.exempt_reason = "vulnerable_code_not_in_execute_path"
            else:
                requester, approver = staff or (
                    UserFactory(is_staff=True),
                    UserFactory(is_staff=True),
                )
                waiver = SlaWaiver.objects.create(
                    clock=clock,
                    requested_by=requester,
                    reason="Compensating control: the service is not exposed.",
                    expires_at=stopped_at + 180 * DAY,
                    state=SlaWaiver.State.APPROVED,
                    approved_by=approver,
                    approved_at=stopped_at,
                    created_at=stopped_at - DAY,
                )
                clock.waiver = waiver
                clock.stop_reason = SlaClock.StopReason.WAIVER
                clock.exempt_reason = waiver.reason
            clock.save(
                update_fields=[
                    "vex_statement",
                    "waiver",
                    "stop_reason",
                    "exempt_reason",
                ]
            )
        clocks.append(clock)
    return clocks


def report_for(
    org,
    *,
    kind: str = Report.Kind.ORG_COMPLIANCE,
    window: tuple[date, date] | None = None,
    data_cutoff: datetime | None = None,
    digest=None,
    requested_by=None,
) -> Report:
    """A queued Report row (what report_request leaves)."""
    start, end = window or default_window()
    return Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=kind,
        org=org,
        digest=digest,
        window_start=start,
        window_end=end,
        data_cutoff=data_cutoff or midnight(today()),
        requested_by=requested_by,
    )


def compliance_org(
    *,
    name: str | None = None,
    rows=CLOCK_ROWS,
    with_fips: bool = True,
    with_stig: bool = True,
    with_els: bool = True,
) -> Scenario:
    """An enterprise org mirroring one repository (FIPS, STIG and ELS
    included) with a ledger of ``rows`` clocks, a FIPS module in a FIPS
    build, a STIG scan of a STIG build, and a compliance Report row for the
    default window."""
    n = next(_serial)
    window = default_window()
    org = plan_org(
        "enterprise",
        name=name or f"Northwind Health {n}",
        starts_at=midnight(window[0]) - 200 * DAY,
    )
    owner = UserFactory(email=f"owner{n}@northwind.example")
    repo = catalog.repository(f"payments-api-{n}")
    series = catalog.series(repo, "2.4")
    Mirror.objects.create(
        org=org,
        repository=repo,
        include_fips=with_fips,
        include_stig=with_stig,
        include_els=with_els,
        created_by=owner,
        created_at=midnight(window[0]) - 100 * DAY,
    )
    staff = (UserFactory(is_staff=True), UserFactory(is_staff=True))
    clocks = add_clocks(org, series, rows, window_start=window[0], staff=staff)
    scenario = Scenario(
        org=org,
        report=report_for(org, window=window, requested_by=owner),
        window=window,
        repository=repo,
        series=series,
        clocks=clocks,
        vuln_ids=[c.finding.vulnerability.vuln_id for c in clocks],
        staff=staff,
    )
    if with_fips:
        module = fips.module(4282 + n, sunset_in=400)
        fips.attest(fips.fips_build(series, built_days_ago=6), module)
        scenario.fips_module = module
    if with_stig:
        image = catalog.build(
            series, stig=True, built_at=timezone.now() - timedelta(days=5)
        )
        scenario.stig_scan = stig.scan(
            image,
            [
                (1001, "high", "pass"),
                (1002, "high", "fail"),
                (1003, "medium", "pass"),
                (1004, "medium", "notapplicable"),
                (1005, "low", "pass"),
            ],
        )
    if with_els:
        scenario.els_series = catalog.series(
            repo, "1.9", ga=-2000, eol=-200, support=-100, els=500
        )
    return scenario
