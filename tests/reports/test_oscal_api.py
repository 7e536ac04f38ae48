"""The OSCAL kinds at the report doors: requested over the API and the web with
bad input refused, built by the pipeline and stored, downloaded as JSON
(logged), checked again from storage, and "nothing to report" when a POA&M
would have no item."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.reports.checks.runner import reports_check_stored
from apps.reports.models import Report, ReportDownload
from apps.reports.services.intake import report_request
from tests.factories import MembershipFactory

from .builders import compliance_org
from .test_api import REPORTS, bearer

Scope = ApiToken.Scope
OSCAL_KINDS = ("oscal_poam", "oscal_results", "oscal_components")

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def body(**overrides) -> dict:
    today = timezone.now().date()
    return {
        "kind": "oscal_poam",
        "window_start": str(today - timedelta(days=30)),
        "window_end": str(today - timedelta(days=1)),
        "request_id": "oscal-1",
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "oscal"}, "kind"),
        ({"kind": "OSCAL_POAM"}, "kind"),
        ({"kind": "oscal_poam "}, "kind"),
        ({"kind": ["oscal_poam"]}, "kind"),
        ({"kind": "oscal_poam", "digest": "sha256:" + "1" * 64}, "digest"),
        ({"kind": "oscal_results", "window_end": "2000-01-01"}, "window_end"),
        ({"kind": "oscal_components", "window_start": "last month"}, "window_start"),
        (
            {
                "kind": "oscal_results",
                "window_end": str(timezone.now().date() + timedelta(days=1)),
            },
            "window_end",
        ),
    ],
)
def test_bad_oscal_requests_are_refused_and_nothing_is_written(
    client, org, owner, overrides, field
):
    writer = bearer(org, owner.user, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ)
    response = client.post(
        REPORTS, body(**overrides), content_type="application/json", **writer
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Report.objects.exists()


def test_the_web_form_refuses_a_digest_with_an_oscal_kind(client, org, owner):
    client.force_login(owner.user)
    response = client.post(
        reverse("reports:list", args=[org.slug]),
        body(digest="sha256:" + "2" * 64),
    )
    assert response.status_code == 400
    assert "Only an image dossier names a digest." in response.content.decode()
    assert not Report.objects.exists()


def test_reading_needs_evidence_read(client, org, owner):
    reader = bearer(org, owner.user, Scope.EVIDENCE_READ)
    response = client.post(REPORTS, body(), content_type="application/json", **reader)
    assert response.status_code == 403
    assert not Report.objects.exists()


@pytest.fixture
def built(django_capture_on_commit_callbacks):
    """A scenario org's three OSCAL reports, built by the pipeline."""
    s = compliance_org()
    actor = MembershipFactory(org=s.org, role="owner").user
    reports = {}
    for kind in OSCAL_KINDS:
        with django_capture_on_commit_callbacks(execute=True):
            report, _ = report_request(
                org=s.org,
                kind=kind,
                window_start=s.window[0],
                window_end=s.window[1],
                request_id=f"built-{kind}",
                actor=actor,
            )
        report.refresh_from_db()
        reports[kind] = report
    return s, reports


def test_each_kind_is_built_stored_and_checked_again_from_storage(built):
    _, reports = built
    for kind, report in reports.items():
        assert report.status == Report.Status.READY, (kind, report.error)
        assert report.media_type == "application/json"
        content = report.file.read()
        report.file.close()
        assert hashlib.sha256(content).hexdigest() == report.sha256
        assert json.loads(content)  # JSON, not a PDF
        assert report.signer_key_id == ""
        assert report.evidence_file.name in ("", None)
        assert reports_check_stored(report=report) == []


def test_an_altered_stored_document_fails_its_checks(built):
    _, reports = built
    report = reports["oscal_results"]
    document = json.loads(report.file.read())
    report.file.close()
    document["assessment-results"]["results"][0]["findings"].pop()
    storage, name = report.file.storage, report.file.name
    storage.delete(name)
    storage.save(name, ContentFile(json.dumps(document).encode()))
    checks = {v.check for v in reports_check_stored(report=report)}
    assert checks == {"stored_files_intact", "oscal_results_match_ledger"}


def test_a_download_is_json_named_logged_and_another_org_s_token_finds_nothing(
    client, built, other_org
):
    s, reports = built
    report = reports["oscal_poam"]
    owner = MembershipFactory(org=s.org, role="owner").user
    headers = bearer(s.org, owner, Scope.EVIDENCE_READ)
    response = client.get(f"{REPORTS}{report.public_id}/download/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert f"report-{report.public_id}.json" in response["Content-Disposition"]
    assert response["X-Content-SHA256"] == report.sha256
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == report.sha256
    download = ReportDownload.objects.get(report=report)
    assert (download.via, download.part) == ("token", "report")
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.REPORT_DOWNLOADED, org=s.org
    ).exists()
    outsider = MembershipFactory(org=other_org, role="owner").user
    theirs = bearer(other_org, outsider, Scope.EVIDENCE_READ)
    for path in ("", "download/"):
        assert (
            client.get(f"{REPORTS}{report.public_id}/{path}", **theirs).status_code
            == 404
        )
    assert ReportDownload.objects.filter(report=report).count() == 1


def test_a_poam_with_no_running_clock_is_nothing_to_report(
    client, org, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:list", args=[org.slug]), body())
    assert response.status_code == 302
    report = Report.objects.get(org=org)
    # Failed at once, not retried: the same ledger is as empty next time.
    assert (report.status, report.attempts) == (Report.Status.FAILED, 1)
    assert report.stage == "Nothing to report"
    assert "at least one" in report.error
    assert "OscalEmpty" not in report.error
    page = client.get(response["Location"]).content.decode()
    assert "Nothing to report" in page
    assert "no SLA clock was running at the data cut-off" in page
    assert not ReportDownload.objects.exists()


def test_anyone_checks_an_oscal_document_on_the_verify_page(client, built):
    _, reports = built
    report = reports["oscal_components"]
    content = report.file.read()
    report.file.close()
    page = client.post(
        reverse("reports_verify:form"),
        {"document": SimpleUploadedFile("cd.json", content, "application/json")},
    ).content.decode()
    assert "Valid" in page
    assert "carries no signature of its own" in page
    altered = content.replace(b'"assessed"', b'"not-assessed"', 1)
    page = client.post(
        reverse("reports_verify:form"),
        {"document": SimpleUploadedFile("cd.json", altered, "application/json")},
    ).content.decode()
    assert "Not valid" in page
