"""The organization's Registry page: recent denials, this organization's only."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.billing.selectors import plans_granting
from apps.entitlements.models import Mirror
from apps.orgs.models import Role
from apps.registry.models import PullLogEntry, RegistryEvent
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def _entry(org, repository, *, granted, reason=""):
    return PullLogEntry.objects.create(
        org=org,
        repository=repository,
        requested=["pull"],
        granted=granted,
        reason=reason,
        account="ci",
    )


def test_the_page_lists_this_orgs_denials_with_their_reason(client):
    org, other = OrganizationFactory(), OrganizationFactory()
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    _entry(org, "nginx-fips", granted=[], reason="Org is not entitled to FIPS")
    _entry(org, "nginx", granted=["pull"])
    _entry(other, "redis-stig", granted=[], reason="other org's denial")
    client.force_login(owner)
    response = client.get(reverse("registry_log:overview", args=[org.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "nginx-fips" in page
    assert "Org is not entitled to FIPS" in page
    assert "<code>nginx</code>" not in page
    assert "redis-stig" not in page


def test_members_may_not_read_the_page(client):
    org = OrganizationFactory()
    member = MembershipFactory(org=org, role=Role.MEMBER).user
    client.force_login(member)
    response = client.get(reverse("registry_log:overview", args=[org.slug]))
    assert response.status_code == 403


def _more_of_everything(org, owner, n: int) -> None:
    """Rows of every kind the page lists: denials, pulls, pull tokens,
    catalog repositories with paid variants, and mirrors."""
    for i in range(n):
        repo = catalog.repository(f"r{n}x{i}")
        line = catalog.series(repo, "1", support=-10, els=300)
        build = catalog.build(line, fips=True)
        Mirror.objects.create(org=org, repository=repo, created_by=owner)
        PullLogEntry.objects.create(
            org=org,
            user=owner,
            repository=f"{repo.name}-fips",
            requested=["pull"],
            granted=[],
            reason="y",
            missing_features=["fips"],
        )
        RegistryEvent.objects.create(
            event_id=f"{n}-{i}",
            action="pull",
            org=org,
            repository=repo.name,
            digest=build.digest,
            image=build,
            occurred_at=timezone.now(),
        )
        api_token_create(
            org=org,
            name=f"pull {i}",
            scopes=[ApiToken.Scope.REGISTRY_PULL],
            expires_at=None,
            actor=owner,
        )


PAGE_QUERIES = 20


def test_the_page_query_count_does_not_grow_with_rows(
    client, django_assert_num_queries
):
    org = OrganizationFactory()
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    client.force_login(owner)
    url = reverse("registry_log:overview", args=[org.slug])
    _more_of_everything(org, owner, 1)
    client.get(url)
    with django_assert_num_queries(PAGE_QUERIES):
        client.get(url)
    _more_of_everything(org, owner, 12)
    with django_assert_num_queries(PAGE_QUERIES):
        response = client.get(url)
    assert response.content.decode().count("not entitled") >= 13


def test_the_page_names_what_would_allow_a_refusal(client):
    """Each refused pull names the plan or add-on that grants what was
    missing; each path says what it needs and whether the org has it."""
    ensure_tiers()
    org = OrganizationFactory(features=())
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    repo = catalog.repository("postgres", category="database")
    line = catalog.series(repo, "17", support=-10, els=300)
    catalog.build(line)
    catalog.build(line, fips=True)
    entitle(org, "fips", repository=repo)
    _entry(org, "postgres-els", granted=[], reason="not entitled to ELS")
    PullLogEntry.objects.filter(repository="postgres-els").update(
        missing_features=["els"]
    )
    client.force_login(owner)
    page = client.get(reverse("registry_log:overview", args=[org.slug]))
    text = page.content.decode()
    els_plans = [p.name for p in plans_granting()["els"]]
    assert els_plans
    assert all(name in text for name in els_plans)
    rows = {
        path: row
        for path, row in re.findall(
            r"<code>localhost:5000/([a-z0-9-]+)</code>(.*?)</tr>", text, re.S
        )
    }
    assert "can pull" in rows["postgres"]
    assert "can pull" in rows["postgres-fips"]
    assert "not entitled" in rows["postgres-els"]
