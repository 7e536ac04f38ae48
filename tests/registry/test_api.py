"""The pull log through the API: ``registry:read``, one organization's rows,
denials on request, a bounded number of queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.orgs.models import Role
from apps.registry.models import PullLogEntry
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope


def _token(org, scopes):
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    _, raw = api_token_create(
        org=org, name="reader", scopes=scopes, expires_at=None, actor=owner
    )
    return owner, {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _entries(org, owner, n):
    for i in range(n):
        PullLogEntry.objects.create(
            org=org,
            user=owner,
            repository=f"nginx-fips{i}",
            requested=["pull"],
            granted=["pull"] if i % 2 else [],
            reason="" if i % 2 else f"{org.name} is not entitled to FIPS variants",
            ip="10.0.0.1",
        )


def test_the_pull_log_lists_this_orgs_entries_and_filters_denials(client):
    org, other = OrganizationFactory(), OrganizationFactory()
    owner, headers = _token(org, [Scope.REGISTRY_READ])
    _entries(org, owner, 4)
    _entries(other, owner, 3)
    url = reverse("api:pulllog-list")
    body = client.get(url, **headers).json()
    assert len(body["results"]) == 4
    assert {r["repository"] for r in body["results"]} == {
        f"nginx-fips{i}" for i in range(4)
    }
    assert body["results"][0]["user_email"] == owner.email
    denied = client.get(url, {"denied": "1"}, **headers).json()["results"]
    assert sorted(r["repository"] for r in denied) == ["nginx-fips0", "nginx-fips2"]
    assert all(r["granted"] == [] and "FIPS" in r["reason"] for r in denied)


def test_the_pull_log_needs_registry_read(client):
    org = OrganizationFactory()
    _, headers = _token(org, [Scope.REGISTRY_PULL, Scope.AUDIT_READ])
    assert client.get(reverse("api:pulllog-list"), **headers).status_code == 403


def test_the_pull_log_query_count_does_not_grow_with_rows(
    client, django_assert_max_num_queries
):
    org = OrganizationFactory()
    owner, headers = _token(org, [Scope.REGISTRY_READ])
    _entries(org, owner, 2)
    url = reverse("api:pulllog-list")
    # The token's first use records it (once a minute): not the list's cost.
    client.get(url, **headers)
    with django_assert_max_num_queries(3) as few:
        assert client.get(url, **headers).status_code == 200
    _entries(org, owner, 20)
    with django_assert_max_num_queries(3) as many:
        assert client.get(url, **headers).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
