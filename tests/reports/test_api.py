"""Reports over the API: the request door with bad input, idempotency, status,
downloads (logged), scopes and tenancy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.reports.models import Report, ReportDownload
from tests.reports.test_access import ready_report

Scope = ApiToken.Scope
REPORTS = "/api/v1/reports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def bearer(org, actor, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="t", scopes=list(scopes), expires_at=None, actor=actor
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def body(**overrides) -> dict:
    today = timezone.now().date()
    return {
        "kind": "org_compliance",
        "window_start": str(today - timedelta(days=30)),
        "window_end": str(today - timedelta(days=1)),
        "request_id": "api-1",
        **overrides,
    }


@pytest.fixture
def writer(org, owner):
    return bearer(org, owner.user, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ)


@pytest.mark.django_db
def test_a_request_is_made_once_per_request_id(client, writer):
    first = client.post(REPORTS, body(), content_type="application/json", **writer)
    again = client.post(REPORTS, body(), content_type="application/json", **writer)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["status"] == "queued"
    assert Report.objects.count() == 1
    other = client.post(
        REPORTS, body(kind="poam"), content_type="application/json", **writer
    )
    assert other.status_code == 400
    assert "request id already used" in str(other.json())


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"request_id": None}, "request_id"),
        ({"kind": "sla_performance"}, "kind"),
        ({"kind": "nonsense"}, "kind"),
        ({"window_start": "yesterday"}, "window_start"),
        ({"window_end": "2000-01-01"}, "window_end"),
        ({"window_end": str(timezone.now().date() + timedelta(days=2))}, "window_end"),
        ({"window_start": "2019-01-01"}, "window_start"),
        ({"kind": "image_dossier"}, "digest"),
        ({"kind": "image_dossier", "digest": "sha256:" + "1" * 64}, "digest"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(client, writer, overrides, field):
    data = {k: v for k, v in body(**overrides).items() if v is not None}
    response = client.post(REPORTS, data, content_type="application/json", **writer)
    assert response.status_code == 400
    assert field in response.json()
    assert not Report.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.REPORT_REQUESTED)


@pytest.mark.django_db
def test_reading_needs_evidence_read_and_requesting_reports_write(client, org, owner):
    reader = bearer(org, owner.user, Scope.EVIDENCE_READ)
    response = client.post(REPORTS, body(), content_type="application/json", **reader)
    assert response.status_code == 403
    writer_only = bearer(org, owner.user, Scope.REPORTS_WRITE)
    assert client.get(REPORTS, **writer_only).status_code == 403
    assert client.get(REPORTS).status_code == 401
    assert not Report.objects.exists()


@pytest.mark.django_db
def test_status_links_and_download(client, org, owner, other_org, outsider):
    report = ready_report(org)
    headers = bearer(org, owner.user, Scope.EVIDENCE_READ)
    listed = client.get(REPORTS, **headers).json()["results"]
    assert [r["id"] for r in listed] == [str(report.public_id)]
    detail = client.get(f"{REPORTS}{report.public_id}/", **headers).json()
    assert detail["sha256"] == report.sha256
    assert detail["links"]["download"].endswith(f"/{report.public_id}/download/")
    response = client.get(
        detail["links"]["download"], REMOTE_ADDR="192.0.2.9", **headers
    )
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.7 test"
    assert response["X-Content-SHA256"] == report.sha256
    download = ReportDownload.objects.get()
    assert (download.via, download.ip) == ("token", "192.0.2.9")
    assert download.token.org == org
    evidence = client.get(detail["links"]["evidence"], **headers)
    assert b"".join(evidence.streaming_content) == b"{}\n"
    # Another tenant's token: not found, not logged.
    theirs = bearer(other_org, outsider.user, Scope.EVIDENCE_READ)
    assert client.get(f"{REPORTS}{report.public_id}/", **theirs).status_code == 404
    assert (
        client.get(f"{REPORTS}{report.public_id}/download/", **theirs).status_code
        == 404
    )
    assert client.get(REPORTS, **theirs).json()["results"] == []
    assert ReportDownload.objects.count() == 2


@pytest.mark.django_db
def test_a_queued_report_has_no_download(client, org, owner, writer):
    created = client.post(REPORTS, body(), content_type="application/json", **writer)
    public_id = created.json()["id"]
    assert "download" not in created.json()["links"]
    response = client.get(f"{REPORTS}{public_id}/download/", **writer)
    assert response.status_code == 404
    assert not ReportDownload.objects.exists()
