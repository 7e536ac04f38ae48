"""Done means: an auditor invited for a window downloads a signed PDF/A report
and an evidence bundle, verifies both, and the numbers in them are the
portal's numbers. The whole path, with the real builders, signer and storage."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, time, timedelta

import pikepdf
import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.orgs.models import AuditorGrant
from apps.reports.models import Report, ReportDownload
from apps.reports.services.intake import report_request
from apps.reports.signing import verify_document
from apps.sla.selectors.metrics import sla_metrics
from tests.factories import UserFactory

from .builders import compliance_org
from .test_render import pdf_text, squash

pytestmark = pytest.mark.django_db


def _request(org, owner, kind, window, capture):
    with capture(execute=True):
        report, created = report_request(
            org=org,
            kind=kind,
            window_start=window[0],
            window_end=window[1],
            request_id=f"journey-{kind}",
            actor=owner,
        )
    assert created
    report.refresh_from_db()
    assert report.status == Report.Status.READY, report.error
    return report


def test_an_invited_auditor_downloads_and_verifies_report_and_bundle(
    client, django_capture_on_commit_callbacks
):
    s = compliance_org(name="Northwind Health")
    org = s.org
    owner = UserFactory(email="owner@northwind-journey.example")
    org.memberships.create(user=owner, role="owner")
    pdf_report = _request(
        org, owner, "org_compliance", s.window, django_capture_on_commit_callbacks
    )
    bundle_report = _request(
        org, owner, "evidence_bundle", s.window, django_capture_on_commit_callbacks
    )

    auditor = UserFactory(email="auditor@assurance.example")
    AuditorGrant.objects.create(
        org=org,
        email=auditor.email,
        window_start=s.window[0] - timedelta(days=1),
        window_end=s.window[1],
        access_expires_at=timezone.now() + timedelta(days=14),
        created_by=owner,
    )
    client.force_login(auditor)
    listing = client.get(f"/o/{org.slug}/reports/")
    assert listing.status_code == 200
    assert str(pdf_report.public_id) in listing.content.decode()

    def download(report):
        response = client.get(
            f"/o/{org.slug}/reports/{report.public_id}/download/",
            REMOTE_ADDR="203.0.113.7",
        )
        assert response.status_code == 200
        return (
            b"".join(response.streaming_content)
            if response.streaming
            else response.content
        )

    pdf = download(pdf_report)
    bundle = download(bundle_report)
    assert hashlib.sha256(pdf).hexdigest() == pdf_report.sha256
    assert hashlib.sha256(bundle).hexdigest() == bundle_report.sha256
    downloads = ReportDownload.objects.filter(user=auditor).order_by("at")
    assert [d.report for d in downloads] == [pdf_report, bundle_report]
    assert {d.ip for d in downloads} == {"203.0.113.7"}
    assert (
        AuditEvent.objects.filter(
            action=AuditEvent.Action.REPORT_DOWNLOADED, actor=auditor
        ).count()
        == 2
    )

    # Both verify: the PDF by hash and signature, the bundle by hash, and the
    # PDF inside the bundle by its signature naming the bundle.
    checked = verify_document(pdf)
    assert checked.report == pdf_report
    assert checked.signature_ok
    assert verify_document(bundle).report == bundle_report
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        names = archive.namelist()
        manifest = archive.read("MANIFEST.sha256").decode().splitlines()
        for line in manifest:
            digest, path = line.split("  ", 1)
            assert hashlib.sha256(archive.read(path)).hexdigest() == digest
        inner_pdf = archive.read("report.pdf")
        inner_evidence = archive.read("evidence.json")
    assert "report.pdf" in names
    inner = verify_document(inner_pdf)
    assert inner.signature_ok
    assert inner.in_bundle

    # PDF/A-3b with its evidence attached; a byte changed fails verification.
    with pikepdf.open(io.BytesIO(pdf)) as document:
        meta = document.open_metadata()
        assert meta.get("pdfaid:part") == "3"
        assert meta.get("pdfaid:conformance") == "B"
        attached = document.attachments["evidence.json"].get_file().read_bytes()
    evidence = json.loads(attached)
    tampered = bytearray(pdf)
    at = (
        pdf.index(b"Compliance report")
        if b"Compliance report" in pdf
        else len(pdf) // 3
    )
    tampered[at] ^= 0x01
    assert not verify_document(bytes(tampered)).signature_ok

    # The figures are the ledger's, as the SLA selectors (and pages) count them.
    start = datetime.combine(s.window[0], time.min, tzinfo=UTC)
    end = min(
        datetime.combine(s.window[1] + timedelta(days=1), time.min, tzinfo=UTC),
        pdf_report.data_cutoff,
    )
    overall = sla_metrics(org=org, start=start, end=end).overall
    printed = evidence["sla"]["contract"]["overall"]
    assert (printed["met"], printed["missed"], printed["breached"]) == (
        overall.met,
        overall.missed,
        overall.breached,
    )
    text = squash(pdf_text(pdf))
    assert f"{overall.attainment:.1f} %" in text
    assert str(pdf_report.public_id) in text
    assert json.loads(inner_evidence)["report"]["id"] == str(bundle_report.public_id)
