"""The ledger is complete by construction: every entitled org has a policy,
every finding in scope a clock, whatever path the org took to the entitlement,
and a sweep plus ``ledger_check`` prove it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.entitlements.services import (
    entitlement_grant_contract,
    entitlement_grant_trial,
    mirror_add,
    mirror_remove,
)
from apps.sla import services
from apps.sla.ledger_checks import ledger_violations
from apps.sla.models import LedgerCheckRun, SlaClock, SlaPolicy
from apps.vulns.models import Finding
from tests.factories import MembershipFactory, OrganizationFactory

from .builders import LONG_AGO, NOW, finding, mirror, plan_org, repo_and_series, staff

pytestmark = pytest.mark.usefixtures("sla_defaults")
Action = AuditEvent.Action
State = SlaClock.State


def contract_org(*features: str, starts_at=LONG_AGO):
    """An org holding features by contract only: no plan's whole grant set."""
    org = OrganizationFactory(features=())
    actor = staff()
    for feature in features or ("sla",):
        entitlement_grant_contract(
            org=org,
            feature=feature,
            reference="C-1",
            starts_at=starts_at,
            ends_at=None,
            actor=actor,
        )
    return org


def _violations(at=NOW) -> dict[str, int]:
    counts, _ = ledger_violations(at=at)
    return {name: n for name, n in counts.items() if n}


# --- an entitled org always has a policy --------------------------------------


def test_a_contract_sla_without_a_contract_policy_takes_the_tier_default():
    org = contract_org("sla", "fips")
    resolved = services.policy_resolution(org=org, at=NOW)
    assert resolved.version.policy.key == "select-default"
    assert resolved.source == "feature"
    assert "Select" in resolved.explanation


def test_a_trial_sla_takes_the_tier_default_too():
    org = OrganizationFactory(features=())
    entitlement_grant_trial(
        org=org,
        feature="sla",
        starts_at=LONG_AGO,
        ends_at=NOW + timedelta(days=10),
        actor=staff(),
        now=NOW,
    )
    assert services.policy_version_in_effect(org=org, at=NOW).policy.key == (
        "select-default"
    )


def test_a_contract_policy_wins_and_a_whole_plan_keeps_its_own_default():
    enterprise = plan_org("enterprise")
    assert services.policy_resolution(org=enterprise, at=NOW).source == "plan"
    org = contract_org()
    version = services.sla_policy_create(
        key="acme-contract", name="Acme", actor=staff(), critical_days=3, high_days=3
    )
    services.sla_policy_assign(
        org=org, policy=version.policy, effective_from=LONG_AGO, actor=staff()
    )
    resolved = services.policy_resolution(org=org, at=NOW)
    assert (resolved.version, resolved.source) == (version, "contract")


def test_no_policy_at_all_is_a_named_violation():
    org = contract_org()
    repo, series = repo_and_series()
    mirror(org, repo)
    finding(series)
    SlaPolicy.objects.filter(plan__isnull=False).update(plan=None)
    assert services.policy_resolution(org=org, at=NOW).version is None
    assert _violations() == {"policy_missing": 1}


def test_an_org_without_sla_has_no_policy_and_no_violation():
    org = OrganizationFactory(features=())
    repo, series = repo_and_series()
    mirror(org, repo)
    finding(series)
    assert services.policy_resolution(org=org, at=NOW).version is None
    assert _violations() == {}


# --- every path to the entitlement opens the clocks ------------------------------


def test_a_contract_grant_after_the_mirror_opens_clocks(
    django_capture_on_commit_callbacks,
):
    org = OrganizationFactory(features=())
    owner = MembershipFactory(org=org, role="owner").user
    repo, series = repo_and_series()
    f = finding(series, upstream_fix_at=NOW - timedelta(days=40))
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner)
    assert not SlaClock.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        entitlement_grant_contract(
            org=org,
            feature="sla",
            reference="C-9",
            starts_at=NOW - timedelta(days=60),
            ends_at=None,
            actor=staff(),
        )
    clock = SlaClock.objects.get(org=org, finding=f)
    # The start is the evidence's (the upstream fix), not the grant's time.
    assert (clock.start_event, clock.started_at) == (
        "upstream_fix",
        NOW - timedelta(days=40),
    )


def test_assigning_a_contract_policy_opens_the_clocks_it_brings_into_scope(
    django_capture_on_commit_callbacks,
):
    org = contract_org()
    repo, series = repo_and_series()
    mirror(org, repo)
    medium = finding(series, severity="medium")
    assert _violations() == {}  # medium is outside the Select default
    version = services.sla_policy_create(
        key="with-medium", name="Medium too", actor=staff(), medium_days=30
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_policy_assign(
            org=org,
            policy=version.policy,
            effective_from=NOW - timedelta(days=1),
            actor=staff(),
        )
    assert SlaClock.objects.get(org=org).finding == medium
    assert _violations() == {}


def test_a_new_policy_version_opens_clocks_for_every_org_it_governs(
    django_capture_on_commit_callbacks,
):
    org = contract_org()
    repo, series = repo_and_series()
    mirror(org, repo)
    finding(series, severity="medium")
    policy = SlaPolicy.objects.get(key="select-default")
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_policy_version_create(policy=policy, actor=staff(), medium_days=30)
    assert SlaClock.objects.filter(org=org, severity="medium").count() == 1


# --- mirrors removed and re-added ------------------------------------------------


def test_removing_a_mirror_stops_its_clocks_and_re_adding_resumes_them(
    django_capture_on_commit_callbacks,
):
    org = contract_org()
    owner = MembershipFactory(org=org, role="owner").user
    repo, series = repo_and_series()
    f = finding(series, upstream_fix_at=NOW - timedelta(days=2))
    with django_capture_on_commit_callbacks(execute=True):
        m = mirror_add(org=org, repository=repo, actor=owner)
    clock = SlaClock.objects.get(org=org, finding=f)
    started, due = clock.started_at, clock.due_at
    with django_capture_on_commit_callbacks(execute=True):
        mirror_remove(mirror=m, actor=owner)
    clock.refresh_from_db()
    assert (clock.state, clock.stop_reason) == (State.EXEMPT, "unmirrored")
    assert AuditEvent.objects.filter(action=Action.SLA_CLOCKS_UNMIRRORED).exists()
    with django_capture_on_commit_callbacks(execute=True):
        mirror_add(org=org, repository=repo, actor=owner)
    clock.refresh_from_db()
    # The same clock runs again, from the same start to the same deadline.
    assert SlaClock.objects.filter(org=org).count() == 1
    assert clock.state in SlaClock.RUNNING
    assert (clock.started_at, clock.due_at, clock.stopped_at) == (started, due, None)
    assert AuditEvent.objects.filter(action=Action.SLA_CLOCKS_RESUMED).exists()


def test_a_clock_met_or_exempt_by_vex_is_not_touched_by_unmirroring():
    org = contract_org()
    repo, series = repo_and_series()
    m = mirror(org, repo)
    f = finding(series)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    SlaClock.objects.filter(org=org).update(
        state=State.MET, stopped_at=NOW, stop_reason="fixed"
    )
    m.delete()
    assert services.sla_clocks_stop_for_unmirrored(org=org, repository_id=repo.pk) == 0
    assert SlaClock.objects.get(org=org, finding=f).state == State.MET


# --- the sweep and the check ----------------------------------------------------


def test_a_lost_trigger_is_caught_by_the_check_and_repaired_by_the_sweep():
    org = contract_org()
    repo, series = repo_and_series()
    mirror(org, repo)  # written directly: no trigger ran
    finding(series, severity="critical")
    finding(series, severity="high")
    finding(series, severity="low")  # outside the policy
    assert _violations() == {"clock_missing": 1}
    _, violations = ledger_violations(at=NOW)
    assert "2 finding(s)" in violations[0].message
    assert repo.name in violations[0].subject
    assert services.sla_ledger_reconcile(now=NOW) == {
        "opened": 2,
        "resumed": 0,
        "stopped": 0,
        "followed": 0,
    }
    event = AuditEvent.objects.get(action=Action.SLA_LEDGER_REPAIRED)
    assert event.details["clocks_opened"] == 2
    assert _violations() == {}
    # Idempotent: nothing more to open, nothing more recorded.
    assert services.sla_ledger_reconcile(now=NOW) == {
        "opened": 0,
        "resumed": 0,
        "stopped": 0,
        "followed": 0,
    }
    assert AuditEvent.objects.filter(action=Action.SLA_LEDGER_REPAIRED).count() == 1


def test_a_clock_left_running_on_an_unmirrored_repository_is_caught_and_stopped():
    org = contract_org()
    repo, series = repo_and_series()
    m = mirror(org, repo)
    finding(series)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    m.delete()  # the stop trigger was lost
    assert _violations() == {"clock_running_unmirrored": 1}
    assert services.sla_ledger_reconcile(now=NOW)["stopped"] == 1
    assert _violations() == {}


def test_a_clock_left_stopped_on_a_mirrored_again_repository_is_caught_and_resumed(
    django_capture_on_commit_callbacks,
):
    org = contract_org()
    owner = MembershipFactory(org=org, role="owner").user
    repo, series = repo_and_series()
    finding(series, upstream_fix_at=NOW)
    with django_capture_on_commit_callbacks(execute=True):
        m = mirror_add(org=org, repository=repo, actor=owner)
    with django_capture_on_commit_callbacks(execute=True):
        mirror_remove(mirror=m, actor=owner)
    with django_capture_on_commit_callbacks(execute=False):
        mirror_add(org=org, repository=repo, actor=owner)  # the resume was lost
    assert _violations() == {"clock_stopped_while_mirrored": 1}
    assert services.sla_ledger_reconcile(now=NOW)["resumed"] == 1
    assert SlaClock.objects.get(org=org).state in SlaClock.RUNNING
    assert _violations() == {}


def test_transitions_that_did_not_run_are_caught():
    org = contract_org()
    repo, series = repo_and_series()
    m = mirror(org, repo)
    f = finding(series)
    services.sla_clocks_open_for_mirror(mirror=m, now=NOW)
    later = NOW + timedelta(days=30)
    assert _violations(later) == {"clock_state_stale": 1}
    Finding.objects.filter(pk=f.pk).update(
        status=Finding.Status.FIXED, fixed_published_at=NOW + timedelta(days=1)
    )
    assert _violations(later) == {"clock_state_stale": 2}
    services.sla_transitions_run(now=later)
    assert _violations(later) == {}


def test_ledger_check_command_exits_1_naming_the_violation_and_0_once_repaired(
    capsys,
):
    org = contract_org()
    repo, series = repo_and_series(name="lost-trigger")
    mirror(org, repo)
    finding(series)
    with pytest.raises(CommandError) as failed:
        call_command("ledger_check")
    assert failed.value.returncode == 1
    out = capsys.readouterr().out
    assert "clock_missing: org" in out
    assert "lost-trigger" in out
    run = LedgerCheckRun.objects.get()
    assert (run.violation_count, run.checks["clock_missing"]) == (1, 1)
    call_command("ledger_check", "--repair")
    assert "The ledger holds." in capsys.readouterr().out
    assert LedgerCheckRun.objects.first().ok


def test_ledger_check_json_output_is_only_the_document(capsys):
    call_command("ledger_check", "--json")
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["violations"] == []
    assert "clock_missing" in document["checks"]


def test_an_entitled_org_with_nothing_to_clock_yet_still_needs_a_policy():
    org = contract_org()  # no mirror, no finding
    SlaPolicy.objects.filter(plan__isnull=False).update(plan=None)
    assert _violations() == {"policy_missing": 1}
    version = services.sla_policy_create(
        key="rescue", name="Rescue", actor=staff(), critical_days=7, high_days=7
    )
    services.sla_policy_assign(
        org=org, policy=version.policy, effective_from=LONG_AGO, actor=staff()
    )
    assert _violations() == {}
