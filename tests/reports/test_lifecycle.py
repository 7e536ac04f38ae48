"""A report's life: the request door, the build with its lease and retries,
the stored files and the mail. The content, signing and export functions the
pipeline calls are replaced by small fakes here (their own tests cover them)."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.entitlements.models import Mirror
from apps.reports import tasks
from apps.reports.models import Report
from apps.reports.services import downloads, intake, pipeline, sweep
from tests.catalog import builders as catalog
from tests.factories import AuditorGrantFactory, UserFactory

Kind = Report.Kind
Status = Report.Status


@functools.cache
def tiny_pdf() -> bytes:
    from weasyprint import HTML

    return HTML(string="<h1>Report</h1><p>fake</p>").write_pdf()


@dataclass
class Rendered:
    content: bytes
    pages: int


@dataclass
class Signed:
    content: bytes
    key_id: str


class Fakes:
    """Stand-ins for the content, signing and export functions, counting calls."""

    def __init__(self):
        self.calls: list[str] = []
        self.kinds: list[str] = []
        self.fail_times = 0
        self.on_render = None
        # What the fake consistency checks find: Violation-like objects.
        self.violations: list = []

    def functions(self) -> dict[str, Callable]:
        def build_evidence(report, *, progress=None):
            self.calls.append("evidence")
            self.kinds.append(report.kind)
            if progress:
                progress(20, "Reading the ledger")
            return {"report": str(report.public_id), "kind": report.kind}

        def canonical_json(evidence):
            return (
                json.dumps(evidence, sort_keys=True, separators=(",", ":")) + "\n"
            ).encode()

        def render_pdf(report, evidence, *, evidence_json, progress=None):
            self.calls.append("render")
            if self.on_render:
                self.on_render(report)
            if self.fail_times:
                self.fail_times -= 1
                raise RuntimeError("renderer broke")
            if progress:
                progress(70, "Rendering")
            return Rendered(tiny_pdf(), 1)

        def sign_pdf(content, *, report):
            self.calls.append("sign")
            return Signed(content + b"%signed\n", "test-key-1")

        def poam_xlsx(report):
            self.calls.append("poam")
            return b"PK-fake-xlsx"

        def evidence_bundle(report, *, pdf, evidence_json):
            self.calls.append("bundle")
            return b"PK-fake-zip" + hashlib.sha256(pdf).digest()

        def report_checks(*, report, **parts):
            self.calls.append("check")
            return list(self.violations)

        return {
            "build_evidence": build_evidence,
            "canonical_json": canonical_json,
            "render_pdf": render_pdf,
            "sign_pdf": sign_pdf,
            "poam_xlsx": poam_xlsx,
            "evidence_bundle": evidence_bundle,
            "report_checks": report_checks,
        }


@pytest.fixture
def fakes(monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    f = Fakes()
    # Where the pipeline looks them up: each name must exist there.
    for name, function in f.functions().items():
        monkeypatch.setattr(pipeline, name, function)
    return f


def window(days: int = 30):
    today = timezone.now().date()
    return today - timedelta(days=days), today - timedelta(days=1)


def make_report(org, actor, *, kind=Kind.ORG_COMPLIANCE, request_id=None, **kwargs):
    start, end = window()
    params = {"window_start": start, "window_end": end, **kwargs}
    report, _ = intake.report_request(
        org=org,
        kind=kind,
        request_id=request_id or uuid.uuid4().hex,
        actor=actor,
        **params,
    )
    return report


def events(action: str, report: Report) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=action, target_type="reports.report", target_id=str(report.pk)
        )
    )


# --- the request door -----------------------------------------------------------


@pytest.mark.django_db
def test_same_request_id_and_parameters_answer_the_same_report(org, owner):
    start, end = window()
    args = {
        "org": org,
        "kind": Kind.ORG_COMPLIANCE,
        "window_start": start,
        "window_end": end,
        "request_id": "req-1",
        "actor": owner.user,
    }
    first, created = intake.report_request(**args)
    again, created_again = intake.report_request(**args)
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert Report.objects.count() == 1
    assert len(events(AuditEvent.Action.REPORT_REQUESTED, first)) == 1


@pytest.mark.django_db
def test_same_request_id_with_other_parameters_is_refused(org, owner):
    start, end = window()
    make_report(org, owner.user, request_id="req-1")
    with pytest.raises(ValidationError, match="request id already used"):
        intake.report_request(
            org=org,
            kind=Kind.POAM,
            window_start=start,
            window_end=end,
            request_id="req-1",
            actor=owner.user,
        )
    assert Report.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("shift", "field"),
    [
        ("reversed", "window_end"),
        ("future", "window_end"),
        ("too_long", "window_start"),
    ],
)
def test_bad_windows_are_refused_and_nothing_is_written(org, owner, shift, field):
    today = timezone.now().date()
    start, end = {
        "reversed": (today - timedelta(days=1), today - timedelta(days=10)),
        "future": (today - timedelta(days=10), today + timedelta(days=1)),
        "too_long": (today - timedelta(days=3 * 366 + 1), today),
    }[shift]
    with pytest.raises(ValidationError) as raised:
        intake.report_request(
            org=org,
            kind=Kind.ORG_COMPLIANCE,
            window_start=start,
            window_end=end,
            request_id="bad",
            actor=owner.user,
        )
    assert field in raised.value.message_dict
    assert not Report.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_REQUESTED)


@pytest.mark.django_db
def test_a_window_ending_today_is_accepted(org, owner):
    today = timezone.now().date()
    report = make_report(org, owner.user, window_start=today, window_end=today)
    assert report.window_end == today


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["nonsense", Kind.SLA_PERFORMANCE])
def test_unknown_or_staff_kinds_are_refused_to_an_org(org, owner, kind):
    with pytest.raises(ValidationError) as raised:
        make_report(org, owner.user, kind=kind)
    assert "kind" in raised.value.message_dict
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_sla_performance_is_for_staff_without_an_org(owner):
    staff = UserFactory(is_staff=True)
    report = make_report(None, staff, kind=Kind.SLA_PERFORMANCE)
    assert report.org is None
    with pytest.raises(PermissionDenied):
        make_report(None, owner.user, kind=Kind.SLA_PERFORMANCE)
    with pytest.raises(ValidationError):
        make_report(None, staff, kind=Kind.ORG_COMPLIANCE)


@pytest.mark.django_db
def test_a_dossier_needs_a_digest_the_org_mirrors(org, owner):
    image = catalog.build(catalog.series(catalog.repository("python"), "3.12"))
    for digest in (None, image.digest, "sha256:" + "0" * 64):
        with pytest.raises(ValidationError) as raised:
            make_report(org, owner.user, kind=Kind.IMAGE_DOSSIER, digest=digest)
        assert "digest" in raised.value.message_dict
    assert not Report.objects.exists()
    Mirror.objects.create(
        org=org, repository=image.variant.series.repository, created_by=owner.user
    )
    report = make_report(org, owner.user, kind=Kind.IMAGE_DOSSIER, digest=image.digest)
    assert report.digest == image


@pytest.mark.django_db
def test_members_billing_auditors_and_outsiders_cannot_request(
    org, member, billing, outsider
):
    auditor = UserFactory()
    AuditorGrantFactory(org=org, email=auditor.email)
    for user in (member.user, billing.user, auditor, outsider.user, None):
        with pytest.raises(PermissionDenied):
            make_report(org, user)
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_admins_and_staff_may_request(org, admin):
    assert make_report(org, admin.user).requested_by == admin.user
    assert make_report(org, UserFactory(is_staff=True)).org == org


@pytest.mark.django_db
def test_the_request_fixes_the_data_cutoff_and_queues_after_commit(
    org, owner, fakes, django_capture_on_commit_callbacks
):
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        report = make_report(org, owner.user)
    assert before <= report.data_cutoff <= timezone.now()
    assert report.status == Status.QUEUED
    assert fakes.calls == []  # nothing runs before the commit
    assert len(callbacks) == 1


# --- building ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_report_is_built_stored_hashed_audited_and_mailed(
    org, owner, fakes, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = make_report(org, owner.user)
    report.refresh_from_db()
    assert report.status == Status.READY
    assert (report.progress, report.attempts, report.lease_until) == (100, 1, None)
    assert report.file.name == f"reports/{report.public_id}.pdf"
    stored = report.file.read()
    assert stored.startswith(b"%PDF")
    assert stored.endswith(b"%signed\n")
    assert report.sha256 == hashlib.sha256(stored).hexdigest()
    assert report.size == len(stored)
    evidence = report.evidence_file.read()
    assert json.loads(evidence)["report"] == str(report.public_id)
    assert report.evidence_sha256 == hashlib.sha256(evidence).hexdigest()
    assert report.signer_key_id == "test-key-1"
    assert report.media_type == "application/pdf"
    assert report.pages == 1
    assert report.finished_at is not None
    (ready,) = events(AuditEvent.Action.REPORT_READY, report)
    assert ready.details["sha256"] == report.sha256
    (message,) = mail.outbox
    assert message.to == [owner.user.email]
    assert f"/o/{org.slug}/reports/{report.public_id}/" in message.body
    assert report.sha256 in message.body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "media_type", "calls"),
    [
        (Kind.POAM, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         ["poam", "check"]),
        (Kind.EVIDENCE_BUNDLE, "application/zip",
         ["evidence", "render", "check", "sign", "bundle", "check"]),
    ],
)  # fmt: skip
def test_exports_are_built_by_their_modules(org, owner, fakes, kind, media_type, calls):
    report = make_report(org, owner.user, kind=kind)
    report = pipeline.report_run(report_id=report.pk)
    assert report.status == Status.READY
    assert report.media_type == media_type
    assert fakes.calls == calls
    assert report.sha256 == hashlib.sha256(report.file.read()).hexdigest()
    assert bool(report.evidence_file) is (kind == Kind.EVIDENCE_BUNDLE)
    # A bundle's PDF is the organization's compliance report.
    assert fakes.kinds == ([Kind.ORG_COMPLIANCE] if "evidence" in calls else [])


@pytest.mark.django_db
def test_a_ready_report_is_never_built_again(org, owner, fakes):
    report = make_report(org, owner.user)
    pipeline.report_run(report_id=report.pk)
    first = Report.objects.get(pk=report.pk)
    again = pipeline.report_run(report_id=report.pk)
    assert fakes.calls.count("render") == 1
    assert (again.sha256, again.attempts) == (first.sha256, 1)
    assert len(events(AuditEvent.Action.REPORT_READY, report)) == 1


@pytest.mark.django_db
def test_a_live_lease_keeps_other_workers_out(org, owner, fakes):
    report = make_report(org, owner.user)
    assert pipeline.report_claim(report_id=report.pk) == 1
    pipeline.report_run(report_id=report.pk)
    assert fakes.calls == []
    # The lease runs out (the worker died): the next worker takes over.
    Report.objects.filter(pk=report.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    report = pipeline.report_run(report_id=report.pk)
    assert (report.status, report.attempts) == (Status.READY, 2)
    assert report.file.name == f"reports/{report.public_id}-2.pdf"


@pytest.mark.django_db
def test_progress_is_recorded_while_building(org, owner, fakes):
    seen = []
    fakes.on_render = lambda r: seen.append(
        Report.objects.values_list("status", "progress", "stage").get(pk=r.pk)
    )
    report = make_report(org, owner.user)
    pipeline.report_run(report_id=report.pk)
    assert seen == [(Status.RENDERING, 20, "Reading the ledger")]


@pytest.mark.django_db
def test_a_late_worker_does_not_overwrite_the_finished_report(org, owner, fakes):
    """Attempt 1 stalls past its lease; attempt 2 finishes; attempt 1's result
    is dropped and its files removed."""
    report = make_report(org, owner.user)

    def take_over(r):
        if fakes.calls.count("render") == 1:
            Report.objects.filter(pk=r.pk).update(
                lease_until=timezone.now() - timedelta(seconds=1)
            )
            pipeline.report_run(report_id=r.pk)

    fakes.on_render = take_over
    late = pipeline.report_run(report_id=report.pk)
    assert (late.status, late.attempts) == (Status.READY, 2)
    assert late.file.name.endswith("-2.pdf")
    storage = late.file.storage
    assert not storage.exists(f"reports/{report.public_id}.pdf")
    assert len(events(AuditEvent.Action.REPORT_READY, report)) == 1


@pytest.mark.django_db
def test_a_failed_attempt_is_retried_then_fails_after_three(org, owner, fakes):
    fakes.fail_times = 5
    report = make_report(org, owner.user)
    for attempt in (1, 2):
        report = pipeline.report_run(report_id=report.pk)
        assert (report.status, report.attempts) == (Status.QUEUED, attempt)
        assert "renderer broke" in report.error
        assert not events(AuditEvent.Action.REPORT_FAILED, report)
    report = pipeline.report_run(report_id=report.pk)
    assert (report.status, report.attempts) == (Status.FAILED, 3)
    assert report.lease_until is None
    assert len(events(AuditEvent.Action.REPORT_FAILED, report)) == 1
    assert pipeline.report_run(report_id=report.pk).attempts == 3
    assert fakes.calls.count("render") == 3


@dataclass(frozen=True)
class FakeViolation:
    check: str
    subject: str
    message: str


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "calls"),
    [
        (Kind.ORG_COMPLIANCE, ["evidence", "render", "check"]),
        (Kind.POAM, ["poam", "check"]),
    ],
)
def test_a_failed_check_is_not_signed_stored_or_retried(
    org, owner, fakes, django_capture_on_commit_callbacks, kind, calls
):
    fakes.violations = [
        FakeViolation("mirrors_cover_sections", "r", "FIPS lists payments."),
        FakeViolation("appendix_matches_summary", "r", "3 clocks, 2 listed."),
    ]
    staff = UserFactory(is_staff=True, email="desk@publisher.example")
    with django_capture_on_commit_callbacks(execute=True):
        report = make_report(org, owner.user, kind=kind)
    report.refresh_from_db()
    assert fakes.calls == calls  # never signed
    assert (report.status, report.attempts, report.lease_until) == (
        Status.FAILED,
        1,
        None,
    )
    assert report.failed_checks == [
        "appendix_matches_summary",
        "mirrors_cover_sections",
    ]
    assert report.check_failures[0] == {
        "check": "mirrors_cover_sections",
        "message": "FIPS lists payments.",
    }
    assert not report.file
    assert not report.sha256
    assert not report.signer_key_id
    # Deterministic: neither the task nor the sweep builds it again.
    tasks.run_report.delay(report.pk)
    assert report.pk not in sweep.reports_stale(now=timezone.now() + timedelta(hours=1))
    report.refresh_from_db()
    assert (report.status, report.attempts) == (Status.FAILED, 1)
    assert fakes.calls == calls
    (failed,) = events(AuditEvent.Action.REPORT_FAILED, report)
    assert failed.details["checks"] == report.failed_checks
    (told,) = mail.outbox
    assert told.to == [staff.email]
    assert "mirrors_cover_sections: FIPS lists payments." in told.body
    assert f"/staff/reports/{report.public_id}/" in told.body


@pytest.mark.django_db
def test_the_task_retries_a_failed_attempt_and_succeeds(org, owner, fakes):
    fakes.fail_times = 1
    report = make_report(org, owner.user)
    # Eager tasks run the retry at once (the countdown is for real workers).
    tasks.run_report.delay(report.pk)
    report.refresh_from_db()
    assert (report.status, report.attempts) == (Status.READY, 2)


@pytest.mark.django_db
def test_the_sweep_requeues_lost_and_abandoned_reports(org, owner, fakes):
    old = timezone.now() - timedelta(minutes=10)
    lost = make_report(org, owner.user)
    fresh = make_report(org, owner.user)
    abandoned = make_report(org, owner.user)
    exhausted = make_report(org, owner.user)
    Report.objects.filter(pk=lost.pk).update(created_at=old)
    Report.objects.filter(pk__in=[abandoned.pk, exhausted.pk]).update(
        status=Status.RENDERING, attempts=1, lease_until=timezone.now()
    )
    Report.objects.filter(pk=exhausted.pk).update(attempts=3)
    assert set(sweep.reports_stale(now=timezone.now() + timedelta(seconds=1))) == {
        lost.pk,
        abandoned.pk,
        exhausted.pk,
    }
    Report.objects.filter(pk__in=[abandoned.pk, exhausted.pk]).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.requeue_stale() == 2
    statuses = dict(Report.objects.values_list("pk", "status"))
    assert statuses[lost.pk] == statuses[abandoned.pk] == Status.READY
    assert statuses[fresh.pk] == Status.QUEUED  # its own task is on its way
    assert statuses[exhausted.pk] == Status.FAILED
    assert events(AuditEvent.Action.REPORT_FAILED, exhausted)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_build_the_report_once(require_postgres, org, owner, fakes):
    report = make_report(org, owner.user)
    barrier = threading.Barrier(2)
    results = []

    def work():
        try:
            barrier.wait(timeout=10)
            results.append(pipeline.report_run(report_id=report.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2
    assert fakes.calls.count("render") == 1
    report.refresh_from_db()
    assert (report.status, report.attempts) == (Status.READY, 1)
    assert len(events(AuditEvent.Action.REPORT_READY, report)) == 1


@pytest.mark.django_db
def test_a_download_is_recorded_with_who_and_where(org, member, fakes, rf):
    report = make_report(org, UserFactory(is_staff=True))
    pipeline.report_run(report_id=report.pk)
    request = rf.get("/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="curl/8")
    download = downloads.report_download_record(
        report=report, part="report", request=request, via="member", user=member.user
    )
    assert (download.ip, download.user_agent, download.org) == (
        "203.0.113.7",
        "curl/8",
        org,
    )
    (event,) = events(AuditEvent.Action.REPORT_DOWNLOADED, report)
    assert (event.actor_id, event.ip) == (member.user.pk, "203.0.113.7")
    assert event.details["sha256"] == report.sha256
