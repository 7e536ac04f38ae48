"""The STIG section of the digest page and the diff page: counts for everyone,
rules for those entitled to STIG evidence."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.orgs.models import Role
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

from . import builders as b

pytestmark = pytest.mark.django_db

BEFORE = [
    (1, "high", "fail"),
    (2, "medium", "pass"),
    (3, "low", "notapplicable"),
    (4, "medium", "fail"),
    (6, "medium", "error"),
]
AFTER = [
    (1, "high", "pass"),  # fixed
    (2, "medium", "fail"),  # regressed
    (3, "low", "notapplicable"),  # unchanged
    (5, "low", "fail"),  # new rule
    (6, "medium", "error"),  # unchanged
]


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()


@pytest.fixture
def series():
    return b.stig_series()


@pytest.fixture
def older(series):
    image = b.stig_build(series, days_ago=10)
    b.scan(image, BEFORE, score="40.000000")
    return image


@pytest.fixture
def newer(series, older):
    image = b.stig_build(series, days_ago=1)
    b.scan(image, AFTER, score="60.000000")
    return image


@pytest.fixture
def acme():
    return OrganizationFactory(name="Acme", slug="acme", features=())


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _member(org):
    return MembershipFactory(org=org, role=Role.MEMBER).user


def _page(client, image) -> str:
    response = client.get(image.get_absolute_url())
    assert response.status_code == 200
    return response.content.decode()


def _section(page: str) -> str:
    return page[page.index('id="stig"') : page.index('id="attestations"')]


def _counts_table(section: str) -> list[list[str]]:
    """The counts table as rows of cell texts."""
    import re

    table = section[section.index("stig-counts") : section.index("</table>")]
    rows = re.findall(r"<tr.*?</tr>", table, re.S)
    return [
        [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd].*?</t[hd]>", r, re.S)
        ]
        for r in rows
    ]


# --- the digest page ---------------------------------------------------------------


def test_everyone_sees_the_counts_by_cat(newer):
    section = _section(_page(Client(), newer))
    assert "Test Security Technical Implementation Guide" in section
    assert "I - Mission Critical Public" in section
    assert "OpenSCAP 1.3.8" in section
    assert "60.00" in section
    rows = _counts_table(section)
    assert rows[0] == [
        "Category",
        "Pass",
        "Fail",
        "Not applicable",
        "Not reviewed",
        "Rules",
    ]
    assert rows[1:] == [
        ["CAT I", "1", "0", "0", "0", "1"],
        ["CAT II", "0", "1", "0", "1", "2"],
        ["CAT III", "0", "1", "1", "0", "2"],
        ["All", "1", "2", "1", "1", "5"],
    ]


def test_rules_are_locked_for_anonymous_and_unentitled(newer, acme):
    for client in (Client(), _client(_member(acme))):
        section = _section(_page(client, newer))
        assert "stig-locked" in section
        assert "Rule 2 must hold." not in section
        assert "Why rule 2 matters." not in section
        assert 'id="stig-rules-' not in section
    assert "Sign in</a> to see them" in _section(_page(Client(), newer))


def test_entitled_members_see_failed_and_not_applicable_rules(newer, acme):
    entitle(acme, "stig")
    section = _section(_page(_client(_member(acme)), newer))
    assert "stig-locked" not in section
    rules = section[section.index('id="stig-rules-') :]
    for n in (2, 3, 5):  # fail, notapplicable, fail
        assert f"Rule {n} must hold." in rules
        assert f"Why rule {n} matters." in rules
    for n in (1, 6):  # pass, error
        assert f"Rule {n} must hold." not in rules
    # Failures first, by CAT: rule 2 (CAT II) before rule 5 (CAT III).
    assert rules.index("Rule 2 must hold.") < rules.index("Rule 5 must hold.")
    assert rules.index("Rule 5 must hold.") < rules.index("Rule 3 must hold.")
    assert "Fix rule 2." in rules
    assert "V-2" in rules
    assert "TEST-2" in rules


def test_an_entitlement_for_another_repository_does_not_unlock(newer, acme):
    entitle(acme, "stig", repository=catalog.repository("nginx"))
    assert "stig-locked" in _section(_page(_client(_member(acme)), newer))


def test_staff_see_the_rules(newer):
    section = _section(_page(_client(UserFactory(is_staff=True)), newer))
    assert "Rule 2 must hold." in section


def test_the_page_links_the_diff_against_the_previous_scanned_build(older, newer):
    section = _section(_page(Client(), newer))
    url = reverse("stig:diff", args=[newer.digest])
    assert f"{url}?against={older.digest.replace(':', '%3A')}" in section
    # The oldest build has nothing earlier to compare with.
    assert "stig:diff" not in _section(_page(Client(), older))
    assert "What changed" not in _section(_page(Client(), older))


def test_a_stig_build_without_a_scan_says_so(series):
    section = _section(_page(Client(), b.stig_build(series)))
    assert "No STIG scan has been imported" in section


def test_other_builds_have_no_stig_section(series):
    page = _page(Client(), catalog.build(series))
    assert 'id="stig"' not in page


# --- the diff page ------------------------------------------------------------------


def _diff(client, image, against=None):
    url = reverse("stig:diff", args=[image.digest])
    return client.get(url, {"against": against.digest} if against else {})


def test_the_diff_shows_changed_and_one_sided_rules(older, newer):
    response = _diff(_client(UserFactory(is_staff=True)), newer, older)
    assert response.status_code == 200
    page = response.content.decode()
    start = page.index('id="stig-changed-1"')
    changed = page[page.index("<tbody>", start) : page.index("</tbody>", start)]
    assert changed.count("<tr>") == 2
    assert "Rule 1 must hold." in changed
    assert "Rule 2 must hold." in changed
    assert "Rule 3 must hold." not in changed  # unchanged
    assert changed.index(">Fail<") < changed.index(">Pass<")  # rule 1: fail -> pass
    only = page[page.index('id="stig-only-1"') :]
    assert "Rule 4 must hold." in only
    assert "Before only" in only
    assert "Rule 5 must hold." in only
    assert "After only" in only
    assert "2 changed · 1 only before · 1 only after · 2 unchanged" in page
    assert "Score 40.00 → 60.00" in page


def test_without_against_the_diff_is_with_the_previous_scanned_build(older, newer):
    response = _diff(_client(UserFactory(is_staff=True)), newer)
    assert response.status_code == 200
    assert response.context["against"] == older
    assert "2 changed" in response.content.decode()


def test_the_first_build_has_nothing_to_compare(older):
    response = _diff(_client(UserFactory(is_staff=True)), older)
    assert response.status_code == 200
    assert "No earlier build" in response.content.decode()


def test_entitled_members_see_the_diff(older, newer, acme):
    entitle(acme, "stig")
    assert _diff(_client(_member(acme)), newer, older).status_code == 200


def test_the_diff_is_refused_to_the_unentitled(older, newer, acme):
    response = _diff(_client(_member(acme)), newer, older)
    assert response.status_code == 403
    page = response.content.decode()
    assert "need the STIG entitlement" in page
    assert "Rule 1 must hold." not in page


def test_the_diff_sends_anonymous_to_sign_in(older, newer):
    response = _diff(Client(), newer, older)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login") + "?next=")


def test_a_build_of_another_series_is_a_400(newer):
    other = b.stig_build(catalog.series(catalog.repository("ubi"), "8"))
    response = _diff(_client(UserFactory(is_staff=True)), newer, other)
    assert response.status_code == 400
    assert "compared within one series" in response.content.decode()


@pytest.mark.parametrize(
    ("against", "status"),
    [("sha256:" + "e" * 64, 404), ("not-a-digest", 400)],
)
def test_unknown_or_malformed_against(newer, against, status):
    url = reverse("stig:diff", args=[newer.digest])
    response = _client(UserFactory(is_staff=True)).get(url, {"against": against})
    assert response.status_code == status


def test_unknown_and_non_stig_builds_are_404(series):
    staff = _client(UserFactory(is_staff=True))
    url = reverse("stig:diff", args=["sha256:" + "f" * 64])
    assert staff.get(url).status_code == 404
    plain = catalog.build(series)
    assert _diff(staff, plain).status_code == 404


def test_an_upper_case_digest_redirects_keeping_against(older, newer):
    url = reverse("stig:diff", args=[newer.digest.upper()])
    response = Client().get(url, {"against": older.digest})
    assert response.status_code == 301
    assert response["Location"] == (
        reverse("stig:diff", args=[newer.digest])
        + f"?against={older.digest.replace(':', '%3A')}"
    )
