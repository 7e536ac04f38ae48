"""The periodic transitions: bulk updates, edges exactly at the thresholds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.sla import services, tasks
from apps.sla.models import SlaClock

from .builders import (
    NOW,
    finding,
    fix,
    many_findings,
    mirror,
    plan_org,
    repo_and_series,
)

pytestmark = pytest.mark.usefixtures("sla_defaults")
State = SlaClock.State
US = timedelta(microseconds=1)


@pytest.fixture
def clock():
    org = plan_org("select")
    repo, series = repo_and_series()
    mirror(org, repo)
    f = finding(series)
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    return SlaClock.objects.get()


def _state_after(c: SlaClock, now) -> str:
    services.sla_transitions_run(now=now)
    c.refresh_from_db()
    return c.state


@pytest.mark.parametrize(
    ("label", "at", "expected"),
    [
        ("just before the at-risk threshold", lambda c: c.at_risk_at - US, State.OPEN),
        ("exactly at the at-risk threshold", lambda c: c.at_risk_at, State.AT_RISK),
        ("just before the deadline", lambda c: c.due_at - US, State.AT_RISK),
        ("exactly at the deadline", lambda c: c.due_at, State.BREACHED),
        (
            "long after the deadline",
            lambda c: c.due_at + timedelta(days=30),
            State.BREACHED,
        ),
    ],
)
def test_threshold_edges(clock, label, at, expected):
    assert _state_after(clock, at(clock)) == expected, label


def test_the_at_risk_threshold_is_70_percent_of_the_window(clock):
    assert (
        clock.at_risk_at - clock.started_at == (clock.due_at - clock.started_at) * 0.7
    )


def test_a_clock_can_go_straight_from_open_to_breached(clock):
    counts = services.sla_transitions_run(now=clock.due_at)
    assert (counts["breached"], counts["at_risk"]) == (1, 0)


@pytest.mark.parametrize(
    ("label", "fixed_after_due", "run_after_due", "expected"),
    [
        (
            "fixed well before the deadline",
            -timedelta(days=2),
            -timedelta(days=1),
            "met",
        ),
        ("fixed exactly at the deadline", timedelta(0), timedelta(0), "met"),
        ("fixed on time, noticed after the deadline", -US, timedelta(days=3), "met"),
        ("fixed one second late", timedelta(seconds=1), timedelta(days=1), "missed"),
        ("fixed late after a breach was recorded", timedelta(days=2), None, "missed"),
    ],
)
def test_fixed_on_time_is_met_and_late_is_missed(
    clock, label, fixed_after_due, run_after_due, expected
):
    if run_after_due is None:
        assert _state_after(clock, clock.due_at + timedelta(days=1)) == State.BREACHED
        run_after_due = timedelta(days=3)
    fixed_at = clock.due_at + fixed_after_due
    fix(clock.finding, fixed_at)
    assert _state_after(clock, clock.due_at + run_after_due) == expected, label
    assert (clock.stopped_at, clock.stop_reason) == (fixed_at, "fixed")
    # Decided: later runs change nothing.
    assert _state_after(clock, clock.due_at + timedelta(days=60)) == expected


def test_an_exempt_clock_stays_exempt_when_the_fix_ships(clock):
    SlaClock.objects.filter(pk=clock.pk).update(
        state=State.EXEMPT, stopped_at=NOW, stop_reason="vex"
    )
    fix(clock.finding, clock.due_at + timedelta(days=1))
    assert _state_after(clock, clock.due_at + timedelta(days=2)) == State.EXEMPT


def test_a_second_run_at_the_same_time_changes_nothing(clock):
    services.sla_transitions_run(now=clock.due_at)
    assert set(services.sla_transitions_run(now=clock.due_at).values()) == {0}


def test_the_celery_task_runs_the_transitions(clock, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert tasks.transitions_run.name == "sla.transitions_run"
    result = tasks.transitions_run.delay().get()
    assert set(result) >= {"met", "missed", "breached", "at_risk", "waivers_expired"}


def _seed(n: int) -> None:
    org = plan_org("select")
    repo, series = repo_and_series()
    m = mirror(org, repo)
    findings = many_findings(series, n)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    # A third fixed on time, a third fixed late, a third left to breach.
    for i, f in enumerate(findings):
        if i % 3 == 0:
            fix(f, NOW + timedelta(days=1))
        elif i % 3 == 1:
            fix(f, NOW + timedelta(days=20))


def _queries(now) -> tuple[int, dict[str, int]]:
    with CaptureQueriesContext(connection) as ctx:
        counts = services.sla_transitions_run(now=now)
    return len(ctx.captured_queries), counts


def test_the_run_costs_the_same_queries_for_10_or_200_clocks(
    django_assert_max_num_queries,
):
    _seed(10)
    few, few_counts = _queries(NOW + timedelta(days=30))
    SlaClock.objects.all().delete()
    _seed(200)
    with django_assert_max_num_queries(few):
        many, many_counts = _queries(NOW + timedelta(days=30))
    assert many == few
    assert few_counts["met"] + few_counts["missed"] + few_counts["breached"] == 10
    assert (many_counts["met"], many_counts["missed"], many_counts["breached"]) == (
        67,
        67,
        66,
    )
    assert SlaClock.objects.filter(state=State.MET).count() == 67


def test_opening_clocks_for_a_mirror_is_batched(django_assert_max_num_queries):
    org = plan_org("select")
    repo, series = repo_and_series()
    m = mirror(org, repo)
    many_findings(series, 150)
    # One more than the inserts and the policy: the clocks to resume (none).
    with django_assert_max_num_queries(15):
        assert services.sla_clocks_open_for_mirror(mirror=m, now=NOW) == 150
    assert SlaClock.objects.count() == 150
