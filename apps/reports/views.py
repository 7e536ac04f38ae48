"""Report pages: an organization's list and request form, a report's page with
its live progress, downloads (each logged); and the staff's page for reports
across customers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import BadRequest, PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.views import View
from django.views.generic import TemplateView

from apps.core.forms import apply_validation_error
from apps.core.mixins import StaffOnlyMixin
from apps.orgs.mixins import OrgMixin
from apps.orgs.permissions import Perm

from . import selectors
from .forms import ReportRequestForm, StaffReportRequestForm
from .models import Report
from .services.downloads import report_download_record
from .services.intake import REQUEST_PERMS, report_request
from .statements import SIGNATURE_PARAM, signature_wanted, signed_response

LIST_LIMIT = 100
EXTENSIONS = {
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/json": "json",
}


def _part(request) -> str:
    return "evidence" if request.GET.get("part") == "evidence" else "report"


def report_signature_wanted(params, part: str) -> bool:
    """Whether a download asks for the evidence JSON's DSSE signature by the
    portal (``?part=evidence&signature=dsse``); any other use of the
    parameter is refused (ValidationError)."""
    if not signature_wanted(params):
        return False
    if part != "evidence":
        raise ValidationError(
            {
                SIGNATURE_PARAM: "A DSSE signature is offered for the evidence JSON "
                "(part=evidence); the report PDF carries its own PAdES signature."
            }
        )
    return True


def report_signed_response(report: Report) -> HttpResponse:
    """The evidence JSON's DSSE envelope by the portal's key: its payload is
    the evidence JSON as ``?part=evidence`` serves it."""
    with report.evidence_file.open("rb") as handle:
        payload = handle.read()
    return signed_response(
        payload,
        payload_type="application/json",
        filename=f"report-{report.public_id}.evidence.json.dsse.json",
    )


def _signed(request, part: str) -> bool:
    try:
        return report_signature_wanted(request.GET, part)
    except ValidationError as exc:
        raise BadRequest(" ".join(exc.messages)) from None


def report_file_response(report: Report, part: str) -> FileResponse:
    if part == "evidence":
        handle = report.evidence_file.open("rb")
        name, media_type = (
            f"report-{report.public_id}.evidence.json",
            "application/json",
        )
    else:
        handle = report.file.open("rb")
        ext = EXTENSIONS.get(report.media_type, "bin")
        name, media_type = f"report-{report.public_id}.{ext}", report.media_type
    response = FileResponse(
        handle, as_attachment=True, filename=name, content_type=media_type
    )
    response["X-Content-SHA256"] = (
        report.evidence_sha256 if part == "evidence" else report.sha256
    )
    return response


class ReportListView(OrgMixin, TemplateView):
    """Everyone who sees evidence sees the list; owners and admins request."""

    permission = Perm.EVIDENCE_VIEW
    template_name = "reports/list.html"

    def may_request(self) -> bool:
        return all(self.access.can(p) for p in REQUEST_PERMS)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reports = selectors.reports_visible(org=self.org, access=self.access)
        may_request = self.may_request()
        context.update(
            reports=list(reports[:LIST_LIMIT]),
            kinds=dict(Report.Kind.choices),
            may_request=may_request,
            form=kwargs.get("form") or (ReportRequestForm() if may_request else None),
        )
        return context

    def post(self, request, *args, **kwargs):
        if not self.may_request():
            raise PermissionDenied("Your role cannot request reports.")
        form = ReportRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                report, created = report_request(
                    org=self.org,
                    kind=data["kind"],
                    window_start=data["window_start"],
                    window_end=data["window_end"],
                    digest=data["digest"] or None,
                    request_id=data["request_id"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                if created:
                    messages.success(
                        request, "Report requested; this page follows its progress."
                    )
                return redirect(
                    "reports:detail", org_slug=self.org.slug, public_id=report.public_id
                )
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ReportObjectMixin(OrgMixin):
    permission = Perm.EVIDENCE_VIEW

    def http_method_not_allowed(self, request, *args, **kwargs):
        # Someone else's report is not found, whatever the method.
        selectors.report_for_org(
            org=self.org, access=self.access, public_id=kwargs["public_id"]
        )
        return super().http_method_not_allowed(request, *args, **kwargs)


class ReportDetailView(ReportObjectMixin, TemplateView):
    template_name = "reports/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        report = selectors.report_for_org(
            org=self.org, access=self.access, public_id=kwargs["public_id"]
        )
        context.update(report=report, **_links(report, self.org.slug))
        return context


class ReportProgressView(ReportDetailView):
    """The part of the report page htmx polls until the report is done."""

    template_name = "reports/_progress.html"


class ReportDownloadView(ReportObjectMixin, View):
    def get(self, request, org_slug, public_id):
        part = _part(request)
        report = selectors.report_for_download(
            org=self.org, access=self.access, public_id=public_id, part=part
        )
        signed = _signed(request, part)
        report_download_record(
            report=report,
            part=part,
            request=request,
            via="auditor" if self.access.is_auditor else "member",
            user=request.user,
        )
        if signed:
            return report_signed_response(report)
        return report_file_response(report, part)


def _links(report: Report, org_slug: str | None) -> dict:
    if org_slug is None:
        names = ("staff_report_progress", "staff_report_download")
        args: list = [report.public_id]
    else:
        names = ("reports:progress", "reports:download")
        args = [org_slug, report.public_id]
    download = reverse(names[1], args=args)
    return {
        "progress_url": reverse(names[0], args=args),
        "download_url": download,
        "evidence_url": f"{download}?part=evidence",
        "verify_url": _verify_url(report),
    }


def _verify_url(report: Report) -> str:
    # The public verification page, once it is mounted.
    try:
        return reverse("reports_verify:detail", args=[report.public_id])
    except NoReverseMatch:
        return ""


# --- staff -------------------------------------------------------------------


class StaffReportListView(StaffOnlyMixin, TemplateView):
    """Every customer's reports; SLA performance reports are requested here."""

    template_name = "reports/staff_list.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            reports=list(selectors.staff_reports()[:LIST_LIMIT]),
            form=kwargs.get("form") or StaffReportRequestForm(),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = StaffReportRequestForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                report, _ = report_request(
                    org=None,
                    kind=data["kind"],
                    window_start=data["window_start"],
                    window_end=data["window_end"],
                    request_id=data["request_id"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                return redirect("staff_report_detail", public_id=report.public_id)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class StaffReportDetailView(StaffOnlyMixin, TemplateView):
    template_name = "reports/detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        report = selectors.staff_report(public_id=kwargs["public_id"])
        context.update(report=report, staff=True, **_links(report, None))
        return context


class StaffReportProgressView(StaffReportDetailView):
    template_name = "reports/_progress.html"


class StaffReportDownloadView(StaffOnlyMixin, View):
    def get(self, request, public_id):
        part = _part(request)
        report = selectors.staff_report(public_id=public_id)
        if report.status != Report.Status.READY or not selectors.report_has_part(
            report, part
        ):
            raise Http404("This report has no such file (yet).")
        signed = _signed(request, part)
        report_download_record(
            report=report, part=part, request=request, via="staff", user=request.user
        )
        if signed:
            return report_signed_response(report)
        return report_file_response(report, part)
