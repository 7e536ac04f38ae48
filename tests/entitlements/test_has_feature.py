"""The one question: does org O have feature F for repository R at time T?"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import (
    entitlement_cache,
    feature_quantity,
    has_feature,
)
from tests.catalog import builders as catalog
from tests.factories import MembershipFactory, OrganizationFactory

from .builders import entitle

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def days(n: int):
    return NOW + timedelta(days=n)


@pytest.fixture
def community():
    return OrganizationFactory(features=())


@pytest.fixture
def nginx():
    return catalog.repository("nginx")


@pytest.fixture
def python():
    return catalog.repository("python")


def test_community_has_nothing_paid(community, nginx):
    for feature in ("sla", "fips", "stig", "els", "sso"):
        assert not has_feature(org=community, feature=feature)
        assert not has_feature(org=community, feature=feature, repository=nginx)
    assert feature_quantity(org=community, feature="auditor_seats") == 0
    assert feature_quantity(org=community, feature="customizations") == 0


def test_time_window_is_start_inclusive_end_exclusive(community):
    entitle(community, "fips", starts_at=days(-10), ends_at=days(10))
    assert not has_feature(org=community, feature="fips", at=days(-11))
    assert has_feature(org=community, feature="fips", at=days(-10))
    assert has_feature(org=community, feature="fips", at=NOW)
    assert has_feature(org=community, feature="fips", at=days(10) - timedelta(0, 1))
    assert not has_feature(org=community, feature="fips", at=days(10))


def test_ended_and_future_entitlements_do_not_count_now(community):
    entitle(community, "fips", starts_at=days(-30), ends_at=days(-1))
    entitle(community, "stig", starts_at=days(5))
    assert not has_feature(org=community, feature="fips")
    assert not has_feature(org=community, feature="stig")
    # ... but they answer for their own time: history is evidence.
    assert has_feature(org=community, feature="fips", at=days(-2))
    assert has_feature(org=community, feature="stig", at=days(6))


def test_open_ended_entitlement_has_no_end(community):
    entitle(community, "sla", starts_at=days(-1))
    assert has_feature(org=community, feature="sla", at=days(3650))


def test_scope_all_repositories_answers_for_each(community, nginx, python):
    entitle(community, "fips")
    assert has_feature(org=community, feature="fips", repository=nginx)
    assert has_feature(org=community, feature="fips", repository=python)
    assert has_feature(org=community, feature="fips")


def test_scope_one_repository_answers_only_for_it(community, nginx, python):
    entitle(community, "fips", repository=nginx)
    assert has_feature(org=community, feature="fips", repository=nginx)
    assert not has_feature(org=community, feature="fips", repository=python)
    # The org-wide question wants an all-repositories entitlement.
    assert not has_feature(org=community, feature="fips")


def test_another_orgs_entitlement_is_not_ours(community, nginx):
    other = OrganizationFactory(features=())
    entitle(other, "fips", "sso")
    assert not has_feature(org=community, feature="fips", repository=nginx)
    assert not has_feature(org=community, feature="sso")


def test_trial_expires(community):
    entitle(
        community,
        "sso",
        source=Entitlement.Source.TRIAL,
        starts_at=days(-13),
        ends_at=days(1),
    )
    assert has_feature(org=community, feature="sso")
    assert not has_feature(org=community, feature="sso", at=days(1))


def test_quantity_adds_up_and_none_is_unlimited(community):
    entitle(community, "auditor_seats", quantity=2)
    assert feature_quantity(org=community, feature="auditor_seats") == 2
    entitle(community, "auditor_seats", quantity=3)
    assert feature_quantity(org=community, feature="auditor_seats") == 5
    entitle(community, "auditor_seats", quantity=None, ends_at=days(2))
    assert feature_quantity(org=community, feature="auditor_seats") is None
    assert feature_quantity(org=community, feature="auditor_seats", at=days(3)) == 5


def test_an_unknown_feature_is_a_bug_not_a_no(community):
    with pytest.raises(ValueError, match="Unknown feature"):
        has_feature(org=community, feature="fisp")


def test_the_database_refuses_an_end_before_the_start(community):
    with pytest.raises(IntegrityError), transaction.atomic():
        entitle(community, "fips", starts_at=days(1), ends_at=days(1))


def test_many_checks_one_query_inside_the_cache(
    community, nginx, python, django_assert_num_queries
):
    entitle(community, "fips", repository=nginx)
    entitle(community, "auditor_seats", quantity=2)
    with entitlement_cache(), django_assert_num_queries(1):
        assert has_feature(org=community, feature="fips", repository=nginx)
        assert not has_feature(org=community, feature="fips", repository=python)
        assert not has_feature(org=community, feature="stig", repository=nginx)
        assert not has_feature(org=community, feature="sso", at=days(-5))
        assert feature_quantity(org=community, feature="auditor_seats") == 2
        assert feature_quantity(org=community, feature="customizations") == 0


def test_one_query_per_org_not_per_check(community, django_assert_num_queries):
    other = OrganizationFactory(features=())
    with entitlement_cache(), django_assert_num_queries(2):
        for _ in range(5):
            has_feature(org=community, feature="sso")
            has_feature(org=other, feature="sso")


def test_outside_a_request_each_check_reads_afresh(community):
    assert not has_feature(org=community, feature="sso")
    entitle(community, "sso")
    assert has_feature(org=community, feature="sso")


def test_a_page_with_many_checks_reads_entitlements_once(
    django_assert_num_queries,
):
    """The SSO page asks has_feature; the middleware keeps the rows for the
    request. Pinned: exactly one query touches the entitlement table."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    org = OrganizationFactory()
    owner = MembershipFactory(org=org, role="owner").user
    client = Client()
    client.force_login(owner)
    url = reverse("accounts:sso", kwargs={"org_slug": org.slug})
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    ent_queries = [
        q for q in ctx.captured_queries if "entitlements_entitlement" in q["sql"]
    ]
    assert len(ent_queries) == 1
