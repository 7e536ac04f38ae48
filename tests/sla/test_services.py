"""Opening clocks, policies and their versions, assignments, exemptions and
waivers, through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.entitlements.models import Entitlement
from apps.sla import services
from apps.sla.models import (
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from apps.vulns.models import Finding
from tests.catalog import builders as catalog

from .builders import (
    LONG_AGO,
    NOW,
    finding,
    fix,
    mirror,
    plan_org,
    repo_and_series,
    staff,
)

pytestmark = pytest.mark.usefixtures("sla_defaults")
Action = AuditEvent.Action
State = SlaClock.State


@pytest.fixture
def setup():
    """A Select org mirroring one repository."""
    org = plan_org("select")
    repo, series = repo_and_series()
    m = mirror(org, repo)
    return org, repo, series, m


def _clock(org, f) -> SlaClock:
    return SlaClock.objects.get(org=org, finding=f)


def contract(actor=None, **terms) -> SlaPolicyVersion:
    actor = actor or staff()
    terms.setdefault("critical_days", 5)
    terms.setdefault("high_days", 5)
    terms.setdefault("holiday_country", "US")
    return services.sla_policy_create(
        key=f"contract-{SlaPolicy.objects.count()}",
        name="Contract",
        actor=actor,
        **terms,
    )


# --- which policy ---------------------------------------------------------------


def test_a_select_org_gets_the_select_default_policy(setup):
    org, _repo, series, _m = setup
    f = finding(series, severity="critical")
    assert services.sla_clocks_open_for_finding(finding=f, now=NOW) == 1
    c = _clock(org, f)
    assert c.policy_version.policy.key == "select-default"
    assert c.start_event == "upstream_fix"
    assert c.started_at == NOW
    assert c.due_at == NOW + timedelta(days=9)  # 7 business days from a Monday
    assert c.at_risk_at == NOW + (c.due_at - NOW) * 70 // 100
    assert c.state == State.OPEN
    assert c.severity == "critical"


def test_an_enterprise_org_gets_medium_clocks_and_a_select_org_does_not():
    repo, series = repo_and_series()
    select_org, enterprise_org = plan_org("select"), plan_org("enterprise")
    mirror(select_org, repo)
    mirror(enterprise_org, repo)
    f = finding(series, severity="medium")
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    assert not SlaClock.objects.filter(org=select_org).exists()
    c = _clock(enterprise_org, f)
    assert c.policy_version.policy.key == "enterprise-default"
    # 30 business days from Monday 2 March: six weeks, no US holiday.
    assert c.due_at == NOW + timedelta(days=42)


def test_low_and_unknown_severities_are_outside_every_default_sla():
    org = plan_org("enterprise")
    repo, series = repo_and_series()
    mirror(org, repo)
    for severity in ("low", "unknown", "none"):
        services.sla_clocks_open_for_finding(
            finding=finding(series, severity=severity), now=NOW
        )
    assert not SlaClock.objects.exists()


def test_no_clock_without_the_sla_entitlement_or_without_a_mirror(setup):
    org, repo, series, _m = setup
    community = plan_org("community")
    mirror(community, repo)
    _other_repo, other_series = repo_and_series()
    services.sla_clocks_open_for_finding(finding=finding(other_series), now=NOW)
    f = finding(series)
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    assert list(SlaClock.objects.values_list("org_id", flat=True)) == [org.pk]


def test_only_affected_findings_get_clocks(setup):
    _org, _repo, series, m = setup
    finding(series, status=Finding.Status.UNDER_INVESTIGATION)
    finding(series, status=Finding.Status.NOT_AFFECTED)
    affected = finding(series)
    assert services.sla_clocks_open_for_mirror(mirror=m, now=NOW) == 1
    assert SlaClock.objects.get().finding == affected


def test_an_assigned_contract_policy_wins_over_the_plan_default_while_in_effect(setup):
    org, _repo, series, _m = setup
    actor = staff()
    version = contract(actor, high_days=2)
    services.sla_policy_assign(
        org=org,
        policy=version.policy,
        effective_from=NOW - timedelta(days=10),
        effective_to=NOW + timedelta(days=1),
        actor=actor,
    )
    during = finding(series)
    services.sla_clocks_open_for_finding(finding=during, now=NOW)
    assert _clock(org, during).policy_version == version
    later = NOW + timedelta(days=2)
    after = finding(series, upstream_fix_at=later)
    services.sla_clocks_open_for_finding(finding=after, now=later)
    assert _clock(org, after).policy_version.policy.key == "select-default"
    assert AuditEvent.objects.filter(action=Action.SLA_POLICY_ASSIGNED).count() == 1


# --- when the clock starts -------------------------------------------------------


def test_a_finding_without_an_upstream_fix_starts_at_detection_and_says_so(setup):
    org, _repo, series, _m = setup
    f = finding(series, detected_at=NOW - timedelta(hours=5))
    Finding.objects.filter(pk=f.pk).update(upstream_fix_at=None)
    f.refresh_from_db()
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    c = _clock(org, f)
    assert (c.start_event, c.started_at) == ("detection", NOW - timedelta(hours=5))
    assert c.start_fell_back


@pytest.mark.parametrize(
    ("start_event", "expected"),
    [
        ("upstream_fix", NOW - timedelta(days=2)),
        ("disclosure", NOW - timedelta(days=4)),
        ("detection", NOW - timedelta(days=1)),
        ("release", NOW - timedelta(days=3)),
    ],
)
def test_each_start_event_reads_its_timestamp(setup, start_event, expected):
    org, _repo, series, _m = setup
    actor = staff()
    version = contract(actor, start_event=start_event)
    services.sla_policy_assign(
        org=org, policy=version.policy, effective_from=LONG_AGO, actor=actor
    )
    f = finding(
        series,
        upstream_fix_at=NOW - timedelta(days=2),
        disclosed_at=NOW - timedelta(days=4),
        detected_at=NOW - timedelta(days=1),
        built_at=NOW - timedelta(days=3),
    )
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    c = _clock(org, f)
    assert (c.start_event, c.started_at) == (start_event, expected)
    assert not c.start_fell_back


def test_an_event_before_the_entitlement_starts_the_clock_at_coverage(setup):
    org, _repo, series, m = setup
    Entitlement.objects.filter(org=org, feature__key="sla").update(
        starts_at=NOW - timedelta(days=1)
    )
    f = finding(series, upstream_fix_at=NOW - timedelta(days=30))
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    c = _clock(org, f)
    assert (c.start_event, c.started_at) == ("coverage", NOW - timedelta(days=1))


def test_when_the_mirror_was_added_does_not_move_the_clock_start(setup):
    org, _repo, series, m = setup
    m.created_at = NOW - timedelta(days=1)
    m.save(update_fields=["created_at"])
    f = finding(series, upstream_fix_at=NOW - timedelta(days=30))
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    c = _clock(org, f)
    assert (c.start_event, c.started_at) == ("upstream_fix", NOW - timedelta(days=30))


def test_a_kev_due_date_caps_the_clock(setup):
    org, _repo, series, _m = setup
    f = finding(series, kev_due_date=(NOW + timedelta(days=3)).date())
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    c = _clock(org, f)
    assert c.kev_capped
    assert c.due_at == NOW.replace(hour=0) + timedelta(days=4)


# --- idempotence, freezing, later changes ----------------------------------------


def test_opening_twice_makes_one_clock_whatever_the_path(setup):
    org, _repo, series, m = setup
    f = finding(series)
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    services.sla_clocks_open_for_finding(finding=f, now=NOW + timedelta(hours=1))
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    services.sla_clocks_open_for_entitlement(org=org, now=NOW)
    assert SlaClock.objects.count() == 1
    assert _clock(org, f).created_at == NOW


def test_a_version_used_by_a_clock_is_frozen_and_refuses_edits(setup):
    _org, _repo, series, _m = setup
    version = SlaPolicyVersion.objects.get(policy__key="select-default")
    assert version.frozen_at is None
    services.sla_clocks_open_for_finding(finding=finding(series), now=NOW)
    version.refresh_from_db()
    assert version.frozen_at == NOW
    with pytest.raises(ValidationError, match="create a new version"):
        services.sla_policy_version_update(version=version, actor=staff(), high_days=30)
    version.refresh_from_db()
    assert version.high_days == 7


def test_an_unused_version_may_be_corrected_in_place():
    actor = staff()
    version = contract(actor)
    services.sla_policy_version_update(version=version, actor=actor, high_days=9)
    version.refresh_from_db()
    assert (version.version, version.high_days) == (1, 9)


def test_a_policy_change_applies_to_new_clocks_and_leaves_old_ones_untouched(setup):
    org, _repo, series, _m = setup
    actor = staff()
    v1 = SlaPolicyVersion.objects.get(policy__key="select-default")
    old = finding(series)
    services.sla_clocks_open_for_finding(finding=old, now=NOW)
    before = SlaClock.objects.filter(finding=old).values().get()
    v2 = services.sla_policy_version_create(policy=v1.policy, actor=actor, high_days=3)
    assert (v2.version, v2.high_days, v2.critical_days, v2.frozen_at) == (2, 3, 7, None)
    new = finding(series)
    services.sla_clocks_open_for_finding(finding=new, now=NOW)
    assert SlaClock.objects.filter(finding=old).values().get() == before
    assert _clock(org, new).policy_version == v2
    assert _clock(org, new).due_at == NOW + timedelta(days=3)
    v1.refresh_from_db()
    assert v1.high_days == 7
    assert AuditEvent.objects.filter(action=Action.SLA_POLICY_VERSIONED).count() == 1


def test_entitlement_lapse_opens_no_new_clocks_and_leaves_old_ones(setup):
    org, _repo, series, _m = setup
    old = finding(series)
    services.sla_clocks_open_for_finding(finding=old, now=NOW)
    before = SlaClock.objects.values().get()
    Entitlement.objects.filter(org=org, feature__key="sla").update(
        ends_at=NOW + timedelta(hours=1)
    )
    later = NOW + timedelta(days=1)
    new = finding(series, upstream_fix_at=later)
    assert services.sla_clocks_open_for_finding(finding=new, now=later) == 0
    assert services.sla_clocks_open_for_entitlement(org=org, now=later) == 0
    assert list(SlaClock.objects.values()) == [before]


# --- VEX ----------------------------------------------------------------------------


def test_a_vex_not_affected_statement_exempts_running_clocks_with_its_reason(setup):
    org, repo, series, m = setup
    vuln = catalog.vulnerability("CVE-2026-77777", severity="high")
    first = finding(series, vuln=vuln)
    second = finding(series, vuln=vuln)
    fixed = finding(series, vuln=vuln)
    other = finding(series)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    fix(fixed, NOW + timedelta(days=1))
    services.sla_transitions_run(now=NOW + timedelta(days=1))
    statement = catalog.vex(vuln, repo=repo)
    actor = staff()
    later = NOW + timedelta(days=2)
    assert (
        services.sla_clocks_exempt_by_vex(statement=statement, actor=actor, now=later)
        == 2
    )
    for f in (first, second):
        c = _clock(org, f)
        assert (c.state, c.stop_reason, c.stopped_at) == (State.EXEMPT, "vex", later)
        assert c.exempt_reason == "Vulnerable code not in execute path"
        assert c.vex_statement == statement
    assert _clock(org, fixed).state == State.MET
    assert _clock(org, other).state == State.OPEN
    event = AuditEvent.objects.get(action=Action.SLA_CLOCK_EXEMPTED)
    assert event.details["clocks"] == 2


def test_vex_statements_other_than_not_affected_or_for_one_digest_scope_correctly(
    setup,
):
    org, repo, series, m = setup
    vuln = catalog.vulnerability("CVE-2026-88888", severity="high")
    here, there = finding(series, vuln=vuln), finding(series, vuln=vuln)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    affected = catalog.vex(vuln, repo=repo, status="affected")
    assert services.sla_clocks_exempt_by_vex(statement=affected, now=NOW) == 0
    one = catalog.vex(vuln, image=here.digest)
    assert services.sla_clocks_exempt_by_vex(statement=one, now=NOW) == 1
    assert _clock(org, here).state == State.EXEMPT
    assert _clock(org, there).state == State.OPEN


# --- waivers --------------------------------------------------------------------------


@pytest.fixture
def running(setup):
    org, _repo, series, _m = setup
    f = finding(series)
    services.sla_clocks_open_for_finding(finding=f, now=NOW)
    return _clock(org, f)


def test_a_waiver_approved_by_a_second_staff_member_stops_the_clock(running):
    alice, bob = staff(), staff()
    waiver = services.sla_waiver_request(
        clock=running,
        actor=alice,
        reason="Upstream patch breaks ABI",
        expires_at=NOW + timedelta(days=3),
        now=NOW,
    )
    services.sla_waiver_approve(waiver=waiver, actor=bob, now=NOW + timedelta(hours=1))
    running.refresh_from_db()
    waiver.refresh_from_db()
    assert waiver.state == SlaWaiver.State.APPROVED
    assert (running.state, running.stop_reason) == (State.EXEMPT, "waiver")
    assert running.exempt_reason == "Upstream patch breaks ABI"
    assert running.waiver == waiver
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {Action.SLA_WAIVER_REQUESTED, Action.SLA_WAIVER_APPROVED} <= actions


def test_the_requester_cannot_approve_their_own_waiver(running):
    alice = staff()
    waiver = services.sla_waiver_request(
        clock=running,
        actor=alice,
        reason="r",
        expires_at=NOW + timedelta(days=3),
        now=NOW,
    )
    with pytest.raises(ValidationError, match="someone other"):
        services.sla_waiver_approve(waiver=waiver, actor=alice, now=NOW)
    waiver.refresh_from_db()
    running.refresh_from_db()
    assert waiver.state == SlaWaiver.State.REQUESTED
    assert running.state == State.OPEN
    assert not AuditEvent.objects.filter(action=Action.SLA_WAIVER_APPROVED).exists()


def test_the_database_refuses_a_self_approved_waiver_too(running):
    from django.db import IntegrityError, transaction

    alice = staff()
    waiver = services.sla_waiver_request(
        clock=running,
        actor=alice,
        reason="r",
        expires_at=NOW + timedelta(days=3),
        now=NOW,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        SlaWaiver.objects.filter(pk=waiver.pk).update(approved_by=alice)


def test_a_rejected_waiver_leaves_the_clock_running(running):
    waiver = services.sla_waiver_request(
        clock=running,
        actor=staff(),
        reason="r",
        expires_at=NOW + timedelta(days=3),
        now=NOW,
    )
    services.sla_waiver_reject(waiver=waiver, actor=staff(), reason="No", now=NOW)
    waiver.refresh_from_db()
    running.refresh_from_db()
    assert waiver.state == SlaWaiver.State.REJECTED
    assert running.state == State.OPEN
    with pytest.raises(ValidationError, match="already rejected"):
        services.sla_waiver_approve(waiver=waiver, actor=staff(), now=NOW)


@pytest.mark.parametrize(
    ("expires_after", "run_after", "expected"),
    [
        # Due 9 days after NOW; at risk after 70 % of that.
        (timedelta(days=2), timedelta(days=2), State.OPEN),
        (timedelta(days=2), timedelta(days=7), State.AT_RISK),
        (timedelta(days=2), timedelta(days=10), State.BREACHED),
        (timedelta(days=10), timedelta(days=10), State.BREACHED),
    ],
)
def test_waiver_expiry_resumes_the_clock_with_its_deadline_unchanged(
    running, expires_after, run_after, expected
):
    due = running.due_at
    waiver = services.sla_waiver_request(
        clock=running,
        actor=staff(),
        reason="r",
        expires_at=NOW + expires_after,
        now=NOW,
    )
    services.sla_waiver_approve(waiver=waiver, actor=staff(), now=NOW)
    counts = services.sla_transitions_run(now=NOW + run_after)
    assert (counts["waivers_expired"], counts["resumed"]) == (1, 1)
    running.refresh_from_db()
    waiver.refresh_from_db()
    assert running.state == expected
    assert running.due_at == due
    assert (running.stopped_at, running.stop_reason) == (None, "")
    assert waiver.state == SlaWaiver.State.EXPIRED
    assert AuditEvent.objects.filter(action=Action.SLA_WAIVER_EXPIRED).count() == 1


def test_an_unexpired_waiver_keeps_the_clock_stopped(running):
    waiver = services.sla_waiver_request(
        clock=running,
        actor=staff(),
        reason="r",
        expires_at=NOW + timedelta(days=30),
        now=NOW,
    )
    services.sla_waiver_approve(waiver=waiver, actor=staff(), now=NOW)
    services.sla_transitions_run(now=NOW + timedelta(days=20))
    running.refresh_from_db()
    assert running.state == State.EXEMPT


# --- bad input: a clear error and nothing written ---


def _written() -> tuple[int, ...]:
    return (
        SlaPolicy.objects.count(),
        SlaPolicyVersion.objects.count(),
        SlaPolicyAssignment.objects.count(),
        SlaWaiver.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"high_days": -1}, "high_days"),
        ({"critical_days": 0}, "critical_days"),
        ({"medium_days": "30"}, "medium_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "US", "holiday_subdivision": "ZZ"}, "holiday_country"),
        ({"at_risk_percent": 0}, "at_risk_percent"),
        ({"at_risk_percent": 100}, "at_risk_percent"),
        ({"day_kind": "fortnights"}, "day_kind"),
        ({"start_event": "tuesday"}, "start_event"),
        ({"credit_percent_per_breach": 101}, "credit_percent_per_breach"),
        ({"colour": "red"}, "fields"),
    ],
)
def test_bad_policy_terms_are_refused_and_nothing_is_written(terms, field):
    actor = staff()
    before = _written()
    with pytest.raises(ValidationError) as exc:
        services.sla_policy_create(key="bad", name="Bad", actor=actor, **terms)
    assert field in exc.value.message_dict
    policy = SlaPolicy.objects.get(key="select-default")
    with pytest.raises(ValidationError) as exc:
        services.sla_policy_version_create(policy=policy, actor=actor, **terms)
    assert field in exc.value.message_dict
    assert _written() == before


def test_non_staff_may_not_write_policies_or_waivers(running, owner):
    version = SlaPolicyVersion.objects.get(policy__key="select-default")
    before = _written()
    calls = [
        lambda a: services.sla_policy_create(key="k", name="n", actor=a),
        lambda a: services.sla_policy_version_create(policy=version.policy, actor=a),
        lambda a: services.sla_policy_version_update(version=version, actor=a),
        lambda a: services.sla_policy_assign(
            org=running.org, policy=version.policy, effective_from=NOW, actor=a
        ),
        lambda a: services.sla_waiver_request(
            clock=running,
            actor=a,
            reason="r",
            expires_at=NOW + timedelta(days=1),
            now=NOW,
        ),
    ]
    for call in calls:
        for actor in (None, owner.user):
            with pytest.raises(ValidationError, match="Only publisher staff"):
                call(actor)
    assert _written() == before


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": " "}, "reason"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "expires_at"),
        ({"expires_at": NOW}, "expires_at"),
        ({"expires_at": NOW.replace(tzinfo=None) + timedelta(days=1)}, "expires_at"),
    ],
)
def test_bad_waiver_requests_are_refused(running, kwargs, field):
    before = _written()
    args = {"reason": "r", "expires_at": NOW + timedelta(days=1), **kwargs}
    with pytest.raises(ValidationError) as exc:
        services.sla_waiver_request(clock=running, actor=staff(), now=NOW, **args)
    assert field in exc.value.message_dict
    assert _written() == before


def test_a_second_waiver_on_the_same_clock_is_refused(running):
    services.sla_waiver_request(
        clock=running,
        actor=staff(),
        reason="r",
        expires_at=NOW + timedelta(days=1),
        now=NOW,
    )
    with pytest.raises(ValidationError, match="already has a waiver"):
        services.sla_waiver_request(
            clock=running,
            actor=staff(),
            reason="r",
            expires_at=NOW + timedelta(days=1),
            now=NOW,
        )


def test_an_expired_request_cannot_be_approved(running):
    waiver = services.sla_waiver_request(
        clock=running,
        actor=staff(),
        reason="r",
        expires_at=NOW + timedelta(days=1),
        now=NOW,
    )
    with pytest.raises(ValidationError, match="expired"):
        services.sla_waiver_approve(
            waiver=waiver, actor=staff(), now=NOW + timedelta(days=2)
        )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"effective_to": NOW}, "effective_to"),
        ({"effective_to": NOW - timedelta(days=1)}, "effective_to"),
        ({"effective_from": NOW.replace(tzinfo=None)}, "effective_from"),
        ({"monthly_fee_cents": -1}, "monthly_fee_cents"),
    ],
)
def test_bad_assignments_are_refused(kwargs, field):
    org = plan_org("select")
    actor = staff()
    version = contract(actor)
    before = _written()
    args = {"effective_from": NOW, **kwargs}
    with pytest.raises(ValidationError) as exc:
        services.sla_policy_assign(org=org, policy=version.policy, actor=actor, **args)
    assert field in exc.value.message_dict
    assert _written() == before


def test_a_contract_policy_written_for_one_customer_cannot_be_assigned_to_another():
    actor = staff()
    mine, theirs = plan_org(), plan_org()
    version = services.sla_policy_create(key="acme", name="Acme", actor=actor, org=mine)
    with pytest.raises(ValidationError, match="another customer"):
        services.sla_policy_assign(
            org=theirs, policy=version.policy, effective_from=NOW, actor=actor
        )
