"""The public repository and series answers are cached whole, per URL, and
dropped when the catalog changes, the day changes, or the setting is 0."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.services import api_token_create
from apps.catalog.generation import catalog_changed, catalog_generation
from apps.catalog.models import Series
from tests.factories import MembershipFactory, UserFactory

from . import builders as b

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.API_CATALOG_CACHE_SECONDS = 300


@pytest.fixture
def api():
    return Client()


def fetch(client, path, **extra):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{API}{path}", **extra)
    return response, len(ctx.captured_queries)


def names(response) -> list[str]:
    return [row["name"] for row in response.json()["results"]]


def test_a_second_read_is_served_without_the_database(api):
    b.series(b.repository("python"), "3.12")
    first, first_queries = fetch(api, "/repositories/")
    second, second_queries = fetch(api, "/repositories/")
    assert first_queries >= 1
    assert second_queries == 0
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "path", ["/repositories/", "/series/", "/repositories/python/"]
)
def test_every_catalog_write_is_seen_at_once(api, path):
    repo = b.repository("python", description="Before")
    s = b.series(repo, "3.12", support=400)
    fetch(api, path)
    assert fetch(api, path)[1] == 0  # cached

    b.repository("python", description="After")
    response, queries = fetch(api, path)
    assert queries >= 1
    assert b"After" in response.content or path == "/series/"

    b.series(repo, "3.13", support=500)
    response, _ = fetch(api, path)
    assert b'"3.13"' in response.content or path == "/repositories/"

    b.build(s, fips=True)  # a new FIPS variant
    response, _ = fetch(api, path)
    assert b'"fips":true' in response.content or b'"has_fips":true' in response.content


def test_a_build_of_an_existing_variant_keeps_the_cache(api):
    s = b.series(b.repository("python"), "3.12")
    b.build(s)
    fetch(api, "/repositories/")
    b.build(s)  # digests are not in these answers
    assert fetch(api, "/repositories/")[1] == 0


def test_the_generation_changes_again_after_commit(django_capture_on_commit_callbacks):
    before = catalog_generation()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        catalog_changed()
    during = catalog_generation()
    assert during != before
    assert len(callbacks) == 1
    callbacks[0]()
    assert catalog_generation() not in (before, during)


def test_each_query_string_and_host_has_its_own_answer(api):
    for i in range(3):
        b.repository(f"repo-{i}")
    assert names(fetch(api, "/repositories/")[0]) == ["repo-0", "repo-1", "repo-2"]
    assert names(fetch(api, "/repositories/", data={"q": "repo-1"})[0]) == ["repo-1"]
    paged = fetch(api, "/repositories/", data={"page_size": 1})[0].json()
    assert paged["next"].startswith("http://testserver/")
    other = api.get(f"{API}/repositories/", {"page_size": 1}, HTTP_HOST="localhost")
    assert other.json()["next"].startswith("http://localhost/")
    assert other.json()["results"][0]["page"].startswith("http://localhost/")


def test_refusals_are_not_cached_and_credentials_are_still_checked(api):
    b.repository("python")
    for _ in range(2):
        bad = api.get(f"{API}/repositories/", {"colour": "red"})
        assert bad.status_code == 400
        assert "colour" in bad.json()
    assert api.get(f"{API}/repositories/nope/").status_code == 404
    b.repository("nope")
    assert api.get(f"{API}/repositories/nope/").status_code == 200

    assert fetch(api, "/repositories/")[0].status_code == 200
    # Served from the cache for anyone, but a bad token is still refused.
    response = api.get(f"{API}/repositories/", HTTP_AUTHORIZATION="Bearer hip_bad")
    assert response.status_code == 401
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    good = api.get(f"{API}/repositories/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert good.status_code == 200
    assert names(good) == ["nope", "python"]


def test_the_status_of_today_is_not_served_tomorrow(api, monkeypatch):
    b.series(b.repository("python"), "3.12", support=0)  # support ends today
    today = fetch(api, "/series/")[0].json()["results"][0]["status"]
    later = timezone.now() + timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    tomorrow, queries = fetch(api, "/series/")
    assert queries >= 1
    row = tomorrow.json()["results"][0]
    assert row["status"] != today
    assert row["status"] == Series.objects.get().status_on(later.date())


def test_zero_turns_the_cache_off(api, settings):
    settings.API_CATALOG_CACHE_SECONDS = 0
    b.repository("python")
    fetch(api, "/repositories/")
    assert fetch(api, "/repositories/")[1] >= 1


def test_answers_that_depend_on_the_caller_are_never_cached(api):
    image = b.build(b.series(b.repository("python"), "3.12"))
    fetch(api, "/digests/")
    assert fetch(api, "/digests/")[1] >= 1
    fetch(api, f"/digests/{image.digest}/")
    assert fetch(api, f"/digests/{image.digest}/")[1] >= 1


def test_staff_edits_in_the_admin_are_seen_at_once(api):
    repo = b.repository("python")
    s = b.series(repo, "3.12", support=-30, els=300)
    assert fetch(api, "/repositories/")[0].json()["results"][0]["has_els"] is True
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    answer = staff.post(f"/admin/catalog/series/{s.pk}/delete/", {"post": "yes"})
    assert answer.status_code == 302
    response, queries = fetch(api, "/repositories/")
    assert queries >= 1
    assert response.json()["results"][0]["has_els"] is False
