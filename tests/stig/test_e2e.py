"""The STIG section and the diff page in a browser, with full-page screenshots
in test-artifacts/screenshots/ for a person to look at."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.orgs.models import Role
from apps.stig.services import stig_scan_import
from tests.e2e.conftest import (  # noqa: F401 - fixtures used by name
    _allow_orm_beside_playwright,
    browser,
    new_tab,
    snap,
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
    """Two builds of a series scanned with the real RHEL 8 results; the newer
    one has ten failures fixed and two passes regressed."""
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    series = b.stig_series("8")
    older = b.stig_build(series, days_ago=20)
    newer = b.stig_build(series, days_ago=2)
    content = b.RHEL8.read_bytes()
    stig_scan_import(image=older, content=content)
    changed = re.sub(rb"<result>pass</result>", b"<result>X</result>", content, count=2)
    changed = re.sub(
        rb"<result>fail</result>", b"<result>pass</result>", changed, count=10
    )
    changed = changed.replace(b"<result>X</result>", b"<result>fail</result>")
    stig_scan_import(image=newer, content=changed)
    org = OrganizationFactory(name="Acme Corporation", slug="acme", features=())
    entitle(org, "stig")
    person = UserFactory(email="lee.member@acme.example")
    MembershipFactory(org=org, user=person, role=Role.MEMBER)
    return older, newer, person


def _no_overflow(page, name: str) -> None:
    overflow = page.evaluate(
        """() => [document.documentElement.scrollWidth - window.innerWidth]"""
    )
    assert overflow == [0], f"{name}: horizontal overflow {overflow}"


def _log_in(tab, email: str) -> None:
    tab.goto("/accounts/login/")
    tab.page.fill("input[name=login]", email)
    tab.page.fill("input[name=password]", PASSWORD)
    tab.submit("Sign In")


def test_stig_section_and_diff_page(scanned, new_tab):  # noqa: F811
    _, newer, person = scanned
    anonymous = new_tab()
    anonymous.goto(newer.get_absolute_url())
    section = anonymous.page.locator("#stig-section")
    assert section.locator(".stig-locked").is_visible()
    section.screenshot(path=str(_shot("stig_section_anonymous")))
    _no_overflow(anonymous.page, "digest page (anonymous)")
    anonymous.assert_no_errors("digest page")

    tab = new_tab()
    _log_in(tab, person.email)
    tab.goto(newer.get_absolute_url())
    page = tab.page
    rules = page.locator("#stig-section table.stig-rules")
    assert rules.is_visible()
    first = rules.locator("details").first
    first.locator("summary").click()
    assert first.locator("p").first.is_visible()
    _no_overflow(page, "digest page (entitled)")
    top = page.evaluate(
        "() => document.querySelector('#stig-section').getBoundingClientRect().top"
        " + window.scrollY"
    )
    page.screenshot(
        path=str(_shot("stig_section_entitled")),
        full_page=True,
        clip={"x": 0, "y": top - 10, "width": 1280, "height": 1500},
    )
    tab.assert_no_errors("digest page")

    page.get_by_role("link", name=re.compile("What changed since")).click()
    page.wait_for_load_state()
    assert tab.path().startswith(reverse("stig:diff", args=[newer.digest]))
    assert page.locator("#stig-changed-1 tbody tr").count() == 12
    _no_overflow(page, "diff page")
    snap(page, "stig_diff")
    tab.assert_no_errors("diff page")


def _shot(name: str):
    from tests.e2e.conftest import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"
