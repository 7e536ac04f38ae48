"""The checklist buttons of the digest page's STIG section, in a browser: an
entitled member downloads both files; a screenshot of the section for a person
to look at (test-artifacts/screenshots/stig_checklist_buttons.png)."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.orgs.models import Role
from apps.stig.formats.ckl import ckl_loads
from apps.stig.formats.cklb import cklb_loads
from apps.stig.services import stig_scan_import
from tests.e2e.conftest import (  # noqa: F401 - fixtures used by name
    _allow_orm_beside_playwright,
    browser,
    new_tab,
)
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

from . import builders as b

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scanned(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    image = b.stig_build()
    stig_scan_import(image=image, content=b.RHEL8.read_bytes())
    org = OrganizationFactory(name="Acme Corporation", slug="acme", features=())
    entitle(org, "stig")
    person = UserFactory(email="lee.member@acme.example")
    MembershipFactory(org=org, user=person, role=Role.MEMBER)
    return image, person


def test_an_entitled_member_downloads_both_checklists(scanned, new_tab):  # noqa: F811
    image, person = scanned
    anonymous = new_tab()
    anonymous.goto(image.get_absolute_url())
    cell = anonymous.page.locator(".stig-checklist").first
    assert cell.locator("svg.icon").count() == 1  # the lock
    anonymous.assert_no_errors("digest page (anonymous)")

    tab = new_tab()
    tab.goto("/accounts/login/")
    tab.page.fill("input[name=login]", person.email)
    tab.page.fill("input[name=password]", PASSWORD)
    tab.submit("Sign In")
    tab.goto(image.get_absolute_url())
    page = tab.page
    with page.expect_download() as caught:
        page.get_by_role("link", name="STIG Viewer .ckl").click()
    download = caught.value
    assert download.suggested_filename.endswith(".ckl")
    checklist = ckl_loads(Path(download.path()).read_bytes())
    assert len(checklist.stigs[0].vulns) == 248
    with page.expect_download() as caught:
        page.get_by_role("link", name="STIG Viewer 3 .cklb").click()
    cklb = cklb_loads(Path(caught.value.path()).read_bytes())
    assert cklb.stigs[0].info.stigid == checklist.stigs[0].info.stigid

    from tests.e2e.conftest import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".stig-scan").first.screenshot(
        path=str(SHOTS / "stig_checklist_buttons.png")
    )
    tab.assert_no_errors("digest page (entitled)")
