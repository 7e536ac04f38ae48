"""FedRAMP documents to download: those a ready compliance report or evidence
bundle carries (signed with it, in its evidence), and the current ones for a
window, made on request. Every download is recorded.

Who: whoever reads the organization's reports (owners, admins, members, and
auditors for windows inside their grant's).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views import View

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import selectors
from .evidence.fedramp import FILE_NAMES, default_window, fedramp_pack
from .formats.fedramp_ver import document_bytes
from .models import Report
from .services.downloads import report_download_record
from .views import ReportObjectMixin

MAX_WINDOW_DAYS = 3 * 366
KINDS = tuple(FILE_NAMES)
MEDIA_TYPE = "application/json"
FEDRAMP_REPORT_KINDS = (Report.Kind.ORG_COMPLIANCE, Report.Kind.EVIDENCE_BUNDLE)


class FedrampWindowForm(forms.Form):
    """A window of whole days (UTC), the end day included; by default the
    last calendar month."""

    start = forms.DateField(required=False, widget=forms.DateInput({"type": "date"}))
    end = forms.DateField(
        required=False,
        widget=forms.DateInput({"type": "date"}),
        help_text="Included.",
    )

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        first, after = default_window(timezone.now())
        start = cleaned.get("start") or first.date()
        end = cleaned.get("end") or (after - timedelta(days=1)).date()
        today = timezone.now().astimezone(UTC).date()
        if start > today:
            raise forms.ValidationError("The window cannot start in the future.")
        if end < start:
            raise forms.ValidationError("The window must end on or after its start.")
        if (end - start).days >= MAX_WINDOW_DAYS:
            raise forms.ValidationError(
                f"A window is at most {MAX_WINDOW_DAYS} days; use the reports."
            )
        cleaned["start"], cleaned["end"] = start, end
        return cleaned

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) in UTC, the end never past now."""
        start: date = self.cleaned_data["start"]
        end: date = self.cleaned_data["end"]
        return (
            datetime.combine(start, time.min, tzinfo=UTC),
            min(
                datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
                timezone.now(),
            ),
        )


def _attachment(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-SHA256"] = hashlib.sha256(content).hexdigest()
    return response


def _bad_request(form: forms.Form) -> HttpResponse:
    lines = [
        f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
        for field, errors in form.errors.items()
    ]
    return HttpResponse(
        "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
    )


class FedrampDocumentView(OrgMixin, View):
    """GET ``/o/<org>/reports/fedramp/<kind>.json?start=&end=``: the
    organization's document for the window, as it stands now."""

    permission = Perm.EVIDENCE_VIEW
    kind = ""

    def get(self, request, org_slug):
        kind = self.kind
        form = FedrampWindowForm(request.GET)
        if not form.is_valid():
            return _bad_request(form)
        if self.access.is_auditor:
            grant = self.access.grant
            first, last = form.cleaned_data["start"], form.cleaned_data["end"]
            if grant is None or first < grant.window_start or last > grant.window_end:
                raise PermissionDenied(
                    "Auditors download documents of windows inside their own."
                )
        start, end = form.bounds()
        pack = fedramp_pack(org=self.org, start=start, end=end)
        document = pack.documents.get(kind)
        if document is None:
            raise Http404(
                f"{self.org.name} had no FedRAMP class by the window's end: "
                "the VER reports do not apply."
            )
        content = document_bytes(document)
        digest = hashlib.sha256(content).hexdigest()
        audit_record(
            action=AuditEvent.Action.EVIDENCE_DOWNLOADED,
            actor=request.user,
            org=self.org,
            request=request,
            details={
                "document": f"fedramp-{kind}",
                "window": [
                    str(form.cleaned_data["start"]),
                    str(form.cleaned_data["end"]),
                ],
                "sha256": digest,
                "via": "auditor" if self.access.is_auditor else "member",
            },
        )
        stamp = f"{form.cleaned_data['start']}_{form.cleaned_data['end']}"
        return _attachment(content, f"{self.org.slug}-{stamp}-{FILE_NAMES[kind]}")


def report_fedramp_document(report: Report, kind: str) -> bytes:
    """The document a ready report's stored evidence carries, as downloaded;
    Http404 when it carries none of that kind."""
    if kind not in KINDS or report.kind not in FEDRAMP_REPORT_KINDS:
        raise Http404("This report carries no such document.")
    if report.status != Report.Status.READY or not report.evidence_file:
        raise Http404("This report has no such file (yet).")
    with report.evidence_file.open("rb") as handle:
        evidence = json.loads(handle.read())
    document = (evidence.get("fedramp") or {}).get("documents", {}).get(kind)
    if document is None:
        raise Http404("This report carries no such document.")
    return document_bytes(document)


class ReportFedrampDownloadView(ReportObjectMixin, View):
    """GET ``/o/<org>/reports/<id>/fedramp/<kind>.json``: a document of a
    ready compliance report or bundle, byte for byte what its signed
    evidence carries."""

    kind = ""

    def get(self, request, org_slug, public_id):
        kind = self.kind
        report = selectors.report_for_org(
            org=self.org, access=self.access, public_id=public_id
        )
        content = report_fedramp_document(report, kind)
        report_download_record(
            report=report,
            part=f"fedramp-{kind}",
            request=request,
            via="auditor" if self.access.is_auditor else "member",
            user=request.user,
            sha256=hashlib.sha256(content).hexdigest(),
        )
        return _attachment(content, f"report-{report.public_id}.{FILE_NAMES[kind]}")
