"""Metrics over a window, service credits, and the regulatory overlays."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from apps.sla import overlays, services
from apps.sla.clock import Events
from apps.sla.models import SlaClock, SlaPolicyVersion
from apps.sla.selectors.credits import sla_credits_owed, sla_credits_owed_all
from apps.sla.selectors.metrics import percentile, sla_metrics
from apps.vulns.models import Finding

from .builders import (
    NOW,
    finding,
    ledger_clock,
    many_findings,
    mirror,
    plan_org,
    repo_and_series,
    staff,
)

pytestmark = pytest.mark.usefixtures("sla_defaults")
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
DAY = timedelta(days=1)


def _version() -> SlaPolicyVersion:
    return SlaPolicyVersion.objects.get(policy__key="enterprise-default")


def _ledger(org, rows):
    """rows: (severity, state, started_at, due_at, stopped_at)."""
    repo, series = repo_and_series()
    mirror(org, repo)
    findings = many_findings(series, len(rows))
    version = _version()
    for f, (severity, state, started, due, stopped) in zip(findings, rows, strict=True):
        ledger_clock(
            org,
            f,
            version,
            severity=severity,
            state=state,
            started_at=started,
            due_at=due,
            stopped_at=stopped,
        )


T = datetime(2026, 3, 2, tzinfo=UTC)
ROWS = [
    # Met in the window: MTTR 1, 2, 3, 4 days.
    ("high", "met", T, T + 9 * DAY, T + 1 * DAY),
    ("high", "met", T, T + 9 * DAY, T + 2 * DAY),
    ("high", "met", T, T + 9 * DAY, T + 3 * DAY),
    ("critical", "met", T, T + 9 * DAY, T + 4 * DAY),
    # Missed in the window: MTTR 10 days.
    ("high", "missed", T, T + 9 * DAY, T + 10 * DAY),
    # Breached in the window (deadline passed in March, unfixed).
    ("critical", "breached", T, T + 9 * DAY, None),
    # Breached before the window: an open breach, not this window's figure.
    ("high", "breached", T - 60 * DAY, T - 50 * DAY, None),
    # Fixed outside the window.
    ("high", "met", T - 40 * DAY, T - 30 * DAY, T - 35 * DAY),
    ("medium", "at_risk", T, T + 42 * DAY, None),
    ("medium", "open", T, T + 42 * DAY, None),
    ("high", "exempt", T, T + 9 * DAY, T + DAY),
]


def test_metrics_for_one_org_in_a_window():
    org, other = plan_org("enterprise"), plan_org("enterprise")
    _ledger(org, ROWS)
    _ledger(other, [("high", "missed", T, T + 9 * DAY, T + 20 * DAY)])
    m = sla_metrics(org=org, start=WINDOW[0], end=WINDOW[1])
    high, critical, medium = (
        m.severities["high"],
        m.severities["critical"],
        m.severities["medium"],
    )
    assert (high.met, high.missed, high.breached, high.open_breaches) == (3, 1, 0, 1)
    assert high.attainment == 75.0
    assert (critical.met, critical.breached, critical.attainment) == (1, 1, 50.0)
    assert (medium.at_risk, medium.attainment) == (1, None)
    assert m.severities["low"].attainment is None
    assert (m.overall.met, m.overall.missed, m.overall.breached) == (4, 1, 1)
    assert m.overall.attainment == round(100 * 4 / 6, 1)
    assert (m.overall.open_breaches, m.overall.at_risk) == (2, 1)
    # High: 1, 2, 3, 10 days; percentile_cont interpolates.
    assert high.mttr_median == timedelta(days=2.5)
    assert high.mttr_p90 == timedelta(days=7.9)
    # Overall: 1, 2, 3, 4, 10 days.
    assert m.overall.mttr_median == timedelta(days=3)
    assert m.overall.mttr_p90 == timedelta(days=7.6)


def test_metrics_for_all_orgs_add_every_org_up():
    org, other = plan_org("enterprise"), plan_org("enterprise")
    _ledger(org, ROWS)
    _ledger(other, [("high", "missed", T, T + 9 * DAY, T + 20 * DAY)])
    m = sla_metrics(start=WINDOW[0], end=WINDOW[1])
    assert (m.severities["high"].met, m.severities["high"].missed) == (3, 2)
    assert m.overall.mttr_p90 is not None


def test_metrics_cost_a_fixed_number_of_queries(django_assert_max_num_queries):
    org = plan_org("enterprise")
    _ledger(org, ROWS)
    with django_assert_max_num_queries(3):
        sla_metrics(org=org, start=WINDOW[0], end=WINDOW[1])


def test_an_empty_or_reversed_window():
    org = plan_org("enterprise")
    m = sla_metrics(org=org, start=WINDOW[0], end=WINDOW[1])
    assert m.overall.attainment is None
    assert m.overall.mttr_median is None
    with pytest.raises(ValueError, match="end after"):
        sla_metrics(org=org, start=WINDOW[1], end=WINDOW[0])


def test_percentile_matches_percentile_cont():
    values = [timedelta(days=d) for d in (4, 1, 3, 2)]
    assert percentile(values, 0.5) == timedelta(days=2.5)
    assert percentile(values, 0.9) == timedelta(days=3.7)
    assert percentile([timedelta(1)], 0.9) == timedelta(1)
    assert percentile([], 0.5) is None


# --- credits --------------------------------------------------------------------------


def _contract_org(fee=100_000, percent=5, cap=20):
    org = plan_org("enterprise")
    actor = staff()
    version = services.sla_policy_create(
        key=f"credit-{org.pk}",
        name="Credited",
        actor=actor,
        org=org,
        critical_days=5,
        high_days=5,
        credit_percent_per_breach=percent,
        credit_cap_percent=cap,
    )
    services.sla_policy_assign(
        org=org,
        policy=version.policy,
        effective_from=T - 90 * DAY,
        actor=actor,
        monthly_fee_cents=fee,
    )
    return org, version


def _breaches(org, version, dues, state="breached"):
    repo, series = repo_and_series()
    mirror(org, repo)
    for f, due in zip(many_findings(series, len(dues)), dues, strict=True):
        ledger_clock(
            org,
            f,
            version,
            state=state,
            started_at=due - 7 * DAY,
            due_at=due,
            stopped_at={"met": due - DAY, "missed": due + DAY}.get(state),
        )


def test_credits_per_breach_capped_per_month():
    org, version = _contract_org()
    march = [datetime(2026, 3, d, tzinfo=UTC) for d in (3, 10)]
    _breaches(org, version, march)
    _breaches(org, version, [datetime(2026, 3, 20, tzinfo=UTC)], state="missed")
    _breaches(org, version, [datetime(2026, 4, d, tzinfo=UTC) for d in range(1, 8)])
    credits = sla_credits_owed(
        org=org,
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 5, 1, tzinfo=UTC),
    )
    lines = [(line.month, line.breaches, line.credit_cents) for line in credits.lines]
    # March: 3 x 5 % of $1,000; April: 7 x 5 % capped at 20 %.
    assert lines == [(date(2026, 3, 1), 3, 15_000), (date(2026, 4, 1), 7, 20_000)]
    assert credits.total_cents == 35_000
    everyone = sla_credits_owed_all(
        start=datetime(2026, 3, 1, tzinfo=UTC), end=datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert [(c.org, c.total_cents) for c in everyone] == [(org, 15_000)]


def test_default_policies_grant_no_credits_and_met_clocks_owe_nothing():
    org = plan_org("enterprise")
    _breaches(org, _version(), [datetime(2026, 3, 3, tzinfo=UTC)])
    contract_org, version = _contract_org()
    _breaches(contract_org, version, [datetime(2026, 3, 3, tzinfo=UTC)], state="met")
    for o in (org, contract_org):
        assert sla_credits_owed(org=o, start=WINDOW[0], end=WINDOW[1]).lines == []


def test_credits_use_the_plan_price_when_the_assignment_names_no_fee():
    org, version = _contract_org(fee=None)
    _breaches(org, version, [datetime(2026, 3, 3, tzinfo=UTC)])
    credits = sla_credits_owed(org=org, start=WINDOW[0], end=WINDOW[1])
    # A contract policy has no plan: no fee known, no amount invented.
    assert [(line.breaches, line.credit_cents) for line in credits.lines] == [(1, 0)]


# --- overlays ---

EV = Events(
    disclosed_at=datetime(2026, 1, 2, tzinfo=UTC),
    upstream_fix_at=datetime(2026, 1, 31, 10, tzinfo=UTC),
    detected_at=datetime(2026, 2, 1, 10, tzinfo=UTC),
    released_at=datetime(2026, 1, 1, tzinfo=UTC),
)
D = datetime(2026, 2, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (
            "critical",
            {
                "fedramp_ra5d": D + 30 * DAY,
                # One month from 31 January is the last day of February.
                "pci_dss_633": datetime(2026, 2, 28, 10, tzinfo=UTC),
                "cra": D + 7 * DAY,
            },
        ),
        (
            "high",
            {
                "fedramp_ra5d": D + 30 * DAY,
                "pci_dss_633": datetime(2026, 2, 28, 10, tzinfo=UTC),
                "cra": D + 30 * DAY,
            },
        ),
        (
            "medium",
            {"fedramp_ra5d": D + 90 * DAY, "pci_dss_633": None, "cra": D + 90 * DAY},
        ),
        ("low", {"fedramp_ra5d": D + 180 * DAY, "pci_dss_633": None, "cra": None}),
    ],
)
def test_overlay_deadlines(severity, expected):
    results = overlays.measure(
        severity=severity, events=EV, fixed_at=None, exempt=False, now=D
    )
    assert {r.key: r.due_at for r in results} == expected
    for r in results:
        assert r.status == ("open" if r.due_at else "not_applicable")


@pytest.mark.parametrize(
    ("fixed_at", "exempt", "now", "expected"),
    [
        (D + 7 * DAY, False, D + 40 * DAY, {"fedramp_ra5d": "met", "cra": "met"}),
        (D + 8 * DAY, False, D + 40 * DAY, {"fedramp_ra5d": "met", "cra": "missed"}),
        (None, False, D + 8 * DAY, {"fedramp_ra5d": "open", "cra": "breached"}),
        (None, True, D + 8 * DAY, {"fedramp_ra5d": "exempt", "cra": "exempt"}),
        # A fix not yet shipped as of ``now`` does not count.
        (D + 20 * DAY, False, D + 8 * DAY, {"fedramp_ra5d": "open", "cra": "breached"}),
    ],
)
def test_overlay_status(fixed_at, exempt, now, expected):
    results = overlays.measure(
        severity="critical", events=EV, fixed_at=fixed_at, exempt=exempt, now=now
    )
    assert {r.key: r.status for r in results if r.key in expected} == expected


def test_pci_without_an_upstream_fix_starts_at_detection_and_says_so():
    events = Events(None, None, D, None)
    pci = overlays.measure(
        severity="high", events=events, fixed_at=None, exempt=False, now=D
    )[1]
    assert (pci.start_event, pci.started_at) == ("detection", D)


@pytest.mark.parametrize(
    ("when", "months", "expected"),
    [
        (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
        (datetime(2028, 1, 31, tzinfo=UTC), 1, datetime(2028, 2, 29, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 1, datetime(2027, 1, 15, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 4, 30, tzinfo=UTC)),
    ],
)
def test_add_months(when, months, expected):
    assert overlays.add_months(when, months) == expected


def test_a_clocks_overlays_and_the_summary_cost_no_extra_query(
    django_assert_num_queries,
):
    org = plan_org("enterprise")
    repo, series = repo_and_series()
    mirror(org, repo)
    for severity in ("critical", "high", "medium"):
        services.sla_clocks_open_for_finding(
            finding=finding(series, severity=severity), now=NOW
        )
    with django_assert_num_queries(1):
        clocks = list(
            SlaClock.objects.select_related("finding__vulnerability", "finding__digest")
        )
        summary = overlays.overlay_summary(
            overlays.clock_overlays(c, now=NOW + 50 * DAY) for c in clocks
        )
    assert summary["fedramp_ra5d"]["counts"] == {"breached": 2, "open": 1}
    assert summary["cra"]["percent"] == 0.0
    assert summary["pci_dss_633"]["counts"] == {"breached": 2, "not_applicable": 1}


def test_overlay_figures_from_rows_equal_those_from_clocks():
    org = plan_org("enterprise")
    repo, series = repo_and_series()
    mirror(org, repo)
    made = []
    for severity in ("critical", "high", "medium", "low", "high", "critical"):
        f = finding(series, severity=severity)
        services.sla_clocks_open_for_finding(finding=f, now=NOW)
        made.append(f)
    # Fixed after the clocks opened: one early, one late; one more exempt.
    for f, days in ((made[0], 2), (made[2], 200)):
        Finding.objects.filter(pk=f.pk).update(
            status="fixed", fixed_published_at=NOW + days * DAY
        )
    SlaClock.objects.filter(finding=made[5]).update(
        state="exempt",
        stopped_at=NOW + DAY,
        stop_reason="waiver",
        exempt_reason="Compensating control.",
    )
    seen: set[str] = set()
    for later in (1, 10, 50, 400):
        now = NOW + later * DAY
        clocks = SlaClock.objects.select_related(
            "finding__vulnerability", "finding__digest"
        )
        rows = SlaClock.objects.values_list(*overlays.ROW_FIELDS)
        summary = overlays.overlay_attainment_rows(rows, now=now)
        assert summary == overlays.overlay_summary(
            overlays.clock_overlays(c, now=now) for c in clocks
        )
        seen.update(s for o in summary.values() for s in o["counts"])
    assert {"met", "exempt", "breached"} <= seen, seen
