"""Guards that ask has_feature / feature_quantity: auditor seats and SSO."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import OrgSsoConnection
from apps.accounts.services import org_sso_configure
from apps.audit.models import AuditEvent
from apps.orgs.models import AuditorGrant
from apps.orgs.services import auditor_grant_create, auditor_grant_revoke
from tests.factories import MembershipFactory, OrganizationFactory

from .builders import entitle

pytestmark = pytest.mark.django_db


@pytest.fixture
def community():
    return OrganizationFactory(features=(), slug="initech", name="Initech")


@pytest.fixture
def owner(community):
    return MembershipFactory(org=community, role="owner").user


def _grant(org, actor, n: int) -> AuditorGrant:
    return auditor_grant_create(
        org=org,
        email=f"auditor{n}@audit.example",
        window_start=date(2026, 1, 1),
        window_end=date(2026, 3, 31),
        access_expires_at=timezone.now() + timedelta(days=30),
        actor=actor,
    )


def _counts():
    return AuditorGrant.objects.count(), AuditEvent.objects.count()


def test_community_has_no_auditor_seats(community, owner):
    before = _counts()
    with pytest.raises(ValidationError, match="no auditor seats"):
        _grant(community, owner, 1)
    assert _counts() == before


def test_seats_are_counted_and_a_revoked_grant_frees_one(community, owner):
    entitle(community, "auditor_seats", quantity=2)
    first = _grant(community, owner, 1)
    _grant(community, owner, 2)
    before = _counts()
    with pytest.raises(ValidationError, match="All 2 auditor seats are in use"):
        _grant(community, owner, 3)
    assert _counts() == before
    auditor_grant_revoke(grant=first, actor=owner)
    _grant(community, owner, 3)


def test_unlimited_seats(community, owner):
    entitle(community, "auditor_seats", quantity=None)
    for n in range(6):
        _grant(community, owner, n)


def test_an_ended_seat_entitlement_stops_new_grants(community, owner):
    now = timezone.now()
    entitle(
        community,
        "auditor_seats",
        quantity=5,
        ends_at=now - timedelta(seconds=1),
        starts_at=now - timedelta(days=30),
    )
    with pytest.raises(ValidationError):
        _grant(community, owner, 1)


def test_auditors_page_shows_the_refusal(client, community, owner):
    client.force_login(owner)
    before = _counts()
    response = client.post(
        reverse("orgs:auditors", args=[community.slug]),
        {
            "email": "x@audit.example",
            "window_start": "2026-01-01",
            "window_end": "2026-03-31",
            "access_expires_at": (timezone.now() + timedelta(days=3)).strftime(
                "%Y-%m-%dT%H:%M"
            ),
        },
    )
    assert response.status_code == 400
    assert "no auditor seats" in response.content.decode()
    assert _counts() == before


SSO = {
    "issuer_url": "https://idp.initech.example",
    "client_id": "portal",
    "client_secret": "s3cret",
    "email_domains": ["initech.example"],
    "enabled": True,
}


def test_sso_needs_the_feature(community, owner):
    before = _counts(), OrgSsoConnection.objects.count()
    with pytest.raises(ValidationError, match="not part of your plan"):
        org_sso_configure(org=community, actor=owner, **SSO)
    assert (_counts(), OrgSsoConnection.objects.count()) == before


def test_sso_page_says_so_and_refuses(client, community, owner):
    client.force_login(owner)
    url = reverse("accounts:sso", args=[community.slug])
    assert "not part of your plan" in client.get(url).content.decode()
    before = _counts(), OrgSsoConnection.objects.count()
    response = client.post(
        url,
        {
            "issuer_url": "https://idp.initech.example",
            "client_id": "portal",
            "client_secret": "s3cret",
            "email_domains": "initech.example",
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    assert "Single sign-on is not part of your plan" in response.content.decode()
    assert (_counts(), OrgSsoConnection.objects.count()) == before


def test_sso_with_the_feature_is_configured(community, owner):
    entitle(community, "sso")
    connection = org_sso_configure(org=community, actor=owner, **SSO)
    assert connection.enabled
