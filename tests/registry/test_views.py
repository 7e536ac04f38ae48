"""The organization's Registry page: recent denials, this organization's only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.orgs.models import Role
from apps.registry.models import PullLogEntry
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
    response = client.get(reverse("registry_log:denials", args=[org.slug]))
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
    response = client.get(reverse("registry_log:denials", args=[org.slug]))
    assert response.status_code == 403


def test_the_page_query_count_does_not_grow_with_rows(
    client, django_assert_max_num_queries
):
    org = OrganizationFactory()
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    client.force_login(owner)
    url = reverse("registry_log:denials", args=[org.slug])
    _entry(org, "a-fips", granted=[], reason="x")
    client.get(url)
    with django_assert_max_num_queries(11) as few:
        client.get(url)
    for i in range(15):
        PullLogEntry.objects.create(
            org=org,
            user=owner,
            repository=f"b{i}-fips",
            requested=["pull"],
            granted=[],
            reason="y",
        )
    with django_assert_max_num_queries(11) as many:
        client.get(url)
    assert len(many.captured_queries) == len(few.captured_queries)
