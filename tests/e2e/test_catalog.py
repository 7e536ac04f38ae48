"""The public catalog in a real browser: every page styled, screenshotted and free
of CSP violations, and the list's search updating in place through htmx."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.vulns.models import Finding
from tests.catalog import builders as b

from .test_screenshots import Shooter

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shelf(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    python = b.repository(
        "python",
        description="The Python interpreter and standard library.",
        tags=["language", "runtime"],
    )
    py312 = b.series(python, "3.12", ga=-760, eol=1040, support=1100, els=1500)
    b.series(python, "3.11", ga=-1120, eol=340, support=60, els=700)
    b.series(python, "3.9", ga=-1860, eol=-400, support=-400, els=-30)
    b.build(py312, tags=["3.12"], built_at=timezone.now() - timedelta(days=30))
    image = b.build(py312, tags=["3.12", "latest"])
    b.build(py312, flavor="dev", tags=["3.12-dev"])
    b.build(py312, fips=True, tags=["3.12-fips"])
    nginx = b.repository("nginx", category="web", tags=["web", "proxy"])
    b.build(b.series(nginx, "1.28", support=150, els=450), stig=True, tags=["1.28"])
    sbom = b.sbom(image, signer_key_id="kms://catalog-key", verified_by=b.signer())
    for i, (name, severity, status) in enumerate(
        [
            ("openssl", "critical", Finding.Status.AFFECTED),
            ("zlib", "high", Finding.Status.FIXED),
            ("busybox", "medium", Finding.Status.NOT_AFFECTED),
            ("musl", "low", Finding.Status.UNDER_INVESTIGATION),
        ]
    ):
        comp = b.component(name, f"1.{i}-r0")
        b.contains(image, comp, sbom)
        vuln = b.vulnerability(f"CVE-2025-{i:04d}", severity, kev=i == 0)
        b.finding(image, vuln, comp, status=status, fixed_version=f"1.{i}-r1")
        if status == Finding.Status.NOT_AFFECTED:
            b.vex(vuln, image=image, subcomponent=comp.purl)
    return {"image": image}


def test_catalog_pages(shelf, new_tab):
    s = Shooter(new_tab())
    s.visit("catalog_list", "/catalog/", h1="Image catalog")
    s.visit("catalog_repository", "/catalog/python/", h1="Python")
    s.visit(
        "catalog_digest",
        f"/catalog/digest/{shelf['image'].digest}/",
        h1="python:3.12",
    )
    s.visit("catalog_lifecycle", "/catalog/lifecycle/", h1="Lifecycle calendar")
    s.tab.goto("/catalog/?category=bogus")
    s.shot("catalog_list_bad_filter", h1="Image catalog")


def test_catalog_search_updates_in_place(shelf, new_tab):
    tab = new_tab()
    page = tab.page
    tab.goto("/catalog/")
    page.evaluate("window.notReloaded = true")
    rows = page.locator(".repo-row")
    assert rows.count() == 2
    page.fill("#id_q", "proxy")
    page.wait_for_url("**/catalog/?q=proxy*")
    page.locator('.repo-row a[href="/catalog/nginx/"]').wait_for()
    assert rows.count() == 1
    page.check("#id_fips")
    page.get_by_text("No repository matches these filters.").wait_for()
    # The results changed in place: same document, the URL follows the form.
    assert page.evaluate("window.notReloaded") is True
    assert "fips=on" in page.url
    # Back restores the previous results from htmx's history cache, within
    # the CSP like everything else.
    page.go_back()
    page.locator('.repo-row a[href="/catalog/nginx/"]').wait_for()
    assert "fips" not in page.url
    page.wait_for_timeout(300)  # let the restore settle
    tab.assert_no_errors("catalog search")
