"""The organization's FIPS page: inventory, changes, who may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.fips.services import crypto_module_update
from apps.notifications.services import notices_run
from tests.catalog import builders as catalog
from tests.factories import AuditorGrantFactory, MembershipFactory, UserFactory
from tests.sla.builders import staff

from . import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def repo():
    return catalog.repository("python")


def _page(client, org, user):
    client.force_login(user)
    return client.get(reverse("fips:org_fips", kwargs={"org_slug": org.slug}))


def test_the_inventory_lists_every_module_with_its_sunset(client, repo):
    line = catalog.series(repo, "3.12")
    soon = b.module(4282, sunset_in=25)
    later = b.module(4856, standard="140-3", sunset_in=900, module_version="3.1.2")
    gone = b.module(4000, status="historical", sunset_in=None, name="Old Provider")
    b.attest(b.fips_build(line, built_days_ago=3), soon, gone)
    b.attest(b.fips_build(line, built_days_ago=1), soon, later)
    other_line = catalog.series(repo, "3.13")
    b.attest(b.fips_build(other_line), later)
    unmirrored = catalog.series(catalog.repository("node"), "22")
    b.attest(b.fips_build(unmirrored), b.module(4999, sunset_in=10, name="Node only"))
    org, owner = b.customer(repo)
    response = _page(client, org, owner)
    assert response.status_code == 200
    page = response.content.decode()
    rows = page.split('id="inventory-table"')[1].split("</table>")[0]
    # Lapsed first, then by nearness of sunset.
    assert rows.index("#4000") < rows.index("#4282") < rows.index("#4856")
    assert "#4999" not in page
    assert "Node only" not in page
    assert "in 25 days" in rows
    assert "python 3.12" in rows
    assert "2 builds" in rows
    assert "python 3.13" in rows
    assert '<div class="figure warn" id="attention">2</div>' in page


def test_the_changes_list_what_was_told_and_how(
    client, repo, django_capture_on_commit_callbacks
):
    line = catalog.series(repo, "3.12")
    m = b.module(4282, sunset_in=60)
    b.attest(b.fips_build(line), m)
    org, owner = b.customer(repo)
    with django_capture_on_commit_callbacks(execute=True):
        notices_run()
    crypto_module_update(module=m, actor=staff(), status="revoked")
    page = _page(client, org, owner).content.decode()
    events = page.split('id="events-table"')[1].split("</table>")[0]
    # The sunset notice went out by email; the revocation is not sent yet.
    assert "within 90 days" in events
    assert '<span class="chip">email</span>' in events
    # Revoked modules drop their sunset notices from what is due, but a notice
    # already sent stays on the record.
    notices_run()
    events = _page(client, org, owner).content.decode().split('id="events-table"')[1]
    assert "is now revoked" in events


def test_a_community_org_sees_the_offer(client, repo):
    org, owner = b.customer(repo, entitled=False)
    page = _page(client, org, owner).content.decode()
    assert 'id="upsell"' in page
    assert 'id="inventory-table"' not in page


def test_a_lapsed_org_keeps_its_record(client, repo):
    line = catalog.series(repo, "3.12")
    b.attest(b.fips_build(line), b.module(4282, sunset_in=10))
    org, owner = b.customer(repo)
    org.entitlements.update(ends_at=timezone.now() - timedelta(days=1))
    page = _page(client, org, owner).content.decode()
    assert 'id="lapsed"' in page
    assert "#4282" in page


def test_members_billing_and_auditors_read_it_outsiders_get_404(client, repo):
    org, _ = b.customer(repo)
    for role in ("member", "billing"):
        user = UserFactory()
        MembershipFactory(org=org, user=user, role=role)
        assert _page(client, org, user).status_code == 200
    auditor = UserFactory(email="ext@audit.example")
    AuditorGrantFactory(org=org, email=auditor.email)
    assert _page(client, org, auditor).status_code == 200
    _other, other_owner = b.customer(repo, name="Other")
    assert _page(client, org, other_owner).status_code == 404


def test_the_page_costs_the_same_queries_with_more_builds(
    client, repo, django_assert_num_queries
):
    line = catalog.series(repo, "3.12")
    m = b.module(4282, sunset_in=60)
    b.attest(b.fips_build(line, built_days_ago=5), m)
    org, owner = b.customer(repo)
    notices_run()
    client.force_login(owner)
    url = reverse("fips:org_fips", kwargs={"org_slug": org.slug})
    client.get(url)
    with django_assert_num_queries(QUERIES):
        client.get(url)
    for n in range(6):
        image = b.fips_build(catalog.series(repo, f"4.{n}"), built_days_ago=1)
        b.attest(image, m, b.module(5000 + n, sunset_in=30 + n))
    notices_run()
    with django_assert_num_queries(QUERIES):
        response = client.get(url)
    assert response.content.decode().count('class="tone-') == 7


QUERIES = 17


def _token(org, owner, scopes):
    from apps.accounts.services import api_token_create

    _, raw = api_token_create(
        org=org, name="ci", scopes=scopes, expires_at=None, actor=owner
    )
    return raw


def test_the_api_lists_the_inventory_for_an_evidence_token(client, repo):
    line = catalog.series(repo, "3.12")
    m = b.module(4282, sunset_in=45)
    b.attest(b.fips_build(line, built_days_ago=2), m)
    b.attest(b.fips_build(line, built_days_ago=1), m)
    org, owner = b.customer(repo)
    raw = _token(org, owner, ["evidence:read"])
    response = client.get(
        "/api/v1/fips/modules/", headers={"authorization": f"Bearer {raw}"}
    )
    assert response.status_code == 200
    assert response.json()["org"] == org.pk
    (row,) = response.json()["modules"]
    assert row["certificate_number"] == 4282
    assert row["days_to_sunset"] == 45
    assert row["attention"] == "warn"
    assert row["builds"] == 2
    (carrier,) = row["carried_by"]
    assert (carrier["repository"], carrier["series"]) == ("python", "3.12")
    other, other_owner = b.customer(catalog.repository("node"), name="Node shop")
    other_raw = _token(other, other_owner, ["evidence:read"])
    assert (
        client.get(
            "/api/v1/fips/modules/", headers={"authorization": f"Bearer {other_raw}"}
        ).json()["modules"]
        == []
    )
    wrong_scope = _token(org, owner, ["members:read"])
    assert (
        client.get(
            "/api/v1/fips/modules/", headers={"authorization": f"Bearer {wrong_scope}"}
        ).status_code
        == 403
    )
