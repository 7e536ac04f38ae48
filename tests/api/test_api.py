"""The REST API: token authentication and scopes, auditor grants, pagination,
the OpenAPI schema. Tenancy across every API route is walked in
tests/test_tenancy.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create, api_token_revoke
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.models import AuditorGrant, Membership
from tests.factories import AuditorGrantFactory

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope
MEMBERS = "/api/v1/members/"


def make_token(org, actor, scopes=(Scope.MEMBERS_READ,), **kwargs):
    return api_token_create(
        org=org,
        name=kwargs.pop("name", "ci"),
        scopes=list(scopes),
        expires_at=kwargs.pop("expires_at", None),
        actor=actor,
        **kwargs,
    )


def bearer(raw: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def token(org, owner):
    return make_token(org, owner.user)


# --------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------


def test_no_header_is_401_with_the_scheme_to_use(client, token):
    response = client.get(MEMBERS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"] == (
        "Authentication credentials were not provided."
    )


def test_a_browser_session_is_not_an_api_credential(client, owner, token):
    client.force_login(owner.user)
    assert client.get(MEMBERS).status_code == 401


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer", "Malformed Authorization header"),
        ("Bearer ", "Malformed Authorization header"),
        ("   ", "Malformed Authorization header"),
        ("Bearer a b", "Malformed Authorization header"),
        ("Bearer garbage", "Invalid, expired or revoked token."),
        ("Bearer hip_short_secret", "Invalid, expired or revoked token."),
        ("Token {raw}", "Unsupported authorization scheme"),
        ("Basic dXNlcjpwYXNz", "Unsupported authorization scheme"),
        ("Bearer {raw}x", "Invalid, expired or revoked token."),
        ("Bearer xyz{raw_without_prefix}", "Invalid, expired or revoked token."),
        ("Bearer {raw_other_prefix}", "Invalid, expired or revoked token."),
    ],
)
def test_malformed_or_wrong_credentials_are_401_with_a_clear_message(
    client, token, header, message
):
    _, raw = token
    header = header.format(
        raw=raw,
        raw_without_prefix=raw.removeprefix("hip"),
        # Same shape, someone else's id: the secret does not match its hash.
        raw_other_prefix="hip_AAAAAAAAAAAA_"
        + raw.rsplit("_", 1)[1][-43:].rjust(43, "A"),
    )
    response = client.get(MEMBERS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401, header
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["detail"].startswith(message)


def test_the_scheme_is_case_insensitive(client, token):
    _, raw = token
    response = client.get(MEMBERS, HTTP_AUTHORIZATION=f"bearer {raw}")
    assert response.status_code == 200


def test_revoked_token_is_401(client, token, owner):
    api_token, raw = token
    api_token_revoke(token=api_token, actor=owner.user)
    response = client.get(MEMBERS, **bearer(raw))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid, expired or revoked token."


def test_expired_token_is_401(client, org, owner):
    api_token, raw = make_token(
        org, owner.user, expires_at=timezone.now() + timedelta(hours=1)
    )
    assert client.get(MEMBERS, **bearer(raw)).status_code == 200
    ApiToken.objects.filter(pk=api_token.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.get(MEMBERS, **bearer(raw))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid, expired or revoked token."


def test_token_without_the_scope_is_403_and_with_it_200(client, org, owner):
    _, without = make_token(org, owner.user, scopes=[Scope.AUDIT_READ])
    _, with_scope = make_token(org, owner.user, scopes=[Scope.MEMBERS_READ])
    response = client.get(MEMBERS, **bearer(without))
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "This token lacks the scope this endpoint needs."
    )
    response = client.get(MEMBERS, **bearer(with_scope))
    assert response.status_code == 200
    assert [m["email"] for m in response.json()["results"]] == [owner.user.email]


def test_read_scope_does_not_allow_writing(client, org, owner):
    _, raw = make_token(org, owner.user, scopes=[Scope.AUDITORS_READ])
    response = client.post(
        "/api/v1/auditor-grants/", {}, content_type="application/json", **bearer(raw)
    )
    assert response.status_code == 403
    assert not AuditorGrant.objects.exists()


def _token_updates(queries) -> list[str]:
    table = ApiToken._meta.db_table
    return [
        q["sql"] for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"]
    ]


def test_last_used_at_is_written_at_most_once_a_minute(client, token, settings):
    api_token, raw = token
    assert settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS == 60
    assert api_token.last_used_at is None

    with CaptureQueriesContext(connection) as first:
        assert client.get(MEMBERS, **bearer(raw)).status_code == 200
    api_token.refresh_from_db()
    used = api_token.last_used_at
    assert used is not None
    assert timezone.now() - used < timedelta(seconds=5)
    assert len(_token_updates(first.captured_queries)) == 1

    # Within the minute: no write at all.
    with CaptureQueriesContext(connection) as again:
        for _ in range(3):
            assert client.get(MEMBERS, **bearer(raw)).status_code == 200
    assert _token_updates(again.captured_queries) == []
    api_token.refresh_from_db()
    assert api_token.last_used_at == used

    # 55 s ago: still no write; 60 s ago: written.
    ApiToken.objects.filter(pk=api_token.pk).update(
        last_used_at=timezone.now() - timedelta(seconds=55)
    )
    with CaptureQueriesContext(connection) as recent:
        client.get(MEMBERS, **bearer(raw))
    assert _token_updates(recent.captured_queries) == []
    stale = timezone.now() - timedelta(seconds=60)
    ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=stale)
    with CaptureQueriesContext(connection) as later:
        client.get(MEMBERS, **bearer(raw))
    assert len(_token_updates(later.captured_queries)) == 1
    api_token.refresh_from_db()
    assert api_token.last_used_at > stale + timedelta(seconds=59)


def test_a_refused_token_is_not_marked_used(client, org, owner):
    api_token, raw = make_token(org, owner.user, scopes=[Scope.AUDIT_READ])
    api_token_revoke(token=api_token, actor=owner.user)
    client.get(MEMBERS, **bearer(raw))
    api_token.refresh_from_db()
    assert api_token.last_used_at is None


def _every_stored_value():
    """Every column of every row of every table the project's models map."""
    for model in apps.get_models(include_auto_created=True):
        for row in model.objects.values_list():
            for value in row:
                if value is not None:
                    yield model._meta.db_table, str(value)


def test_only_the_sha256_of_the_secret_is_stored(client, org, owner):
    # Through the page, as people create them, and through the service.
    client.force_login(owner.user)
    response = client.post(
        reverse("accounts:tokens", args=[org.slug]),
        {"name": "deploy", "scopes": [Scope.MEMBERS_READ]},
    )
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    api_token = ApiToken.objects.get(name="deploy")
    page = response.content.decode()
    start = page.index(f"hip_{api_token.prefix}_")
    raw = page[start : start + len(f"hip_{api_token.prefix}_") + 43]
    assert client.get(MEMBERS, **bearer(raw)).status_code == 200

    other, other_raw = make_token(org, owner.user)
    for stored, secret in ((api_token, raw), (other, other_raw)):
        stored.refresh_from_db()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        # The secret itself may contain "_": cut at the known prefix instead.
        secret_part = secret[len(f"hip_{stored.prefix}_") :]
        assert len(secret_part) == 43
        for table, value in _every_stored_value():
            assert secret_part not in value, f"the secret is stored in {table}"


# --------------------------------------------------------------------------
# Auditor grants
# --------------------------------------------------------------------------

GRANTS = "/api/v1/auditor-grants/"


@pytest.fixture
def writer(org, owner):
    _, raw = make_token(
        org, owner.user, scopes=[Scope.AUDITORS_WRITE, Scope.AUDITORS_READ]
    )
    return raw


def grant_body(**overrides) -> dict:
    body = {
        "email": "ext@audit.example",
        "window_start": "2026-01-01",
        "window_end": "2026-03-31",
        "access_expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _missing_all():
    return {}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (
            _missing_all,
            {"email", "window_start", "window_end", "access_expires_at"},
        ),
        (lambda: grant_body(email=None), {"email"}),
        (
            lambda: grant_body(window_start=None, window_end=None),
            {"window_start", "window_end"},
        ),
        (lambda: grant_body(email="not-an-email"), {"email"}),
        (lambda: grant_body(window_start="2026-13-45"), {"window_start"}),
        (
            lambda: grant_body(window_start="2026-03-31", window_end="2026-01-01"),
            {"window_end"},
        ),
        (
            lambda: grant_body(
                access_expires_at=(timezone.now() - timedelta(minutes=1)).isoformat()
            ),
            {"access_expires_at"},
        ),
        (
            lambda: grant_body(
                window_end="2025-12-31",
                access_expires_at=(timezone.now() - timedelta(days=1)).isoformat(),
            ),
            {"window_end", "access_expires_at"},
        ),
    ],
    ids=[
        "missing-all",
        "missing-email",
        "missing-window",
        "invalid-email",
        "invalid-date",
        "window-reversed",
        "expiry-in-past",
        "two-errors-at-once",
    ],
)
def test_bad_grant_is_400_with_field_errors_and_writes_nothing(
    client, writer, body, fields
):
    events = AuditEvent.objects.count()
    response = client.post(
        GRANTS, body(), content_type="application/json", **bearer(writer)
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == fields
    assert all(isinstance(errors[f], list) and errors[f] for f in fields)
    assert not AuditorGrant.objects.exists()
    assert AuditEvent.objects.count() == events


def test_grant_for_a_member_is_400(client, writer, member):
    events = AuditEvent.objects.count()
    response = client.post(
        GRANTS,
        grant_body(email=member.user.email.upper()),
        content_type="application/json",
        **bearer(writer),
    )
    assert response.status_code == 400
    assert list(response.json()) == ["email"]
    assert "is a member" in response.json()["email"][0]
    assert not AuditorGrant.objects.exists()
    assert AuditEvent.objects.count() == events


def test_good_grant_is_201_and_audited(client, writer, org, owner):
    response = client.post(
        GRANTS,
        grant_body(email="Ext@Audit.Example"),
        content_type="application/json",
        **bearer(writer),
    )
    assert response.status_code == 201
    data = response.json()
    grant = AuditorGrant.objects.get()
    assert data["id"] == grant.pk
    assert data["email"] == "ext@audit.example"
    assert data["status"] == "active"
    assert grant.org == org
    assert grant.created_by == owner.user
    event = AuditEvent.objects.get(action=AuditEvent.Action.AUDITOR_GRANTED)
    assert event.org == org
    assert event.actor == owner.user
    assert event.target_id == str(grant.pk)
    assert event.details["email"] == "ext@audit.example"
    assert event.ip == "127.0.0.1"
    # And it is listed.
    listed = client.get(GRANTS, **bearer(writer)).json()["results"]
    assert [g["id"] for g in listed] == [grant.pk]


def test_revoking_twice_is_400_the_second_time(client, writer, org, owner):
    grant = AuditorGrantFactory(org=org, created_by=owner.user)
    url = f"{GRANTS}{grant.pk}/revoke/"
    first = client.post(url, **bearer(writer))
    assert first.status_code == 200
    assert first.json()["status"] == "revoked"
    revoked_at = AuditorGrant.objects.get(pk=grant.pk).revoked_at
    assert revoked_at is not None
    events = AuditEvent.objects.filter(action=AuditEvent.Action.AUDITOR_REVOKED)
    assert events.count() == 1

    second = client.post(url, **bearer(writer))
    assert second.status_code == 400
    assert second.json() == {"detail": ["This grant is already revoked."]}
    assert AuditorGrant.objects.get(pk=grant.pk).revoked_at == revoked_at
    assert events.count() == 1


def test_revoke_needs_post(client, writer, org, owner):
    grant = AuditorGrantFactory(org=org, created_by=owner.user)
    response = client.get(f"{GRANTS}{grant.pk}/revoke/", **bearer(writer))
    assert response.status_code == 405
    assert AuditorGrant.objects.get(pk=grant.pk).revoked_at is None


# --------------------------------------------------------------------------
# Cursor pagination
# --------------------------------------------------------------------------


@pytest.fixture
def many_events(org, owner):
    for i in range(230):
        audit_record(
            action=AuditEvent.Action.ORG_UPDATED,
            actor=owner.user,
            org=org,
            details={"i": i},
        )
    _, raw = make_token(org, owner.user, scopes=[Scope.AUDIT_READ])
    return raw


def test_default_page_is_50_newest_first(client, many_events, org):
    data = client.get("/api/v1/audit-events/", **bearer(many_events)).json()
    ids = [e["id"] for e in data["results"]]
    assert len(ids) == 50
    assert ids == sorted(ids, reverse=True)
    assert ids[0] == AuditEvent.objects.for_org(org).latest("id").id
    assert data["previous"] is None
    assert data["next"]


def test_page_size_is_capped_at_200_and_next_link_walks_the_rest(
    client, many_events, org
):
    expected = list(
        AuditEvent.objects.for_org(org).order_by("-id").values_list("id", flat=True)
    )
    assert len(expected) > 200
    response = client.get(
        "/api/v1/audit-events/", {"page_size": 1000}, **bearer(many_events)
    )
    data = response.json()
    assert len(data["results"]) == 200
    seen = [e["id"] for e in data["results"]]
    pages = 1
    next_url = data["next"]
    while next_url:
        assert next_url.startswith("http://testserver/api/v1/audit-events/?")
        data = client.get(next_url, **bearer(many_events)).json()
        seen += [e["id"] for e in data["results"]]
        assert data["previous"]
        next_url = data["next"]
        pages += 1
    assert pages == 2
    assert seen == expected


def test_small_page_size_is_honoured(client, many_events):
    data = client.get(
        "/api/v1/audit-events/", {"page_size": 7}, **bearer(many_events)
    ).json()
    assert len(data["results"]) == 7
    following = client.get(data["next"], **bearer(many_events)).json()
    assert len(following["results"]) == 7
    assert following["results"][0]["id"] < data["results"][-1]["id"]


def test_a_tampered_cursor_is_404_not_500(client, many_events):
    response = client.get(
        "/api/v1/audit-events/", {"cursor": "garbage"}, **bearer(many_events)
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "Invalid cursor"


# --------------------------------------------------------------------------
# The OpenAPI schema
# --------------------------------------------------------------------------


def test_schema_renders_and_lists_every_endpoint(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    assert set(paths) == {
        "/api/v1/org/current/",
        "/api/v1/members/",
        "/api/v1/members/{id}/",
        "/api/v1/audit-events/",
        "/api/v1/audit-events/{id}/",
        "/api/v1/auditor-grants/",
        "/api/v1/auditor-grants/{id}/",
        "/api/v1/auditor-grants/{id}/revoke/",
        "/api/v1/tokens/",
        "/api/v1/tokens/{id}/",
        "/api/v1/customizations/",
        "/api/v1/customizations/{id}/",
        "/api/v1/customizations/{id}/archive/",
        "/api/v1/sla/clocks/",
        "/api/v1/sla/clocks/{id}/",
        "/api/v1/sla/clocks/{id}/evaluate/",
        "/api/v1/fedramp/documents/",
        "/api/v1/fedramp/documents/{id}/",
        "/api/v1/fedramp/profile/",
        "/api/v1/fedramp/exposures/",
        "/api/v1/sla/metrics/",
        "/api/v1/fips/modules/",
        "/api/v1/reports/",
        "/api/v1/reports/{id}/",
        "/api/v1/reports/{id}/download/",
        "/api/v1/registry/pulls/",
        "/api/v1/registry/images/",
        "/api/v1/sla/waivers/",
        "/api/v1/sla/waivers/{id}/",
        # The public catalog (tests/catalog/test_api.py).
        "/api/v1/repositories/",
        "/api/v1/repositories/{name}/",
        "/api/v1/repositories/{name}/openvex/",
        "/api/v1/series/",
        "/api/v1/series/{id}/",
        "/api/v1/digests/",
        "/api/v1/digests/{digest}/",
        "/api/v1/digests/{digest}/openvex/",
        "/api/v1/digests/{digest}/cyclonedx-vex/",
        "/api/v1/digests/{digest}/stig/",
        "/api/v1/components/",
        "/api/v1/components/{id}/",
        "/api/v1/vulnerabilities/",
        "/api/v1/vulnerabilities/{vuln_id}/",
        "/api/v1/findings/",
        "/api/v1/findings/{id}/",
        "/api/v1/vex-statements/",
        "/api/v1/vex-statements/{id}/",
        # Publisher staff load evidence (tests/catalog/test_ingest_door.py)
        # and register builds (tests/catalog/test_build_register.py).
        "/api/v1/evidence/",
        "/api/v1/builds/",
    }
    assert set(paths["/api/v1/auditor-grants/"]) == {"get", "post"}
    assert set(paths["/api/v1/auditor-grants/{id}/revoke/"]) == {"post"}
    assert set(paths["/api/v1/members/"]) == {"get"}
    assert schema["components"]["securitySchemes"]["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "hip_<id>_<secret>",
    }
    # The default (YAML) rendering works too.
    default = client.get("/api/v1/schema/")
    assert default.status_code == 200
    assert b"/api/v1/auditor-grants/{id}/revoke/" in default.content


# --------------------------------------------------------------------------
# Deny by default: methods no action serves
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_unserved_methods_are_405_and_change_nothing(client, org, owner, method):
    _, raw = make_token(
        org, owner.user, scopes=[s for s in Scope.values if s != Scope.CATALOG_WRITE]
    )
    grant = AuditorGrantFactory(org=org, created_by=owner.user)
    api_token = ApiToken.objects.for_org(org).get()
    urls = [
        f"{MEMBERS}{owner.pk}/",
        f"/api/v1/tokens/{api_token.pk}/",
        f"{GRANTS}{grant.pk}/",
        f"{GRANTS}{grant.pk}/revoke/",
        "/api/v1/audit-events/",
        "/api/v1/org/current/",
    ]
    for url in urls:
        response = getattr(client, method)(
            url, {}, content_type="application/json", **bearer(raw)
        )
        assert response.status_code == 405, url
        assert response.json()["detail"] == f'Method "{method.upper()}" not allowed.'
    assert Membership.objects.filter(pk=owner.pk, role="owner").exists()
    api_token.refresh_from_db()
    assert api_token.revoked_at is None
    grant.refresh_from_db()
    assert grant.revoked_at is None
    # Without a token the answer is still 401: authentication comes first.
    assert getattr(client, method)(urls[0]).status_code == 401


@pytest.mark.django_db
def test_token_of_a_deactivated_person_stops_working(client):
    from apps.accounts.services import api_token_create
    from tests.factories import MembershipFactory

    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert client.get("/api/v1/org/current/", **auth).status_code == 200
    owner.user.is_active = False
    owner.user.save()
    assert client.get("/api/v1/org/current/", **auth).status_code == 401


@pytest.mark.django_db
def test_requests_beyond_the_token_rate_are_throttled(client, monkeypatch):
    from apps.accounts.services import api_token_create
    from apps.api.throttling import TokenRateThrottle
    from tests.factories import MembershipFactory

    monkeypatch.setattr(TokenRateThrottle, "rate", "3/min", raising=False)
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    statuses = [
        client.get("/api/v1/org/current/", **auth).status_code for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.django_db
def test_the_rate_is_counted_per_window_and_retry_after_says_when_it_ends(
    client, monkeypatch
):
    import math

    from apps.api.throttling import TokenRateThrottle

    monkeypatch.setattr(TokenRateThrottle, "rate", "2/min", raising=False)
    now = [6000.0 + 50]  # 50 s into a minute
    monkeypatch.setattr(TokenRateThrottle, "timer", lambda self: now[0])
    statuses = [client.get("/api/v1/repositories/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = client.get("/api/v1/repositories/")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(math.ceil(10))
    now[0] += 10  # the next minute: a fresh allowance
    assert client.get("/api/v1/repositories/").status_code == 200
