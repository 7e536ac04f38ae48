"""A report's life: requested once, built by one worker at a time, stored with
its hash, delivered, and every download logged.

The content (evidence, PDF), the signature and the exports are made by their
own modules; this one only runs them in order and keeps the row honest.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import logging
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import ImageDigest
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.orgs.permissions import Perm
from apps.orgs.selectors import org_access_get

from .models import Report, ReportDownload

logger = logging.getLogger(__name__)

Kind = Report.Kind
Status = Report.Status

MAX_ATTEMPTS = 3
MAX_WINDOW_DAYS = 3 * 366
ORG_KINDS = frozenset(
    {Kind.ORG_COMPLIANCE, Kind.IMAGE_DOSSIER, Kind.POAM, Kind.EVIDENCE_BUNDLE}
)
STAFF_KINDS = frozenset({Kind.SLA_PERFORMANCE})
PDF_KINDS = frozenset({Kind.ORG_COMPLIANCE, Kind.IMAGE_DOSSIER, Kind.SLA_PERFORMANCE})
# Requesting a report is managing the organization's evidence: owners and admins.
REQUEST_PERMS = (Perm.EVIDENCE_VIEW, Perm.ORG_MANAGE)

Progress = Callable[[int, str], None]


def _lease() -> timedelta:
    return timedelta(seconds=settings.REPORT_LEASE_SECONDS)


def report_may_request(*, user, org: Organization | None) -> bool:
    """Staff request any report; in an organization, owners and admins."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    if org is None:
        return False
    access = org_access_get(user=user, org=org)
    return access is not None and all(access.can(p) for p in REQUEST_PERMS)


def _validate_window(*, window_start: date, window_end: date, today: date) -> None:
    if window_end < window_start:
        raise ValidationError({"window_end": "The window ends before it starts."})
    if window_end > today:
        raise ValidationError({"window_end": "The window cannot end in the future."})
    if (window_end - window_start).days > MAX_WINDOW_DAYS:
        raise ValidationError(
            {"window_start": "A report window is at most three years long."}
        )


def _validate_kind(
    *, kind: str, org: Organization | None, digest: str | None
) -> ImageDigest | None:
    if kind not in Kind.values:
        raise ValidationError({"kind": f"Unknown report kind {kind!r}."})
    if org is None and kind not in STAFF_KINDS:
        raise ValidationError({"kind": "This report belongs to an organization."})
    if org is not None and kind not in ORG_KINDS:
        raise ValidationError(
            {"kind": "This report spans all customers: publisher staff only."}
        )
    if kind != Kind.IMAGE_DOSSIER:
        if digest:
            raise ValidationError({"digest": "Only an image dossier names a digest."})
        return None
    if not digest:
        raise ValidationError({"digest": "An image dossier needs a digest."})
    image = (
        ImageDigest.objects.filter(digest=digest.strip().lower())
        .select_related("variant__series__repository")
        .first()
    )
    mirrored = (
        image is not None
        and org is not None
        and Mirror.objects.for_org(org)
        .filter(repository_id=image.variant.series.repository_id)
        .exists()
    )
    if not mirrored:
        raise ValidationError(
            {"digest": "No such digest in a repository this organization mirrors."}
        )
    return image


def _same_request(
    report: Report,
    *,
    org: Organization | None,
    kind: str,
    window_start: date,
    window_end: date,
    digest: str | None,
) -> bool:
    report_digest = report.digest.digest if report.digest is not None else None
    given = digest.strip().lower() if digest else None
    return (
        report.org_id == (org.pk if org is not None else None)
        and report.kind == kind
        and report.window_start == window_start
        and report.window_end == window_end
        and report_digest == given
    )


def report_request(
    *,
    org: Organization | None,
    kind: str,
    window_start: date,
    window_end: date,
    request_id: str,
    actor,
    digest: str | None = None,
    request: HttpRequest | None = None,
    token=None,
) -> tuple[Report, bool]:
    """Queue one report. The same ``request_id`` with the same parameters is the
    same report (``created`` False); with others it is refused.

    ``token``: an API token of ``org`` whose scope the API already checked;
    without one the actor's role decides.
    """
    request_id = (request_id or "").strip()
    if not request_id or len(request_id) > 64:
        raise ValidationError({"request_id": "A request id of 1 to 64 characters."})
    existing = (
        Report.objects.filter(request_id=request_id).select_related("digest").first()
    )
    if existing is not None:
        return _replay(
            existing,
            org=org,
            kind=kind,
            window_start=window_start,
            window_end=window_end,
            digest=digest,
        )
    if token is not None:
        if org is None or token.org_id != org.pk:
            raise PermissionDenied("This token belongs to another organization.")
    elif not report_may_request(user=actor, org=org):
        raise PermissionDenied("Your role cannot request reports.")
    now = timezone.now()
    _validate_window(window_start=window_start, window_end=window_end, today=now.date())
    image = _validate_kind(kind=kind, org=org, digest=digest)
    with transaction.atomic():
        # A concurrent twin with the same id: the unique constraint decides,
        # and the loser answers with the winner's report.
        try:
            with transaction.atomic():
                report = Report.objects.create(
                    request_id=request_id,
                    kind=kind,
                    org=org,
                    digest=image,
                    window_start=window_start,
                    window_end=window_end,
                    data_cutoff=now,
                    requested_by=actor if _is_user(actor) else None,
                    created_at=now,
                )
        except IntegrityError:
            existing = Report.objects.select_related("digest").get(
                request_id=request_id
            )
            return _replay(
                existing,
                org=org,
                kind=kind,
                window_start=window_start,
                window_end=window_end,
                digest=digest,
            )
        audit_record(
            action=AuditEvent.Action.REPORT_REQUESTED,
            actor=actor,
            org=org,
            target=report,
            request=request,
            details={
                "kind": kind,
                "window": [str(window_start), str(window_end)],
                "digest": image.digest if image else None,
                "request_id": request_id,
                "via": "token" if token is not None else "web",
            },
        )
        transaction.on_commit(lambda: report_enqueue(report_id=report.pk))
    return report, True


def _replay(existing: Report, **params: Any) -> tuple[Report, bool]:
    if not _same_request(existing, **params):
        raise ValidationError(
            {"request_id": "request id already used for another report"}
        )
    return existing, False


def _is_user(actor) -> bool:
    return actor is not None and getattr(actor, "is_authenticated", False)


def report_enqueue(*, report_id: int) -> None:
    """Hand the report to the reports queue. A broker failure leaves it queued
    for the sweep, never lost."""
    from .tasks import run_report

    try:
        run_report.delay(report_id)
    except Exception:
        logger.exception("report %s not queued now; the sweep retries it", report_id)


# --- building -----------------------------------------------------------------


def _builder(name: str):
    # Imported when a report is built, so each module can be replaced alone.
    return importlib.import_module(f"apps.reports.{name}")


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
    violations = _builder("checks").report_checks(report=report, **parts)
    if violations:
        raise ReportCheckFailed(violations)


def _build(report: Report, progress: Progress) -> dict[str, Any]:
    """The files of one report, by kind; nothing stored yet. Each is checked
    before it is signed (an evidence bundle's zip once it is packed)."""
    if report.kind == Kind.POAM:
        content = _builder("poam").poam_xlsx(report)
        _checked(report, progress, percent=90, workbook=content)
        return {
            "content": content,
            "ext": "xlsx",
            "media_type": (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            ),
            "pages": None,
            "key_id": "",
            "evidence_json": None,
        }
    # A bundle carries the organization's compliance report: same id, window
    # and cut-off, made as that kind.
    as_pdf = report
    if report.kind == Kind.EVIDENCE_BUNDLE:
        as_pdf = copy.copy(report)
        as_pdf.kind = Kind.ORG_COMPLIANCE
    evidence = _builder("evidence").build_evidence(as_pdf, progress=progress)
    evidence_json = _builder("evidence").canonical_json(evidence)
    rendered = _builder("render").render_pdf(
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
    signed = _builder("signing").sign_pdf(rendered.content, report=report)
    if report.kind == Kind.EVIDENCE_BUNDLE:
        progress(90, "Packing the evidence bundle")
        content = _builder("bundle").evidence_bundle(
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

    try:
        built = _build(report, progress)
    except ReportCheckFailed as failed:
        logger.warning("report %s attempt %s: %s", report_id, attempt, failed)
        return _report_check_failed(
            report_id=report_id, attempt=attempt, violations=failed.violations
        )
    except Exception as exc:
        logger.exception("report %s attempt %s failed", report_id, attempt)
        return _report_failed(report_id=report_id, attempt=attempt, error=exc)
    return _report_store(report, attempt=attempt, built=built)


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


def _report_failed(*, report_id: int, attempt: int, error: Exception) -> Report:
    final = attempt >= MAX_ATTEMPTS
    message = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        updated = _mine(report_id, attempt).update(
            status=Status.FAILED if final else Status.QUEUED,
            error=message,
            lease_until=None,
            stage="Failed" if final else f"Attempt {attempt} failed; retrying",
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


# --- the sweep -----------------------------------------------------------------

STALE_QUEUED = timedelta(minutes=3)


def reports_stale(*, now=None) -> list[int]:
    """Reports a lost task or a dead worker left behind: queued for minutes with
    no live lease, or rendering with a lease that ran out."""
    now = now or timezone.now()
    return list(
        Report.objects.filter(
            Q(
                status=Status.QUEUED,
                created_at__lt=now - STALE_QUEUED,
            )
            & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            | Q(status=Status.RENDERING, lease_until__lt=now)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def report_expire_exhausted(*, report_id: int) -> None:
    """A rendering report whose last attempt died: failed, with the reason."""
    with transaction.atomic():
        updated = Report.objects.filter(
            pk=report_id,
            status=Status.RENDERING,
            attempts__gte=MAX_ATTEMPTS,
            lease_until__lt=timezone.now(),
        ).update(
            status=Status.FAILED,
            lease_until=None,
            stage="Failed",
            error="The worker stopped during the last attempt.",
        )
        if updated:
            report = Report.objects.select_related("org").get(pk=report_id)
            audit_record(
                action=AuditEvent.Action.REPORT_FAILED,
                org=report.org,
                target=report,
                details={"kind": report.kind, "attempts": report.attempts},
            )


# --- downloads -------------------------------------------------------------------


def report_download_record(
    *,
    report: Report,
    part: str,
    request: HttpRequest | None,
    via: str,
    user=None,
    token=None,
) -> ReportDownload:
    """Who took which file of a report, when and from where."""
    meta = request.META if request is not None else {}
    with transaction.atomic():
        download = ReportDownload.objects.create(
            report=report,
            org=report.org,
            user=user if _is_user(user) else None,
            token=token,
            via=via,
            part=part,
            ip=(meta.get("REMOTE_ADDR") or None),
            user_agent=str(meta.get("HTTP_USER_AGENT", ""))[:300],
        )
        audit_record(
            action=AuditEvent.Action.REPORT_DOWNLOADED,
            actor=user,
            org=report.org,
            target=report,
            request=request,
            details={
                "part": part,
                "via": via,
                "sha256": report.evidence_sha256
                if part == "evidence"
                else report.sha256,
                "token": token.prefix if token is not None else None,
            },
        )
    return download
