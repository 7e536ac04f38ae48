"""Who sees which report on the web: roles, auditors by window and expiry,
staff, other tenants; downloads recorded; the list page's query count."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.reports.models import Report, ReportDownload
from tests.factories import AuditorGrantFactory, UserFactory

TODAY = timezone.now().date


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def ready_report(org, *, start_days=60, end_days=31, content=b"%PDF-1.7 test"):
    today = TODAY()
    report = Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.ORG_COMPLIANCE,
        org=org,
        window_start=today - timedelta(days=start_days),
        window_end=today - timedelta(days=end_days),
        data_cutoff=timezone.now(),
        status=Report.Status.READY,
        sha256="a" * 64,
        evidence_sha256="b" * 64,
        media_type="application/pdf",
    )
    report.file.save(f"{report.public_id}.pdf", ContentFile(content))
    report.evidence_file.save(f"{report.public_id}.json", ContentFile(b"{}\n"))
    return report


def auditor_for(org, *, start_days, end_days, expires_in=timedelta(days=7)):
    user = UserFactory()
    today = TODAY()
    AuditorGrantFactory(
        org=org,
        email=user.email,
        window_start=today - timedelta(days=start_days),
        window_end=today - timedelta(days=end_days),
        access_expires_at=timezone.now() + expires_in,
    )
    return user


def paths(org, report):
    args = [org.slug, report.public_id]
    return {
        "list": reverse("reports:list", args=[org.slug]),
        "detail": reverse("reports:detail", args=args),
        "progress": reverse("reports:progress", args=args),
        "download": reverse("reports:download", args=args),
    }


@pytest.fixture
def report(org):
    return ready_report(org)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_people_of_the_org_see_and_download(role, request, org, report, client_for):
    client = client_for(request.getfixturevalue(role).user)
    urls = paths(org, report)
    assert str(report.public_id) in client.get(urls["list"]).content.decode()
    assert client.get(urls["detail"]).status_code == 200
    assert client.get(urls["progress"]).status_code == 200
    response = client.get(urls["download"], REMOTE_ADDR="198.51.100.4")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.7 test"
    (download,) = ReportDownload.objects.all()
    assert (download.ip, download.part, download.via) == (
        "198.51.100.4",
        "report",
        "member",
    )
    evidence = client.get(urls["download"] + "?part=evidence")
    assert b"".join(evidence.streaming_content) == b"{}\n"
    assert ReportDownload.objects.filter(part="evidence").count() == 1
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_DOWNLOADED).count()
        == 2
    )


@pytest.mark.django_db
def test_only_owners_and_admins_get_the_request_form(org, owner, member, client_for):
    url = reverse("reports:list", args=[org.slug])
    assert "Request report" in client_for(owner.user).get(url).content.decode()
    as_member = client_for(member.user)
    assert "Request report" not in as_member.get(url).content.decode()
    assert as_member.post(url, {"kind": "poam"}).status_code == 403
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_an_auditor_sees_reports_inside_the_grant_window_only(org, client_for):
    inside = ready_report(org, start_days=60, end_days=31)
    overlapping = ready_report(org, start_days=120, end_days=31)
    later = ready_report(org, start_days=20, end_days=1)
    client = client_for(auditor_for(org, start_days=90, end_days=30))
    body = client.get(reverse("reports:list", args=[org.slug])).content.decode()
    assert str(inside.public_id) in body
    assert str(overlapping.public_id) not in body
    assert str(later.public_id) not in body
    for outside in (overlapping, later):
        for name, url in paths(org, outside).items():
            if name != "list":
                assert client.get(url).status_code == 404, name
    response = client.get(paths(org, inside)["download"])
    assert response.status_code == 200
    assert ReportDownload.objects.get().via == "auditor"


@pytest.mark.django_db
def test_an_expired_auditor_sees_nothing(org, report, client_for):
    client = client_for(
        auditor_for(org, start_days=90, end_days=30, expires_in=-timedelta(minutes=1))
    )
    for url in paths(org, report).values():
        assert client.get(url).status_code == 404
    assert not ReportDownload.objects.exists()


@pytest.mark.django_db
def test_other_tenants_and_staff_get_404_in_the_org(
    org, report, outsider, other_org, client_for
):
    for user in (outsider.user, UserFactory(is_staff=True), UserFactory()):
        client = client_for(user)
        for url in paths(org, report).values():
            assert client.get(url).status_code == 404
    # The outsider's own org with the victim's report id: not found either.
    client = client_for(outsider.user)
    for name, url in paths(other_org, report).items():
        expected = 200 if name == "list" else 404
        assert client.get(url).status_code == expected
    assert not ReportDownload.objects.exists()


@pytest.mark.django_db
def test_anonymous_is_sent_to_sign_in(org, report, client):
    for url in paths(org, report).values():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.django_db
def test_staff_see_every_report_on_their_pages(org, other_org, client_for):
    mine, theirs = ready_report(org), ready_report(other_org)
    client = client_for(UserFactory(is_staff=True))
    body = client.get(reverse("staff_reports")).content.decode()
    assert str(mine.public_id) in body
    assert str(theirs.public_id) in body
    response = client.get(reverse("staff_report_download", args=[theirs.public_id]))
    assert response.status_code == 200
    assert ReportDownload.objects.get().via == "staff"


@pytest.mark.django_db
def test_a_report_not_ready_has_nothing_to_download(org, owner, client_for):
    report = ready_report(org)
    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.RENDERING, progress=40, stage="Rendering", sha256=""
    )
    client = client_for(owner.user)
    urls = paths(org, report)
    assert client.get(urls["download"]).status_code == 404
    progress = client.get(urls["progress"]).content.decode()
    assert 'hx-trigger="every 2s"' in progress
    assert "40 %" in progress
    Report.objects.filter(pk=report.pk).update(status=Report.Status.FAILED)
    assert "hx-get" not in client.get(urls["progress"]).content.decode()
    assert not ReportDownload.objects.exists()


@pytest.mark.django_db
def test_requesting_from_the_form_twice_makes_one_report(org, owner, client_for):
    client = client_for(owner.user)
    url = reverse("reports:list", args=[org.slug])
    today = TODAY()
    data = {
        "kind": "org_compliance",
        "window_start": str(today - timedelta(days=30)),
        "window_end": str(today - timedelta(days=1)),
        "request_id": "form-123",
    }
    first, second = client.post(url, data), client.post(url, data)
    (report,) = Report.objects.all()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == paths(org, report)["detail"]


@pytest.mark.django_db
def test_bad_form_input_is_shown_and_nothing_is_written(org, owner, client_for):
    client = client_for(owner.user)
    url = reverse("reports:list", args=[org.slug])
    today = TODAY()
    response = client.post(
        url,
        {
            "kind": "org_compliance",
            "window_start": str(today - timedelta(days=1)),
            "window_end": str(today - timedelta(days=30)),
            "request_id": "form-bad",
        },
    )
    assert response.status_code == 400
    assert "ends before it starts" in response.content.decode()
    assert client.post(url, {"kind": "org_compliance"}).status_code == 400
    assert not Report.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [2, 12])
def test_the_list_page_runs_a_fixed_number_of_queries(
    rows, org, owner, client_for, django_assert_num_queries
):
    for _ in range(rows):
        report = ready_report(org)
        Report.objects.filter(pk=report.pk).update(requested_by=owner.user)
    client = client_for(owner.user)
    url = reverse("reports:list", args=[org.slug])
    client.get(url)  # session and caches warm
    # session, user, the user-session touch (savepoint, select, user, update,
    # release), org, membership, reports (with requester and digest in one
    # query) and the switcher's memberships: the same for 2 rows and for 12
    with django_assert_num_queries(11):
        assert client.get(url).status_code == 200
