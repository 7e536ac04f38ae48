"""Tenancy walker specs for reports: requested, read and downloaded in an
organization, by staff, by token, and verified in public (tests/test_tenancy.py)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.orgs.models import Organization
from apps.reports.models import Report, ReportDownload
from tests.walker import (
    ADMIN,
    AUDITOR,
    MANAGERS,
    MEMBER,
    OWNER,
    ApiOp,
    ApiRoute,
    Expect,
    OrgRoute,
    Outcome,
    Post,
    SiteRoute,
    World,
    staff_only,
)

Scope = ApiToken.Scope


def _report_requested(o: Outcome) -> None:
    report = Report.objects.for_org(o.world.org).get(request_id="walker-web")
    assert report.requested_by == o.user
    assert report.status == Report.Status.QUEUED
    assert o.new_events(AuditEvent.Action.REPORT_REQUESTED)


def _report_location(w: World) -> str:
    report = Report.objects.for_org(w.org).get(request_id="walker-web")
    return reverse("reports:detail", args=[w.org.slug, report.public_id])


def _report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.filter(org=o.world.org)
    assert download.user == o.user
    assert download.ip == "127.0.0.1"
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


REPORT_READERS = frozenset({OWNER, ADMIN, MEMBER, AUDITOR})
SIGNED_EVIDENCE = (("part", "evidence"), ("signature", "dsse"))
_REPORT = {"org_slug": "org_slug", "public_id": "report_public_id"}


def _report_body(refs: dict) -> dict:
    today = timezone.now().date()
    return {
        "kind": Report.Kind.ORG_COMPLIANCE,
        "window_start": str(today - timedelta(days=10)),
        "window_end": str(today - timedelta(days=1)),
        "request_id": "walker-web",
    }


# Owners and admins request, members and auditors (inside their window) read
# and download; every download is logged.
ORG_ROUTES = [
    OrgRoute(
        "reports:list",
        get=REPORT_READERS,
        post=Post(
            MANAGERS,
            data=_report_body,
            location=_report_location,
            effect=_report_requested,
        ),
    ),
    OrgRoute("reports:detail", kwargs=_REPORT, get=REPORT_READERS),
    OrgRoute("reports:progress", kwargs=_REPORT, get=REPORT_READERS),
    OrgRoute(
        "reports:download",
        kwargs=_REPORT,
        get=REPORT_READERS,
        overrides={
            (p, "GET"): Expect(200, effect=_report_downloaded) for p in REPORT_READERS
        },
    ),
    # The evidence JSON's DSSE signature by the portal: a download like any.
    OrgRoute(
        "reports:download",
        kwargs=_REPORT,
        get=REPORT_READERS,
        overrides={
            (p, "GET"): Expect(200, effect=_report_downloaded) for p in REPORT_READERS
        },
        query=SIGNED_EVIDENCE,
    ),
    # A signature of something else: refused to readers, nothing recorded;
    # outsiders still get 404.
    OrgRoute(
        "reports:download",
        kwargs=_REPORT,
        get=REPORT_READERS,
        overrides={(p, "GET"): Expect(400) for p in REPORT_READERS},
        query=(("signature", "dsse"),),
    ),
]


def _staff_report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.all()
    assert (download.via, download.user) == ("staff", o.user)
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


STAFF_ROUTES = [
    SiteRoute(
        "staff_reports",
        get=lambda p: staff_only(p, Expect(200, contains=("Acme",), shows_victim=True)),
        # Staff posting nothing get the form back with errors; nothing is queued.
        post=lambda p: staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_report_detail",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: staff_only(p, Expect(200, contains=("Acme",), shows_victim=True)),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_report_progress",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: staff_only(p, Expect(200)),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_report_download",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: staff_only(p, Expect(200, effect=_staff_report_downloaded)),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_report_download",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: staff_only(p, Expect(200, effect=_staff_report_downloaded)),
        post=lambda p: staff_only(p, Expect(405)),
        query=SIGNED_EVIDENCE,
    ),
]

# The report verify page is public: anyone holding a report checks it there. An
# empty form is answered 400 with the error, and nothing is written. The record
# of the victim's report shows nothing of the victim (VICTIM_MARKER).
PUBLIC_ROUTES = [
    SiteRoute(
        name,
        kwargs=kwargs,
        get=lambda p: Expect(200, contains=("Verify",)),
        post=lambda p: Expect(400, contains=("errorlist",)),
        requires_login=False,
    )
    for name, kwargs in (
        ("reports_verify:form", {}),
        ("reports_verify:detail", {"public_id": "report_public_id"}),
    )
]


def _api_report_requested(o: Outcome) -> None:
    report = Report.objects.for_org(o.world.org).get(request_id="walker-api")
    assert o.response.json()["id"] == str(report.public_id)
    assert o.new_events(AuditEvent.Action.REPORT_REQUESTED)


def _api_report_elsewhere(o: Outcome) -> None:
    assert not Report.objects.for_org(o.world.org).filter(request_id="walker-api")
    assert Report.objects.for_org(o.world.other_org).get(request_id="walker-api")
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()


def _api_report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.filter(org=o.world.org)
    assert download.via == "token"
    assert download.token is not None
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


def _report_ids(org: Organization) -> set[str]:
    return {
        str(p) for p in Report.objects.for_org(org).values_list("public_id", flat=True)
    }


# Read and downloaded with evidence:read, requested with reports:write.
API_ROUTES = [
    ApiRoute(
        "api:report-list",
        get=ApiOp(Scope.EVIDENCE_READ, other="list"),
        post=ApiOp(
            Scope.REPORTS_WRITE,
            status=201,
            data=lambda r: {**_report_body(r), "request_id": "walker-api"},
            effect=_api_report_requested,
            other="create",
            other_effect=_api_report_elsewhere,
        ),
        rows=_report_ids,
    ),
    ApiRoute(
        "api:report-detail",
        kwargs={"pk": "report_public_id"},
        get=ApiOp(Scope.EVIDENCE_READ),
    ),
    ApiRoute(
        "api:report-download",
        kwargs={"pk": "report_public_id"},
        get=ApiOp(Scope.EVIDENCE_READ, binary=True, effect=_api_report_downloaded),
    ),
    ApiRoute(
        "api:report-download",
        kwargs={"pk": "report_public_id"},
        get=ApiOp(Scope.EVIDENCE_READ, binary=True, effect=_api_report_downloaded),
        query=SIGNED_EVIDENCE,
    ),
]

SPECS = [*ORG_ROUTES, *STAFF_ROUTES, *PUBLIC_ROUTES, *API_ROUTES]
