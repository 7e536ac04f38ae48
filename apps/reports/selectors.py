"""Who sees which reports.

Owners, admins and members see all their organization's reports (members
download, they do not request); an auditor sees those whose window lies inside
the grant's window, while the grant lives (``org_access_get`` only returns live
grants); publisher staff see all, on their own pages. Anything else is not
found.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404

from apps.orgs.models import Organization
from apps.orgs.permissions import Perm
from apps.orgs.selectors import OrgAccess

from .models import Report

_LIST_RELATED = ("requested_by", "digest")


def reports_visible(*, org: Organization, access: OrgAccess | None) -> QuerySet[Report]:
    """The organization's reports this person may see, newest first."""
    if access is None or access.org.pk != org.pk or not access.can(Perm.EVIDENCE_VIEW):
        return Report.objects.none()
    reports = Report.objects.for_org(org).select_related(*_LIST_RELATED)
    if access.is_auditor:
        grant = access.grant
        if grant is None:
            return Report.objects.none()
        reports = reports.filter(
            window_start__gte=grant.window_start, window_end__lte=grant.window_end
        )
    return reports


def report_for_org(
    *, org: Organization, access: OrgAccess | None, public_id: UUID
) -> Report:
    """One report of the organization this person may see, or 404."""
    report = (
        reports_visible(org=org, access=access)
        .select_related("org")
        .filter(public_id=public_id)
        .first()
    )
    if report is None:
        raise Http404("No such report.")
    return report


def report_for_download(
    *, org: Organization, access: OrgAccess | None, public_id: UUID, part: str
) -> Report:
    """A ready report with the requested file (``report`` or ``evidence``), or 404."""
    report = report_for_org(org=org, access=access, public_id=public_id)
    if report.status != Report.Status.READY or not report_has_part(report, part):
        raise Http404("This report has no such file (yet).")
    return report


def report_has_part(report: Report, part: str) -> bool:
    if part == "report":
        return bool(report.file)
    if part == "evidence":
        return bool(report.evidence_file)
    return False


def reports_for_token(*, token) -> QuerySet[Report]:
    """An API token sees its organization's reports."""
    return Report.objects.for_org(token.org).select_related(*_LIST_RELATED, "org")


def staff_reports(*, kind: str | None = None) -> QuerySet[Report]:
    """Every report, for publisher staff."""
    reports = Report.objects.select_related("org", *_LIST_RELATED)
    if kind:
        reports = reports.filter(kind=kind)
    return reports


def staff_report(*, public_id: UUID) -> Report:
    report = staff_reports().filter(public_id=public_id).first()
    if report is None:
        raise Http404("No such report.")
    return report
