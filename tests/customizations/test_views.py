"""The customizations page and API: create, bad input, limits, other tenants."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.customizations.models import Customization
from apps.customizations.services import customization_create
from apps.entitlements.models import Mirror
from apps.entitlements.services import entitlement_end, entitlement_grant_contract
from apps.orgs.models import Role
from tests.entitlements.builders import entitle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope
PAGE = "/o/acme/customizations/"
API = "/api/v1/customizations/"


@pytest.fixture
def owner_client(acme_owner):
    client = Client()
    client.force_login(acme_owner)
    return client


def _post(client, **overrides):
    data = {
        "repository": "python",
        "name": "py-extra",
        "description": "",
        "extra_packages": "curl, jq\nlibpq5",
        "environment": "TZ=UTC\nGREETING=a=b",
        **overrides,
    }
    return client.post(PAGE, data)


def _bearer(org, owner, *scopes):
    _, raw = api_token_create(
        org=org, name="ci", scopes=list(scopes), expires_at=None, actor=owner
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _count():
    return Customization.objects.count(), AuditEvent.objects.count()


# --- the page -------------------------------------------------------------------


def test_page_creates_and_lists(acme, owner_client, mirrored):
    entitle(acme, "customizations", quantity=5)
    response = _post(owner_client)
    assert response.status_code == 302
    made = Customization.objects.get(org=acme)
    assert made.extra_packages == ["curl", "jq", "libpq5"]
    assert made.environment == {"TZ": "UTC", "GREETING": "a=b"}
    page = owner_client.get(PAGE).content.decode()
    assert "py-extra" in page
    assert "1 of 5 used" in page
    assert "<code>GREETING</code>" in page
    assert "a=b" not in page  # values are not shown on the list


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"repository": ""}, "repository", "required"),
        ({"repository": "nope"}, "repository", "valid choice"),
        ({"name": ""}, "name", "required"),
        ({"name": "Not A Slug"}, "name", "lowercase letters"),
        ({"name": "x" * 64}, "name", "at most 63"),
        ({"description": "x" * 2001}, "description", "at most 2000"),
        ({"extra_packages": "curl CURL"}, "extra_packages", "Not a package name"),
        ({"extra_packages": "jq jq"}, "extra_packages", "more than once"),
        (
            {"extra_packages": " ".join(f"p{i}" for i in range(101))},
            "extra_packages",
            "At most 100",
        ),
        ({"environment": "JUSTANAME"}, "environment", "NAME=value"),
        ({"environment": "A=1\nA=2"}, "environment", "set twice"),
        ({"environment": "9A=1"}, "environment", "Not a variable name"),
    ],
)
def test_page_rejects_bad_input(
    acme, owner_client, mirrored, overrides, field, message
):
    entitle(acme, "customizations")
    before = _count()
    response = _post(owner_client, **overrides)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors[field]), errors
    assert _count() == before


def test_page_refuses_an_unmirrored_repository(acme, owner_client, python):
    entitle(acme, "customizations")
    response = _post(owner_client)
    assert response.status_code == 400
    assert "mirror it first" in " ".join(response.context["form"].errors["repository"])


def test_page_after_a_downgrade_says_what_to_archive(
    acme, acme_owner, owner_client, mirrored
):
    staff = UserFactory(is_staff=True)
    (row,) = entitle(acme, "customizations")
    for i in range(7):
        customization_create(
            org=acme, repository=mirrored, name=f"c{i}", actor=acme_owner
        )
    entitlement_end(entitlement=row, at=timezone.now(), actor=staff, reason="Down")
    entitlement_grant_contract(
        org=acme,
        feature="customizations",
        quantity=5,
        reference="SELECT",
        starts_at=timezone.now(),
        ends_at=None,
        actor=staff,
    )
    page = owner_client.get(PAGE).content.decode()
    assert "7 of 5 used: archive 3 to create a new one" in page
    assert "New customization" not in page  # no form to fill in for nothing
    assert page.count("Archive</button>") == 7

    before = _count()
    response = _post(owner_client, name="new")
    assert response.status_code == 400
    assert "7 of 5 used" in response.content.decode()
    assert _count() == before


def test_zero_plan_page(acme, owner_client, mirrored):
    page = owner_client.get(PAGE).content.decode()
    assert "0 of 0 used" in page
    assert "includes no customizations" in page


def test_archive_button(acme, acme_owner, owner_client, mirrored):
    entitle(acme, "customizations")
    made = customization_create(
        org=acme, repository=mirrored, name="one", actor=acme_owner
    )
    response = owner_client.post(f"{PAGE}{made.pk}/archive/")
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.archived_at is not None
    assert "one" not in owner_client.get(PAGE).content.decode().split("<tbody>")[1]
    # Archiving again: it is no longer there.
    assert owner_client.post(f"{PAGE}{made.pk}/archive/").status_code == 404


def test_member_sees_but_cannot_manage(acme, acme_owner, mirrored):
    entitle(acme, "customizations")
    customization_create(org=acme, repository=mirrored, name="one", actor=acme_owner)
    member = Client()
    member.force_login(MembershipFactory(org=acme, role=Role.MEMBER).user)
    page = member.get(PAGE)
    assert page.status_code == 200
    assert "Archive</button>" not in page.content.decode()
    assert _post(member).status_code == 403


def test_other_tenant_gets_404(acme, acme_owner, mirrored):
    entitle(acme, "customizations")
    made = customization_create(
        org=acme, repository=mirrored, name="one", actor=acme_owner
    )
    globex = OrganizationFactory(name="Globex", slug="globex")
    outsider = MembershipFactory(org=globex, role=Role.OWNER).user
    Mirror.objects.create(org=globex, repository=mirrored, created_by=outsider)
    entitle(globex, "customizations")
    client = Client()
    client.force_login(outsider)
    assert client.get(PAGE).status_code == 404
    assert client.post(f"/o/globex/customizations/{made.pk}/archive/").status_code == (
        404
    )
    headers = _bearer(
        globex, outsider, Scope.CUSTOMIZATIONS_READ, Scope.CUSTOMIZATIONS_WRITE
    )
    assert client.get(f"{API}{made.pk}/", **headers).status_code == 404
    assert (
        client.patch(
            f"{API}{made.pk}/", {"description": "x"}, "application/json", **headers
        ).status_code
        == 404
    )
    assert client.post(f"{API}{made.pk}/archive/", **headers).status_code == 404
    made.refresh_from_db()
    assert made.archived_at is None
    assert made.description == ""


# --- the API --------------------------------------------------------------------


@pytest.fixture
def api(acme, acme_owner):
    client = Client()
    client.defaults.update(
        _bearer(acme, acme_owner, Scope.CUSTOMIZATIONS_READ, Scope.CUSTOMIZATIONS_WRITE)
    )
    return client


def test_api_create_list_update_archive(acme, api, mirrored):
    entitle(acme, "customizations", quantity=1)
    body = {
        "repository": "python",
        "name": "api-one",
        "extra_packages": ["curl"],
        "environment": {"TZ": "UTC"},
    }
    response = api.post(API, body, "application/json")
    assert response.status_code == 201, response.content
    made = response.json()
    assert made["repository"] == "python"
    assert made["environment"] == {"TZ": "UTC"}

    refused = api.post(API, {**body, "name": "api-two"}, "application/json")
    assert refused.status_code == 400
    assert "All 1 customizations" in refused.json()["non_field_errors"][0]

    listed = api.get(API).json()["results"]
    assert [r["name"] for r in listed] == ["api-one"]

    patched = api.patch(
        f"{API}{made['id']}/", {"extra_packages": ["curl", "jq"]}, "application/json"
    )
    assert patched.status_code == 200
    assert patched.json()["extra_packages"] == ["curl", "jq"]

    archived = api.post(f"{API}{made['id']}/archive/")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert api.get(API).json()["results"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "ok"}, "repository"),
        ({"repository": "nope", "name": "ok"}, "repository"),
        ({"repository": "python"}, "name"),
        ({"repository": "python", "name": "Bad Name"}, "name"),
        (
            {"repository": "python", "name": "ok", "description": "x" * 2001},
            "description",
        ),
        (
            {"repository": "python", "name": "ok", "extra_packages": "curl"},
            "extra_packages",
        ),
        (
            {"repository": "python", "name": "ok", "extra_packages": ["A"]},
            "extra_packages",
        ),
        (
            {"repository": "python", "name": "ok", "extra_packages": ["jq", "jq"]},
            "extra_packages",
        ),
        ({"repository": "python", "name": "ok", "environment": ["A=1"]}, "environment"),
        (
            {"repository": "python", "name": "ok", "environment": {"A B": "1"}},
            "environment",
        ),
        (
            {"repository": "python", "name": "ok", "environment": {"A": None}},
            "environment",
        ),
    ],
)
def test_api_rejects_bad_input(acme, api, mirrored, body, field):
    entitle(acme, "customizations")
    before = _count()
    response = api.post(API, body, "application/json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert _count() == before


def test_api_update_rejects_bad_input(acme, acme_owner, api, mirrored):
    entitle(acme, "customizations")
    made = customization_create(
        org=acme, repository=mirrored, name="one", actor=acme_owner
    )
    before = _count()
    for body in (
        {"name": "UPPER"},
        {"extra_packages": ["ok", "ok"]},
        {"environment": {"1": "x"}},
    ):
        response = api.patch(f"{API}{made.pk}/", body, "application/json")
        assert response.status_code == 400, body
    assert _count() == before


def test_api_read_scope_cannot_write(acme, acme_owner, mirrored):
    entitle(acme, "customizations")
    client = Client()
    headers = _bearer(acme, acme_owner, Scope.CUSTOMIZATIONS_READ)
    response = client.post(
        API, {"repository": "python", "name": "x"}, "application/json", **headers
    )
    assert response.status_code == 403
    assert not Customization.objects.exists()
