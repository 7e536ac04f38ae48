"""Every PDF kind through the real pipeline: requested, built, signed, stored,
verified."""

from __future__ import annotations

import hashlib

import pytest

from apps.reports.checks.runner import reports_check_stored
from apps.reports.models import Report
from apps.reports.services.intake import report_request
from apps.reports.signing import verify_document

from .builders import compliance_org
from .test_render import pdf_text, squash

pytestmark = pytest.mark.django_db


def _built(capture, **params) -> tuple[Report, bytes]:
    with capture(execute=True):
        report, _ = report_request(**params)
    report.refresh_from_db()
    assert report.status == Report.Status.READY, report.error
    content = report.file.read()
    assert hashlib.sha256(content).hexdigest() == report.sha256
    checked = verify_document(content)
    assert checked.report == report
    assert checked.signature_ok
    # Checked before signing, and again from the stored files.
    assert report.check_failures == []
    assert reports_check_stored(report=report) == []
    return report, content


def test_an_image_dossier_is_built_signed_and_verified(
    django_capture_on_commit_callbacks,
):
    s = compliance_org()
    owner = s.org.memberships.filter(role="owner").first()
    actor = owner.user if owner else s.staff[0]
    image = s.clocks[0].finding.digest
    report, content = _built(
        django_capture_on_commit_callbacks,
        org=s.org,
        kind="image_dossier",
        window_start=s.window[0],
        window_end=s.window[1],
        request_id="dossier-1",
        actor=actor,
        digest=image.digest,
    )
    text = squash(pdf_text(content))
    assert image.digest[:19] in text
    assert s.clocks[0].finding.vulnerability.vuln_id in text
    assert (report.pages or 0) >= 2


def test_the_staff_sla_performance_report_is_built_signed_and_verified(
    django_capture_on_commit_callbacks,
):
    s = compliance_org(name="Initech Health")
    report, content = _built(
        django_capture_on_commit_callbacks,
        org=None,
        kind="sla_performance",
        window_start=s.window[0],
        window_end=s.window[1],
        request_id="performance-1",
        actor=s.staff[0],
    )
    assert "Initech Health" in squash(pdf_text(content))
    assert report.org is None
