"""Publisher staff powers need a second factor.

Staff grant entitlements and read every customer's data: every staff page
(every view built on StaffOnlyMixin, found from the URL resolver so a new
one is covered), the admin, staff evidence access and staff catalog tokens
all need ``is_staff`` *and* an authenticator. Staff without one are sent to
set it up; nothing is shown or changed first.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.accounts.standing import token_suspension
from apps.core.mixins import StaffOnlyMixin
from tests.factories import MembershipFactory, UserFactory, totp_enrol
from tests.walker import discover_routes

SAMPLE = {
    "pk": "1",
    "org_slug": "acme",
    "digest": "sha256:" + "0" * 64,
    "public_id": "00000000-0000-4000-8000-000000000001",
}


def _staff_routes():
    from django.utils.module_loading import import_string

    for route in discover_routes():
        try:
            view = import_string(route.lookup)
        except ImportError:
            continue
        if isinstance(view, type) and issubclass(view, StaffOnlyMixin):
            yield route


def _path(route: str) -> str:
    import re

    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: SAMPLE.get(m.group(1), "1"), route)
    return "/" + path


STAFF_ROUTES = sorted({r.route for r in _staff_routes()})


def test_the_walk_finds_the_staff_pages():
    assert len(STAFF_ROUTES) > 20
    assert "staff/audit/" in STAFF_ROUTES


@pytest.mark.django_db
@pytest.mark.parametrize("route", STAFF_ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
def test_staff_without_a_second_factor_are_sent_to_set_one_up(route, method):
    from apps.audit.models import AuditEvent

    client = Client()
    client.force_login(UserFactory(is_staff=True, mfa=False))
    before = AuditEvent.objects.count()
    response = getattr(client, method)(_path(route))
    assert response.status_code == 302, (route, response.status_code)
    assert response["Location"] == reverse("mfa_activate_totp")
    assert AuditEvent.objects.count() == before


@pytest.mark.django_db
def test_staff_with_a_second_factor_open_the_staff_pages():
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse("staff_audit")).status_code == 200


@pytest.mark.django_db
def test_the_admin_needs_the_second_factor_too():
    bare = Client()
    bare.force_login(UserFactory(is_staff=True, is_superuser=True, mfa=False))
    for path in ("/admin/", "/admin/orgs/organization/"):
        response = bare.get(path)
        assert response.status_code == 302
        assert response["Location"] == reverse("mfa_activate_totp")
    enrolled = Client()
    enrolled.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert enrolled.get("/admin/orgs/organization/").status_code == 200


@pytest.mark.django_db
def test_a_staff_catalog_token_needs_its_creator_to_keep_a_second_factor():
    staff = UserFactory(is_staff=True, mfa=False)
    token, _ = api_token_create(
        org=MembershipFactory(role="owner").org,
        name="pipeline",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    token = ApiToken.objects.select_related("created_by", "org").get(pk=token.pk)
    assert "second factor" in token_suspension(token)
    totp_enrol(staff)
    token = ApiToken.objects.select_related("created_by", "org").get(pk=token.pk)
    assert token_suspension(token) is None


@pytest.mark.django_db
def test_staff_evidence_access_needs_the_second_factor():
    from apps.evidence.access import evidence_access
    from tests.catalog import builders as catalog

    image = catalog.build(
        catalog.series(catalog.repository("python"), "3.12"), stig=True
    )
    bare = UserFactory(is_staff=True, mfa=False)
    assert not evidence_access(image=image, user=bare).allowed
    assert evidence_access(image=image, user=UserFactory(is_staff=True)).allowed
