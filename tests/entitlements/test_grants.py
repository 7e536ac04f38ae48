"""Staff grant contracts and trials and end entitlements; all audit-logged,
bad input refused with nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog.models import Repository
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import has_feature
from apps.entitlements.services import (
    entitlement_end,
    entitlement_grant_contract,
    entitlement_grant_trial,
)
from tests.catalog import builders as catalog
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


@pytest.fixture
def community():
    return OrganizationFactory(features=(), slug="initech", name="Initech")


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


def _counts():
    return Entitlement.objects.count(), AuditEvent.objects.count()


def _contract(org, staff, **overrides):
    now = timezone.now()
    kwargs = {
        "org": org,
        "feature": "fips",
        "reference": "C-2026-001",
        "starts_at": now - timedelta(days=1),
        "ends_at": now + timedelta(days=365),
        "actor": staff,
        **overrides,
    }
    return entitlement_grant_contract(**kwargs)


def test_staff_grant_a_contract_logged_with_its_terms(community, staff):
    nginx = catalog.repository("nginx")
    ent = _contract(community, staff, repository=nginx)
    assert ent.source == Entitlement.Source.CONTRACT
    assert ent.created_by == staff
    assert has_feature(org=community, feature="fips", repository=nginx)
    event = AuditEvent.objects.get(action=Action.ENTITLEMENT_GRANTED)
    assert event.org == community
    assert event.actor == staff
    assert event.details["reference"] == "C-2026-001"
    assert event.details["repository"] == "nginx"
    assert event.details["source"] == "contract"


def test_staff_grant_a_trial_that_ends(community, staff):
    end = timezone.now() + timedelta(days=14)
    ent = entitlement_grant_trial(
        org=community, feature="sso", ends_at=end, actor=staff
    )
    assert ent.source == Entitlement.Source.TRIAL
    assert ent.ends_at == end
    assert has_feature(org=community, feature="sso")
    assert not has_feature(org=community, feature="sso", at=end)


def test_counted_contract_carries_its_quantity(community, staff):
    ent = _contract(community, staff, feature="auditor_seats", quantity=10)
    assert ent.quantity == 10


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"feature": "teleport"}, "feature"),
        ({"reference": "  "}, "reference"),
        ({"ends_at": timezone.now() - timedelta(days=2)}, "ends_at"),
        ({"feature": "sso", "quantity": 3}, "quantity"),
        ({"starts_at": timezone.now().replace(tzinfo=None)}, "starts_at"),
        ({"repository": Repository(pk=987654, name="ghost")}, "repository"),
    ],
    ids=[
        "unknown-feature",
        "no-reference",
        "end-before-start",
        "qty-on-bool",
        "naive",
        "unknown-repository",
    ],
)
def test_bad_contract_is_refused_with_nothing_written(
    community, staff, overrides, field
):
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        _contract(community, staff, **overrides)
    assert field in exc.value.message_dict
    assert _counts() == before


def test_a_trial_must_end_in_the_future(community, staff):
    before = _counts()
    with pytest.raises(ValidationError):
        entitlement_grant_trial(
            org=community,
            feature="sso",
            ends_at=timezone.now() - timedelta(minutes=1),
            actor=staff,
        )
    assert _counts() == before


@pytest.mark.parametrize("who", ["owner", "anonymous"])
def test_only_staff_grant_or_end(community, staff, who):
    actor = (
        MembershipFactory(org=community, role="owner").user if who == "owner" else None
    )
    before = _counts()
    with pytest.raises(PermissionDenied):
        _contract(community, actor)
    with pytest.raises(PermissionDenied):
        entitlement_grant_trial(
            org=community,
            feature="sso",
            ends_at=timezone.now() + timedelta(days=1),
            actor=actor,
        )
    ent = _contract(community, staff)
    before = _counts()
    with pytest.raises(PermissionDenied):
        entitlement_end(entitlement=ent, at=timezone.now(), actor=actor, reason="x")
    assert _counts() == before


def test_ending_sets_ends_at_and_keeps_the_row(community, staff):
    ent = _contract(community, staff, ends_at=None)
    at = timezone.now()
    entitlement_end(entitlement=ent, at=at, actor=staff, reason="Contract cancelled")
    ent.refresh_from_db()
    assert ent.ends_at == at
    assert ent.end_reason == "Contract cancelled"
    assert ent.ended_by == staff
    assert not has_feature(org=community, feature="fips")
    assert has_feature(org=community, feature="fips", at=at - timedelta(seconds=1))
    event = AuditEvent.objects.get(action=Action.ENTITLEMENT_ENDED)
    assert event.details["reason"] == "Contract cancelled"
    assert event.details["previous_ends_at"] is None


def test_ending_only_shortens_and_needs_a_reason(community, staff):
    ent = _contract(community, staff)
    before = _counts()
    for bad in [
        {"at": ent.ends_at + timedelta(days=1), "reason": "extend?"},
        {"at": ent.starts_at, "reason": "before it began"},
        {"at": timezone.now(), "reason": " "},
    ]:
        with pytest.raises(ValidationError):
            entitlement_end(entitlement=ent, actor=staff, **bad)
    assert _counts() == before
    ent.refresh_from_db()
    assert ent.end_reason == ""


# --- the staff page -----------------------------------------------------------


def test_staff_page_grants_and_ends(client, community, staff):
    client.force_login(staff)
    url = reverse("staff_entitlements")
    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {
            "org": "initech",
            "feature": "stig",
            "repository": "",
            "source": "trial",
            "reference": "POC for Q3",
            "ends_at": (timezone.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 302, response.content.decode()
    ent = Entitlement.objects.get(org=community)
    assert ent.source == "trial"
    assert ent.repository is None
    response = client.post(
        reverse("staff_entitlement_end", args=[ent.pk]), {"reason": "POC over"}
    )
    assert response.status_code == 302
    ent.refresh_from_db()
    assert ent.ends_at is not None
    assert ent.end_reason == "POC over"
    body = client.get(url).content.decode()
    assert "POC over" in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"org": "nobody"}, "There is no organization"),
        ({"feature": "warp"}, "Select a valid choice"),
        ({"repository": "no-such-image"}, "There is no repository"),
        ({"ends_at": "2020-01-01T00:00", "starts_at": "2021-01-01T00:00"}, "after"),
        ({"source": "trial", "ends_at": ""}, "A trial ends in the future"),
        ({"reference": ""}, "This field is required"),
        ({"quantity": "-1"}, "greater than or equal to 0"),
        ({"ends_at": "yesterday-ish"}, "Enter a valid date/time"),
    ],
)
def test_staff_page_bad_input_writes_nothing(client, community, staff, data, message):
    client.force_login(staff)
    catalog.repository("nginx")
    body = {
        "org": "initech",
        "feature": "fips",
        "repository": "nginx",
        "source": "contract",
        "reference": "C-1",
        "ends_at": "",
        **data,
    }
    before = _counts()
    response = client.post(reverse("staff_entitlements"), body)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _counts() == before


def test_staff_page_is_closed_to_customers(client, community):
    owner = MembershipFactory(org=community, role="owner").user
    client.force_login(owner)
    before = _counts()
    assert client.get(reverse("staff_entitlements")).status_code == 403
    response = client.post(
        reverse("staff_entitlements"),
        {"org": "initech", "feature": "fips", "source": "contract", "reference": "x"},
    )
    assert response.status_code == 403
    assert _counts() == before


def test_end_form_without_reason_changes_nothing(client, community, staff):
    ent = _contract(community, staff)
    client.force_login(staff)
    before = _counts()
    response = client.post(reverse("staff_entitlement_end", args=[ent.pk]), {})
    assert response.status_code == 302
    assert _counts() == before
    ent.refresh_from_db()
    assert ent.end_reason == ""


# --- what the Stripe side will call -------------------------------------------


def test_a_plan_becomes_subscription_rows_with_its_quantities(community):
    from apps.billing.models import Plan
    from apps.entitlements.selectors import feature_quantity
    from apps.entitlements.services import entitlements_grant_plan

    now = timezone.now()
    rows = entitlements_grant_plan(
        org=community,
        grants=Plan.objects.get(key="select").grant_pairs(),
        starts_at=now - timedelta(seconds=1),
        ends_at=None,
        reference="si_TEST123",
    )
    assert {r.source for r in rows} == {Entitlement.Source.SUBSCRIPTION}
    assert feature_quantity(org=community, feature="auditor_seats") == 2
    assert feature_quantity(org=community, feature="customizations") == 5
    assert has_feature(org=community, feature="sso")
    assert not has_feature(org=community, feature="els")
    # Cancellation: the system ends the rows; a customer may not.
    owner = MembershipFactory(org=community, role="owner").user
    with pytest.raises(PermissionDenied):
        entitlement_end(entitlement=rows[0], at=now, actor=owner, reason="x")
    for row in rows:
        entitlement_end(
            entitlement=row, at=timezone.now(), actor=None, reason="Canceled"
        )
    assert feature_quantity(org=community, feature="auditor_seats") == 0
    assert AuditEvent.objects.filter(action=Action.ENTITLEMENT_ENDED).count() == 6


def test_the_system_may_not_end_a_contract(community, staff):
    ent = _contract(community, staff)
    with pytest.raises(PermissionDenied):
        entitlement_end(entitlement=ent, at=timezone.now(), actor=None, reason="x")
