"""In the browser: an owner requests a report and watches its page follow the
build (htmx polling) until the download appears; the pages are kept as
screenshots."""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from apps.reports.models import Report
from apps.reports.services import intake
from tests.e2e.conftest import (  # noqa: F401  (fixtures)
    _allow_orm_beside_playwright,
    browser,
    new_tab,
    snap,
)
from tests.reports.test_access import ready_report

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scene(org, owner, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The build is this test's to drive: no task runs it.
    monkeypatch.setattr(intake, "report_enqueue", lambda *, report_id: None)
    ready_report(org)
    client = Client()
    client.force_login(owner.user)
    return {"org": org, "session": client.cookies["sessionid"].value}


def test_the_report_page_follows_the_build(scene, new_tab):  # noqa: F811
    tab = new_tab()
    tab.page.context.add_cookies(
        [{"name": "sessionid", "value": scene["session"], "url": tab.base_url}]
    )
    org = scene["org"]
    tab.goto(f"/o/{org.slug}/reports/")
    snap(tab.page, "reports_list")
    page = tab.page
    page.select_option("select[name=kind]", "org_compliance")
    page.fill("input[name=window_start]", "2026-01-01")
    page.fill("input[name=window_end]", "2026-03-31")
    tab.submit("Request report")
    report = Report.objects.get(window_start="2026-01-01")
    assert tab.path() == f"/o/{org.slug}/reports/{report.public_id}/"
    assert page.locator("#report-progress h2").inner_text() == "Queued"

    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.RENDERING, progress=40, stage="Rendering pages"
    )
    page.locator("#report-progress", has_text="40 %").wait_for()
    snap(page, "report_rendering")

    content = b"%PDF-1.7 browser"
    report.file.save("browser.pdf", ContentFile(content), save=False)
    Report.objects.filter(pk=report.pk).update(
        status=Report.Status.READY,
        progress=100,
        file=report.file.name,
        sha256=hashlib.sha256(content).hexdigest(),
        media_type="application/pdf",
        size=len(content),
    )
    page.locator("#report-progress h2", has_text="Ready").wait_for()
    assert page.locator("#report-progress[hx-get]").count() == 0  # polling stopped
    snap(page, "report_ready")
    tab.assert_no_errors("report pages")
