"""Advisories that change: revisions kept, findings and clocks following them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.sla.defaults import defaults_load
from apps.sla.ledger_checks import _withdrawn, ledger_gaps
from apps.sla.models import SlaClock
from apps.sla.services import sla_clocks_follow_findings, sla_ledger_reconcile
from apps.vulns.models import (
    AdvisoryImport,
    AdvisoryRevision,
    AffectedPackage,
    Finding,
    Vulnerability,
)
from apps.vulns.services import findings_match, osv_import
from apps.vulns.services.revisions import fix_seen_time, revision_is_stale
from tests.entitlements.builders import ensure_tiers
from tests.sla.builders import mirror, plan_org

from .feed_helpers import build, variant

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
OLD = "pkg:pypi/jinja2@2.11.2"
NEW = "pkg:pypi/jinja2@3.0.0"


def record(
    modified: str,
    *,
    events: list[dict] | None = None,
    withdrawn: str | None = None,
) -> dict:
    """A GitHub-shaped record of one PyPI package, varied per revision."""
    found = {
        "schema_version": "1.6.0",
        "id": "GHSA-rev0-test-0001",
        "modified": modified,
        "published": "2026-02-01T00:00:00Z",
        "aliases": ["CVE-2026-20001"],
        "summary": "Sandbox escape in Jinja2",
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "jinja2"},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": events or [{"introduced": "0"}],
                    }
                ],
            }
        ],
        "database_specific": {"severity": "HIGH"},
    }
    if withdrawn:
        found["withdrawn"] = withdrawn
    return found


UNFIXED = record("2026-02-01T00:00:00Z")
FIXED = record(
    "2026-02-20T12:00:00Z", events=[{"introduced": "0"}, {"fixed": "2.11.3"}]
)


@pytest.fixture
def ledger(db):
    ensure_tiers()
    defaults_load()  # the default policy starts from the upstream fix


@pytest.fixture
def world(ledger, django_capture_on_commit_callbacks):
    """A mirrored repository with a build carrying jinja2 2.11.2, and an org
    holding the SLA; ``run`` runs the tasks a write schedules."""
    image_variant = variant(repository="web")
    old = build(image_variant, T0 - timedelta(days=30), [OLD])
    org = plan_org()
    mirror(org, image_variant.series.repository)

    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return {"old": old, "org": org, "run": run, "variant": image_variant}


def _import(run, *records) -> object:
    with run():
        return osv_import(records=list(records), source="test")


def _finding(image) -> Finding:
    return Finding.objects.get(digest=image)


def test_fix_time_is_the_earlier_of_modified_and_import():
    modified = datetime(2026, 2, 20, tzinfo=UTC)
    assert fix_seen_time(modified, modified + timedelta(days=1)) == modified
    assert fix_seen_time(modified, modified - timedelta(days=1)) == (
        modified - timedelta(days=1)
    )
    # The Go database's repository copies say 0001-01-01: not a time.
    placeholder = datetime(1, 1, 1, tzinfo=UTC)
    assert fix_seen_time(placeholder, modified) == modified
    assert fix_seen_time(None, modified) == modified


def test_staleness_needs_both_times():
    now = datetime(2026, 2, 20, tzinfo=UTC)
    assert revision_is_stale(now - timedelta(days=1), now)
    assert not revision_is_stale(now, now)
    assert not revision_is_stale(None, now)
    assert not revision_is_stale(now, None)


def test_every_new_content_is_a_revision_kept_whole(world):
    with time_machine.travel(T0, tick=False):
        report = _import(world["run"], UNFIXED)
    assert (report.created, report.revisions) == (1, 1)
    revision = AdvisoryRevision.objects.get()
    assert revision.raw == UNFIXED
    assert (revision.applied, revision.changes) == (True, ["first seen"])
    assert revision.modified_at == datetime(2026, 2, 1, tzinfo=UTC)
    assert revision.advisory_import == AdvisoryImport.objects.get(ecosystem="PyPI")
    # The same content again is no new revision.
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        again = _import(world["run"], copy.deepcopy(UNFIXED))
    assert (again.unchanged, AdvisoryRevision.objects.count()) == (1, 1)


def test_a_newer_revision_adds_a_fix_to_open_findings_and_restarts_clocks(world):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, UNFIXED)
        with run():
            findings_match(digests=[world["old"]])
    finding = _finding(world["old"])
    assert (finding.upstream_fix_at, finding.fixed_version) == (None, "")
    clock = SlaClock.objects.get(finding=finding)
    # No fix known: the clock fell back to detection.
    assert (clock.start_event, clock.started_at) == ("detection", T0)

    imported = T0 + timedelta(days=1)
    with time_machine.travel(imported, tick=False):
        report = _import(run, FIXED)
    assert (report.updated, report.fix_times_set) == (1, 1)
    finding.refresh_from_db()
    fix_seen = datetime(2026, 2, 20, 12, 0, tzinfo=UTC)  # the record's modified
    assert (finding.upstream_fix_at, finding.fixed_version) == (fix_seen, "2.11.3")
    revision = AdvisoryRevision.objects.latest("pk")
    assert finding.upstream_fix_revision == revision
    assert "fix first named for jinja2 (PyPI)" in revision.changes
    affected = AffectedPackage.objects.get()
    assert (affected.fix_seen_at, affected.fix_seen_in) == (fix_seen, revision)
    clock.refresh_from_db()
    # Before the org's coverage? No: LONG_AGO. The clock starts at the fix,
    # and the correction is audited with what it replaced.
    assert (clock.start_event, clock.started_at) == ("upstream_fix", fix_seen)
    event = AuditEvent.objects.get(action=AuditEvent.Action.SLA_LEDGER_REPAIRED)
    (change,) = event.details["clocks"]
    assert change["was"]["start_event"] == "detection"
    assert change["now"]["start_event"] == "upstream_fix"


def test_the_first_sighting_of_a_fix_is_kept_across_revisions(world):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)
    first = AffectedPackage.objects.get()
    later = record(
        "2026-02-25T00:00:00Z",
        events=[{"introduced": "0"}, {"fixed": "2.11.3"}, {"introduced": "3.1"}],
    )
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        _import(run, later)
    again = AffectedPackage.objects.get()
    assert again.pk != first.pk  # rewritten
    assert (again.fix_seen_at, again.fix_seen_in_id) == (
        first.fix_seen_at,
        first.fix_seen_in_id,
    )


def test_fix_time_is_the_import_when_the_record_says_later(world):
    # Under time travel the import happens before the record's modified.
    imported = datetime(2026, 2, 10, tzinfo=UTC)
    with time_machine.travel(imported, tick=False):
        _import(world["run"], FIXED)
    assert AffectedPackage.objects.get().fix_seen_at == imported


def test_an_older_revision_arriving_later_is_kept_but_not_applied(world):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)
        report = _import(run, UNFIXED)
    assert (report.stale, report.updated) == (1, 0)
    vuln = Vulnerability.objects.get()
    assert vuln.modified_at == datetime(2026, 2, 20, 12, 0, tzinfo=UTC)
    assert AffectedPackage.objects.get().ranges[0]["events"][-1] == {"fixed": "2.11.3"}
    stale = AdvisoryRevision.objects.get(applied=False)
    assert stale.raw == UNFIXED
    assert stale.changes == ["older than the record in force: kept, not applied"]


def test_withdrawal_withdraws_findings_and_stops_clocks_then_republishing_resumes(
    world,
):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)
        with run():
            findings_match(digests=[world["old"]])
    finding = _finding(world["old"])
    clock = SlaClock.objects.get(finding=finding)
    due = clock.due_at
    assert clock.state in SlaClock.RUNNING

    withdrawn = record(
        "2026-03-03T00:00:00Z",
        events=[{"introduced": "0"}, {"fixed": "2.11.3"}],
        withdrawn="2026-03-03T00:00:00Z",
    )
    at = T0 + timedelta(days=1)
    with time_machine.travel(at, tick=False):
        report = _import(run, withdrawn)
    assert report.findings_withdrawn == 1
    finding.refresh_from_db()
    assert (finding.status, finding.withdrawn_at) == ("withdrawn", at)
    assert finding.withdrawn_reason == (
        "GHSA-rev0-test-0001 was withdrawn 2026-03-03 00:00 UTC."
    )
    clock.refresh_from_db()
    assert (clock.state, clock.stop_reason, clock.stopped_at) == (
        "exempt",
        SlaClock.StopReason.ADVISORY_WITHDRAWN,
        at,
    )
    assert clock.get_stop_reason_display() == "Advisory withdrawn"
    assert clock.exempt_reason == finding.withdrawn_reason
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.SLA_CLOCK_EXEMPTED,
        details__reason="advisory withdrawn",
    ).exists()
    # A withdrawn finding is neither open nor clock-less.
    later = at + timedelta(days=1)
    assert (ledger_gaps(at=later), list(_withdrawn(later))) == ([], [])

    republished = record(
        "2026-03-04T00:00:00Z", events=[{"introduced": "0"}, {"fixed": "2.11.3"}]
    )
    back = T0 + timedelta(days=2)
    with time_machine.travel(back, tick=False):
        report = _import(run, republished)
    assert report.findings_restored == 1
    finding.refresh_from_db()
    assert (finding.status, finding.withdrawn_at, finding.withdrawn_reason) == (
        "affected",
        None,
        "",
    )
    clock.refresh_from_db()
    # Running again with the deadline it had.
    assert clock.state in SlaClock.RUNNING
    assert (clock.due_at, clock.stopped_at, clock.stop_reason) == (due, None, "")
    assert list(_withdrawn(back + timedelta(days=1))) == []


def test_a_changed_range_withdraws_findings_out_of_it_and_adds_new_ones(world):
    run = world["run"]
    newer = build(world["variant"], T0 - timedelta(days=20), [NEW])
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)  # 2.11.2 affected, 3.0.0 not
        with run():
            findings_match(digests=[world["old"]])
    # The newer build no longer has 2.11.2: the old finding is fixed by it.
    old_finding = _finding(world["old"])
    assert old_finding.status == "fixed"
    assert not Finding.objects.filter(digest=newer).exists()

    corrected = record(
        "2026-03-03T00:00:00Z",
        events=[{"introduced": "3.0.0"}, {"fixed": "3.1.3"}],
    )
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        report = _import(run, corrected)
    assert report.findings_withdrawn == 1
    old_finding.refresh_from_db()
    assert old_finding.status == "withdrawn"
    assert old_finding.withdrawn_reason == (
        "GHSA-rev0-test-0001 as modified 2026-03-03 00:00 UTC no longer names "
        "this component's version as affected."
    )
    # The fix the old finding had is kept for the record.
    assert old_finding.fixed_published_at is not None
    new_finding = Finding.objects.get(digest=newer)
    assert (new_finding.status, new_finding.fixed_version) == ("affected", "3.1.3")
    assert SlaClock.objects.filter(finding=new_finding).exists()


def test_a_malformed_revision_is_refused_whole(world):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, UNFIXED)
    bad = record("yesterday", events=[{"introduced": "0"}, {"fixed": "2.11.3"}])
    other = copy.deepcopy(FIXED) | {"id": "GHSA-rev0-test-0002"}
    with pytest.raises(ValidationError) as refused:
        osv_import(records=[other, bad], source="test")
    assert "modified: 'yesterday' is not an RFC 3339 timestamp" in str(refused.value)
    assert AdvisoryRevision.objects.count() == 1
    assert Vulnerability.objects.count() == 1
    assert Vulnerability.objects.get().modified_at == datetime(2026, 2, 1, tzinfo=UTC)


def test_the_ledger_check_names_clocks_that_did_not_follow_their_advisory(world):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)
        with run():
            findings_match(digests=[world["old"]])
    finding = _finding(world["old"])
    clock = SlaClock.objects.get(finding=finding)
    # Withdrawn behind the ledger's back (a lost task): the check sees it.
    Finding.objects.filter(pk=finding.pk).update(
        status=Finding.Status.WITHDRAWN, withdrawn_at=T0, withdrawn_reason="test"
    )
    later = T0 + timedelta(days=1)
    assert [(v.check, v.subject) for v in _withdrawn(later)] == [
        ("clock_running_withdrawn", f"clock {clock.pk} (org {world['org'].slug})")
    ]
    # The hourly sweep repairs it.
    assert sla_ledger_reconcile(now=later)["followed"] == 1
    clock.refresh_from_db()
    assert (clock.state, clock.stop_reason) == ("exempt", "withdrawn")
    # Idempotent; and back in force without the ledger hearing of it, the
    # check names the stopped clock.
    assert sla_clocks_follow_findings(finding_ids=[finding.pk], now=later) == {
        "stopped": 0,
        "resumed": 0,
        "restarted": 0,
    }
    Finding.objects.filter(pk=finding.pk).update(
        status=Finding.Status.AFFECTED, withdrawn_at=None, withdrawn_reason=""
    )
    assert [v.check for v in _withdrawn(later + timedelta(days=1))] == [
        "clock_stopped_withdrawn_in_force"
    ]


def test_a_clock_whose_repository_was_unmirrored_meanwhile_waits_for_the_mirror(
    world,
):
    run = world["run"]
    with time_machine.travel(T0, tick=False):
        _import(run, FIXED)
        with run():
            findings_match(digests=[world["old"]])
    finding = _finding(world["old"])
    withdrawn = record(
        "2026-03-03T00:00:00Z",
        events=[{"introduced": "0"}, {"fixed": "2.11.3"}],
        withdrawn="2026-03-03T00:00:00Z",
    )
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        _import(run, withdrawn)
    world["org"].mirrors.all().delete()
    republished = record(
        "2026-03-04T00:00:00Z", events=[{"introduced": "0"}, {"fixed": "2.11.3"}]
    )
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        _import(run, republished)
    clock = SlaClock.objects.get(finding=finding)
    assert (clock.state, clock.stop_reason) == ("exempt", "unmirrored")
