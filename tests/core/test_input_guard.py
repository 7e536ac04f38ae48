"""The input guard: control characters in paths and query strings, numbers in
ASCII digits only, NUL in JSON bodies, and refusals of services as 400 on the
API. Every door of each kind is walked in tests/test_input_walker.py; these
are the findings one by one."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.services import repository_upsert
from apps.customizations.models import Customization
from apps.entitlements.models import Mirror
from apps.notifications.models import WebhookEndpoint
from apps.orgs.models import AuditorGrant, Role
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import AuditorGrantFactory, MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope


def bearer(org, user, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="guard", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def no_raise() -> Client:
    # A 500 is an answer here, not an exception out of the test client.
    return Client(raise_request_exception=False)


# --------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------


def test_deliveries_page_with_a_non_ascii_endpoint_number_is_not_found(org, owner):
    endpoint = WebhookEndpoint.objects.create(
        org=org,
        url="https://hooks.example/x",
        events=["sla.breached"],
        secret="s",
        created_by=owner.user,
    )
    client = no_raise()
    client.force_login(owner.user)
    url = reverse("notifications:deliveries", kwargs={"org_slug": org.slug})
    assert client.get(url, {"endpoint": "²"}).status_code == 404
    assert client.get(url, {"endpoint": "\u0661"}).status_code == 404
    assert client.get(url, {"endpoint": "9" * 40}).status_code == 404
    assert client.get(url, {"endpoint": str(endpoint.pk)}).status_code == 200


def test_checkout_with_a_non_ascii_price_number_asks_for_a_plan(org, owner):
    ensure_tiers()
    client = no_raise()
    client.force_login(owner.user)
    response = client.post(
        reverse("billing:checkout", kwargs={"org_slug": org.slug}), {"price": "²"}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "billing:billing", kwargs={"org_slug": org.slug}
    )
    page = client.get(response["Location"])
    assert "Choose a plan to buy." in page.content.decode()


# --------------------------------------------------------------------------
# Control characters in the path and the query string
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/repositories/%00/", "name"),
        ("/api/v1/vulnerabilities/%00/", "vuln_id"),
        ("/api/v1/repositories/py%01thon/", "name"),
    ],
)
def test_api_path_with_a_control_character_is_400_naming_the_parameter(path, name):
    response = no_raise().get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == [name]
    assert "control character" in body[name][0]


def test_api_query_with_nul_is_400_naming_the_parameter():
    response = no_raise().get("/api/v1/repositories/", {"q": "py\x00"})
    assert response.status_code == 400
    assert response.json() == {
        "q": ["Contains a control character (U+0000); remove it."]
    }


def test_page_query_with_a_control_character_is_a_plain_400_page(org, owner):
    client = no_raise()
    client.force_login(owner.user)
    url = reverse("notifications:deliveries", kwargs={"org_slug": org.slug})
    response = client.get(url, {"endpoint": "1\x00"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "The query parameter \u201cendpoint\u201d contains a control" in body
    assert "U+0000" in body


def test_a_parameter_name_is_shown_escaped():
    response = no_raise().get("/catalog/?%3Cb%3E%00=1")
    assert response.status_code == 400
    body = response.content.decode()
    assert "&lt;b&gt;\\u0000" in body
    assert "<b>" not in body


def test_page_path_with_a_control_character_names_the_parameter():
    response = no_raise().get("/catalog/digest/sha256%3Aab%0A/")
    assert response.status_code == 400
    assert "The path parameter \u201cdigest\u201d" in response.content.decode()


def test_a_path_no_pattern_matches_is_named_path():
    response = no_raise().get("/api/v1/nowhere%00/")
    assert response.status_code == 400
    assert list(response.json()) == ["path"]


def test_ordinary_requests_pass_the_guard():
    assert no_raise().get("/api/v1/repositories/", {"q": "über"}).status_code == 200


# --------------------------------------------------------------------------
# JSON bodies on the API
# --------------------------------------------------------------------------


@pytest.fixture
def customizing():
    ensure_tiers()
    org = OrganizationFactory(name="Acme", slug="acme", features=())
    user = MembershipFactory(org=org, role=Role.OWNER).user
    repo = repository_upsert(name="python", display_name="Python", category="language")
    Mirror.objects.create(org=org, repository=repo, created_by=user)
    entitle(org, "customizations")
    return org, user


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repository": "mon\u0000go", "name": "ok"}, "repository"),
        (
            {"repository": "python", "name": "ok", "environment": {"A\u0000": "1"}},
            "environment",
        ),
    ],
)
def test_customization_with_nul_is_400_naming_the_field(customizing, body, field):
    org, user = customizing
    response = no_raise().post(
        "/api/v1/customizations/",
        json.dumps(body),
        content_type="application/json",
        **bearer(org, user, Scope.CUSTOMIZATIONS_WRITE),
    )
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert "NUL character" in response.json()[field][0]
    assert not Customization.objects.exists()


GRANT = {
    "email": "ext@audit.example",
    "window_start": "2026-01-01",
    "window_end": "2026-03-31",
    "access_expires_at": "2099-01-01T00:00:00Z",
}


@pytest.mark.parametrize(
    ("seats", "message"),
    [
        (None, "Your plan includes no auditor seats; upgrade to add auditors."),
        (1, "All 1 auditor seats are in use; revoke a grant or upgrade."),
    ],
)
def test_auditor_grant_without_a_seat_is_400_and_writes_nothing(seats, message):
    ensure_tiers()
    org = OrganizationFactory(features=())
    user = MembershipFactory(org=org, role=Role.OWNER).user
    if seats:
        entitle(org, "auditor_seats", quantity=seats)
        AuditorGrantFactory(org=org, email="first@audit.example", created_by=user)
    before = AuditorGrant.objects.count()
    response = no_raise().post(
        "/api/v1/auditor-grants/",
        GRANT,
        content_type="application/json",
        **bearer(org, user, Scope.AUDITORS_WRITE),
    )
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": [message]}
    assert AuditorGrant.objects.count() == before
