"""Every download of a report's file is recorded: who, which part, from where."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from ..models import Report, ReportDownload
from .intake import actor_is_user


def report_download_record(
    *,
    report: Report,
    part: str,
    request: HttpRequest | None,
    via: str,
    user=None,
    token=None,
    sha256: str | None = None,
) -> ReportDownload:
    """Who took which file of a report, when and from where (``sha256``: of
    a part that is neither the report nor its evidence)."""
    meta = request.META if request is not None else {}
    with transaction.atomic():
        download = ReportDownload.objects.create(
            report=report,
            org=report.org,
            user=user if actor_is_user(user) else None,
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
                "sha256": sha256
                or (report.evidence_sha256 if part == "evidence" else report.sha256),
                "token": token.prefix if token is not None else None,
            },
        )
    return download
