"""The request door: a report is asked for once (a request id sent twice is
one report), by someone who may ask for it, and handed to the reports queue."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import ImageDigest
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.orgs.permissions import Perm
from apps.orgs.selectors import org_access_get

from ..models import Report

logger = logging.getLogger(__name__)

Kind = Report.Kind

MAX_WINDOW_DAYS = 3 * 366
ORG_KINDS = frozenset(
    {
        Kind.ORG_COMPLIANCE,
        Kind.IMAGE_DOSSIER,
        Kind.POAM,
        Kind.EVIDENCE_BUNDLE,
        Kind.OSCAL_POAM,
        Kind.OSCAL_RESULTS,
        Kind.OSCAL_COMPONENTS,
    }
)
STAFF_KINDS = frozenset({Kind.SLA_PERFORMANCE})
# Requesting a report is managing the organization's evidence: owners and admins.
REQUEST_PERMS = (Perm.EVIDENCE_VIEW, Perm.ORG_MANAGE)


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


def _check_requester(*, org: Organization | None, actor, token) -> None:
    """``token``: an API token of ``org`` whose scope the API already
    checked; without one the actor's role decides."""
    if token is not None:
        if org is None or token.org_id != org.pk:
            raise PermissionDenied("This token belongs to another organization.")
    elif not report_may_request(user=actor, org=org):
        raise PermissionDenied("Your role cannot request reports.")


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
    """Queue one report. Request ids belong to ``org`` (the staff reports
    without one share theirs): the same ``request_id`` with the same
    parameters is the same report (``created`` False), with others it is
    refused; an id another organization used is free here.

    ``token``: an API token of ``org`` whose scope the API already checked;
    without one the actor's role decides.
    """
    request_id = (request_id or "").strip()
    if not request_id or len(request_id) > 64:
        raise ValidationError({"request_id": "A request id of 1 to 64 characters."})
    params: dict[str, Any] = {
        "org": org,
        "kind": kind,
        "window_start": window_start,
        "window_end": window_end,
        "digest": digest,
    }
    _check_requester(org=org, actor=actor, token=token)
    existing = _requested(org=org, request_id=request_id)
    if existing is not None:
        return _replay(existing, **params)
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
                    requested_by=actor if actor_is_user(actor) else None,
                    created_at=now,
                )
        except IntegrityError:
            existing = _requested(org=org, request_id=request_id)
            if existing is None:
                raise
            return _replay(existing, **params)
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


def _requested(*, org: Organization | None, request_id: str) -> Report | None:
    """The report this organization (or, without one, staff) already asked
    for under ``request_id``; another organization's use of it is not seen."""
    return (
        Report.objects.filter(org=org, request_id=request_id)
        .select_related("digest")
        .first()
    )


def _replay(existing: Report, **params: Any) -> tuple[Report, bool]:
    if not _same_request(existing, **params):
        raise ValidationError(
            {"request_id": "request id already used for another report"}
        )
    return existing, False


def actor_is_user(actor) -> bool:
    """A signed-in person (not a token, not anonymous, not the system)."""
    return actor is not None and getattr(actor, "is_authenticated", False)


def report_enqueue(*, report_id: int) -> None:
    """Hand the report to the reports queue. A broker failure leaves it queued
    for the sweep, never lost."""
    # Not at the top: the tasks module imports this one (its sweep re-queues
    # through report_enqueue).
    from apps.reports.tasks import run_report

    try:
        run_report.delay(report_id)
    except Exception:
        logger.exception("report %s not queued now; the sweep retries it", report_id)
