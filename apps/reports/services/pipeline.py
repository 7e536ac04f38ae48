"""One report built by one worker at a time: claimed under a lease, its files
made (evidence, PDF, POA&M workbook, OSCAL document, evidence bundle), checked
against itself and the ledger, signed, stored with their hashes, and the
requester told.

The content, the signature and the exports are made by their own modules;
this one only runs them in order and keeps the row honest.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.metrics import report_observe

from ..bundle import evidence_bundle
from ..checks.runner import report_checks
from ..evidence.document import build_evidence, canonical_json
from ..formats.oscal import MEDIA_TYPE as OSCAL_MEDIA_TYPE
from ..formats.oscal import OscalEmpty
from ..formats.poam_xlsx import MEDIA_TYPE as XLSX_MEDIA_TYPE
from ..models import Report
from ..oscal.documents import OSCAL_KINDS, oscal_document
from ..poam import poam_xlsx
from ..render import render_pdf
from ..signing import sign_pdf

logger = logging.getLogger(__name__)

Kind = Report.Kind
Status = Report.Status

MAX_ATTEMPTS = 3
# The stage of a report that failed at once because there was nothing to put
# in it (an OSCAL POA&M without a running clock); its error says why.
NOTHING_TO_REPORT = "Nothing to report"

Progress = Callable[[int, str], None]


def _lease() -> timedelta:
    return timedelta(seconds=settings.REPORT_LEASE_SECONDS)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _attempt_names(report: Report, attempt: int, ext: str) -> tuple[str, str]:
    """Where an attempt stores its files: named by the report and the attempt,
    so a late worker never overwrites the file of the one that finished."""
    stem = f"reports/{report.public_id}"
    suffix = "" if attempt == 1 else f"-{attempt}"
    return f"{stem}{suffix}.{ext}", f"{stem}{suffix}.evidence.json"


class ReportCheckFailed(Exception):
    """The built report contradicts itself or the ledger: it is not signed,
    not stored and not tried again (the same inputs fail the same way)."""

    def __init__(self, violations: list) -> None:
        self.violations = violations
        names = sorted({v.check for v in violations})
        super().__init__(f"failed consistency check: {', '.join(names)}")


def _checked(report: Report, progress: Progress, **parts: Any) -> None:
    """Run the consistency checks on the parts given; raise when one fails."""
    progress(parts.pop("percent"), "Checking the report against the ledger")
    violations = report_checks(report=report, **parts)
    if violations:
        raise ReportCheckFailed(violations)


def _build_poam(report: Report, progress: Progress) -> dict[str, Any]:
    content = poam_xlsx(report)
    _checked(report, progress, percent=90, workbook=content)
    return {
        "content": content,
        "ext": "xlsx",
        "media_type": XLSX_MEDIA_TYPE,
        "pages": None,
        "key_id": "",
        "evidence_json": None,
    }


def _build_oscal(report: Report, progress: Progress) -> dict[str, Any]:
    progress(10, "Reading the ledger and the images' evidence")
    content = oscal_document(report)
    _checked(report, progress, percent=90, oscal=content)
    return {
        "content": content,
        "ext": "json",
        "media_type": OSCAL_MEDIA_TYPE,
        "pages": None,
        "key_id": "",
        "evidence_json": None,
    }


def _build(report: Report, progress: Progress) -> dict[str, Any]:
    """The files of one report, by kind; nothing stored yet. Each is checked
    before it is signed (an evidence bundle's zip once it is packed)."""
    if report.kind == Kind.POAM:
        return _build_poam(report, progress)
    if report.kind in OSCAL_KINDS:
        return _build_oscal(report, progress)
    # A bundle carries the organization's compliance report: same id, window
    # and cut-off, made as that kind.
    as_pdf = report
    if report.kind == Kind.EVIDENCE_BUNDLE:
        as_pdf = copy.copy(report)
        as_pdf.kind = Kind.ORG_COMPLIANCE
    evidence = build_evidence(as_pdf, progress=progress)
    evidence_json = canonical_json(evidence)
    rendered = render_pdf(
        as_pdf, evidence, evidence_json=evidence_json, progress=progress
    )
    _checked(
        report,
        progress,
        percent=83,
        evidence=evidence,
        evidence_json=evidence_json,
        pdf=rendered.content,
    )
    progress(85, "Signing")
    signed = sign_pdf(rendered.content, report=report)
    if report.kind == Kind.EVIDENCE_BUNDLE:
        progress(90, "Packing the evidence bundle")
        content = evidence_bundle(
            report, pdf=signed.content, evidence_json=evidence_json
        )
        # Nothing leaves the worker unless the zip holds what it says.
        _checked(
            report, progress, percent=95, bundle=content, evidence_json=evidence_json
        )
        return {
            "content": content,
            "ext": "zip",
            "media_type": "application/zip",
            "pages": rendered.pages,
            "key_id": signed.key_id,
            "evidence_json": evidence_json,
        }
    return {
        "content": signed.content,
        "ext": "pdf",
        "media_type": "application/pdf",
        "pages": rendered.pages,
        "key_id": signed.key_id,
        "evidence_json": evidence_json,
    }


def _write(storage: Storage, name: str, content: bytes) -> str:
    if storage.exists(name):
        storage.delete(name)
    return storage.save(name, ContentFile(content))


def report_claim(*, report_id: int, now=None) -> int | None:
    """Take the report for one attempt; the attempt number, or None when it is
    finished or another worker's lease on it still runs."""
    now = now or timezone.now()
    claimed = (
        Report.objects.filter(
            pk=report_id, status__in=[Status.QUEUED, Status.RENDERING]
        )
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(
            status=Status.RENDERING,
            lease_until=now + _lease(),
            attempts=F("attempts") + 1,
            started_at=now,
            progress=0,
            stage="Starting",
        )
    )
    if not claimed:
        return None
    return Report.objects.values_list("attempts", flat=True).get(pk=report_id)


def _mine(report_id: int, attempt: int):
    """The row, only while this attempt still holds it."""
    return Report.objects.filter(
        pk=report_id, status=Status.RENDERING, attempts=attempt
    )


def report_run(*, report_id: int, worker: str | None = None) -> Report:
    """Build a queued report once. Two workers never build it at the same time;
    a worker that died leaves a lease that runs out, and the next one retries."""
    attempt = report_claim(report_id=report_id)
    report = Report.objects.select_related("org", "digest", "requested_by").get(
        pk=report_id
    )
    if attempt is None:
        logger.info("report %s not claimed (status %s)", report_id, report.status)
        return report
    logger.info("report %s attempt %s on %s", report_id, attempt, worker or "-")

    def progress(percent: int, stage: str) -> None:
        # Each step renews the lease: a long report is not taken over while
        # its worker is alive and reporting.
        _mine(report_id, attempt).update(
            progress=max(0, min(int(percent), 99)),
            stage=str(stage)[:200],
            lease_until=timezone.now() + _lease(),
        )

    started = time.monotonic()
    outcome = "failed"
    try:
        try:
            built = _build(report, progress)
        except ReportCheckFailed as failed:
            logger.warning("report %s attempt %s: %s", report_id, attempt, failed)
            outcome = "check_failed"
            return _report_check_failed(
                report_id=report_id, attempt=attempt, violations=failed.violations
            )
        except OscalEmpty as empty:
            # The same inputs are as empty next time: not retried.
            logger.info("report %s attempt %s: %s", report_id, attempt, empty)
            return _report_failed(
                report_id=report_id,
                attempt=attempt,
                error=empty,
                final=True,
                stage=NOTHING_TO_REPORT,
            )
        except Exception as exc:
            logger.exception("report %s attempt %s failed", report_id, attempt)
            return _report_failed(report_id=report_id, attempt=attempt, error=exc)
        stored = _report_store(report, attempt=attempt, built=built)
        outcome = "ready" if stored.status == Status.READY else "lost_lease"
        return stored
    finally:
        report_observe(
            kind=report.kind, outcome=outcome, seconds=time.monotonic() - started
        )


def _report_store(report: Report, *, attempt: int, built: dict[str, Any]) -> Report:
    file_field = Report._meta.get_field("file")
    storage = file_field.storage  # type: ignore[attr-defined]
    name, evidence_name = _attempt_names(report, attempt, built["ext"])
    content: bytes = built["content"]
    stored = [_write(storage, name, content)]
    evidence_json: bytes | None = built["evidence_json"]
    if evidence_json is not None:
        stored.append(_write(storage, evidence_name, evidence_json))
    now = timezone.now()
    with transaction.atomic():
        finished = _mine(report.pk, attempt).update(
            status=Status.READY,
            progress=100,
            stage="Ready",
            error="",
            lease_until=None,
            finished_at=now,
            file=stored[0],
            media_type=built["media_type"],
            size=len(content),
            sha256=_sha256(content),
            evidence_file=stored[1] if evidence_json is not None else "",
            evidence_sha256=_sha256(evidence_json) if evidence_json else "",
            signer_key_id=built["key_id"] or "",
            pages=built["pages"],
        )
        if finished:
            report.refresh_from_db()
            audit_record(
                action=AuditEvent.Action.REPORT_READY,
                org=report.org,
                target=report,
                details={
                    "kind": report.kind,
                    "sha256": report.sha256,
                    "size": report.size,
                    "attempts": attempt,
                    "signer_key_id": report.signer_key_id,
                },
            )
            transaction.on_commit(lambda: _report_mail(report))
    if not finished:
        # Another attempt took over (our lease ran out): its files are the
        # report's; ours go.
        for stored_name in stored:
            storage.delete(stored_name)
        logger.warning("report %s attempt %s lost its lease", report.pk, attempt)
        report.refresh_from_db()
        return report
    _forget_earlier_attempts(report, attempt, storage, built["ext"])
    return report


def _forget_earlier_attempts(report: Report, attempt: int, storage, ext: str):
    """Files a killed attempt left half-way are not the report's."""
    for earlier in range(1, attempt):
        for name in _attempt_names(report, earlier, ext):
            if storage.exists(name):
                storage.delete(name)


def _report_failed(
    *,
    report_id: int,
    attempt: int,
    error: Exception,
    final: bool = False,
    stage: str = "",
) -> Report:
    """Queued again for another attempt, or failed after the last (or at
    once when ``final``; ``stage`` then says why and the error is kept as
    the plain sentence it is)."""
    final = final or attempt >= MAX_ATTEMPTS
    if stage:
        message = str(error)[:2000]
    else:
        message = f"{type(error).__name__}: {error}"[:2000]
        stage = "Failed" if final else f"Attempt {attempt} failed; retrying"
    with transaction.atomic():
        updated = _mine(report_id, attempt).update(
            status=Status.FAILED if final else Status.QUEUED,
            error=message,
            lease_until=None,
            stage=stage,
        )
        report = Report.objects.select_related("org").get(pk=report_id)
        if updated and final:
            audit_record(
                action=AuditEvent.Action.REPORT_FAILED,
                org=report.org,
                target=report,
                details={"kind": report.kind, "attempts": attempt, "error": message},
            )
    return report


def _report_check_failed(*, report_id: int, attempt: int, violations: list) -> Report:
    """Failed at once, with the checks named: the same inputs would fail
    again. Staff are told by mail; the customer's page says they were."""
    failures = [{"check": v.check, "message": v.message} for v in violations]
    names = sorted({v.check for v in violations})
    message = f"Failed consistency check: {', '.join(names)}."
    with transaction.atomic():
        updated = _mine(report_id, attempt).update(
            status=Status.FAILED,
            error=message,
            check_failures=failures,
            lease_until=None,
            stage="Failed consistency check",
        )
        report = Report.objects.select_related("org").get(pk=report_id)
        if updated:
            audit_record(
                action=AuditEvent.Action.REPORT_FAILED,
                org=report.org,
                target=report,
                details={
                    "kind": report.kind,
                    "attempts": attempt,
                    "error": message,
                    "checks": names,
                },
            )
            transaction.on_commit(lambda: _report_check_mail(report))
    return report


def _report_check_mail(report: Report) -> None:
    from django.contrib.auth import get_user_model

    from apps.core.tasks import deliver_email

    staff = list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    if not staff:
        logger.error("report %s failed its checks; no staff to tell", report.pk)
        return
    link = settings.SITE_URL.rstrip("/") + reverse(
        "staff_report_detail", args=[report.public_id]
    )
    lines = [f"- {f['check']}: {f['message']}" for f in report.check_failures]
    deliver_email.delay(
        subject=(f"Report failed consistency check: {', '.join(report.failed_checks)}"),
        body=(
            f"The {report.get_kind_display().lower()}"
            f"{f' for {report.org.name}' if report.org else ''} "
            f"({report.window_start} to {report.window_end}) contradicts itself "
            "or the ledger. It was not signed and is not offered for download.\n\n"
            + "\n".join(lines)
            + f"\n\nReport id: {report.public_id}\n{link}\n"
        ),
        to=staff,
    )


def _report_mail(report: Report) -> None:
    from apps.core.tasks import deliver_email

    user = report.requested_by
    if user is None or not user.email:
        return
    if report.org is not None:
        path = reverse("reports:detail", args=[report.org.slug, report.public_id])
    else:
        path = reverse("staff_reports")
    link = settings.SITE_URL.rstrip("/") + path
    deliver_email.delay(
        subject=f"Your report is ready: {report.get_kind_display()}",
        body=(
            f"The {report.get_kind_display().lower()} you requested"
            f"{f' for {report.org.name}' if report.org else ''} "
            f"({report.window_start} to {report.window_end}) is ready.\n\n"
            f"Download it: {link}\n\n"
            f"SHA-256: {report.sha256}\n"
            f"Report id: {report.public_id}\n"
        ),
        to=[user.email],
    )
