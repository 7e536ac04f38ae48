"""The registry's notifications: authenticated, idempotent by event id, each
pull attributed to the organization the token service granted it to, and
shown where the organization looks: its Registry page ("images you run"),
the API, a clock's timeline and the compliance report's evidence."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import ImageDigest, Variant
from apps.entitlements.models import Mirror
from apps.orgs.models import Role
from apps.registry.formats.events import MAX_EVENTS
from apps.registry.models import PullLogEntry, RegistryEvent
from apps.registry.selectors import digest_pulls, images_run_list
from apps.registry.views import MAX_NOTIFICATION_BYTES
from apps.reports.evidence.compliance import images_pulled
from apps.sla.models import SlaClock
from apps.sla.selectors.clocks import sla_clock_timeline
from apps.sla.services.clocks import sla_clocks_open_for_finding
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.sla import builders as sla_builders
from tests.sla.builders import plan_org

pytestmark = pytest.mark.django_db
SERVICE = "test-registry"
SECRET = "s" * 40
MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.REGISTRY_NOTIFICATIONS_SECRET = SECRET


@pytest.fixture
def world():
    repo = catalog.repository("nginx", category="web")
    line = catalog.series(repo, "1.27", support=300)
    free = catalog.build(line)
    fips = catalog.build(line, fips=True)
    org, other = OrganizationFactory(slug="acme"), OrganizationFactory(slug="umbrella")
    entitle(org, "fips", starts_at=NOW - timedelta(days=365))
    owner = MembershipFactory(org=org, role=Role.OWNER, user=UserFactory()).user
    other_owner = MembershipFactory(org=other, role=Role.OWNER).user
    token, raw = api_token_create(
        org=org,
        name="ci",
        scopes=[ApiToken.Scope.REGISTRY_PULL, ApiToken.Scope.REGISTRY_READ],
        expires_at=None,
        actor=owner,
    )
    return {
        "repo": repo,
        "free": free,
        "fips": fips,
        "org": org,
        "other": other,
        "owner": owner,
        "other_owner": other_owner,
        "token": token,
        "raw": raw,
    }


def _grant(client, token: ApiToken, raw: str, path: str):
    """Ask the token service for a pull, as the registry's client would."""
    auth = "Basic " + base64.b64encode(f"{token.prefix}:{raw}".encode()).decode()
    response = client.get(
        reverse("registry:token"),
        {"service": SERVICE, "scope": f"repository:{path}:pull"},
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200, response.content
    return response


def _event(
    digest: str,
    repository: str,
    *,
    actor: str = "",
    at: datetime = NOW,
    action: str = "pull",
    media_type: str = MANIFEST,
    event_id: str | None = None,
    tag: str = "",
) -> dict:
    return {
        "id": event_id or str(uuid.uuid4()),
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "action": action,
        "target": {
            "mediaType": media_type,
            "size": 1234,
            "digest": digest,
            "length": 1234,
            "repository": repository,
            "url": f"http://registry/v2/{repository}/manifests/{digest}",
            **({"tag": tag} if tag else {}),
        },
        "request": {
            "id": "r1",
            "addr": "10.0.0.5:40122",
            "host": "registry",
            "method": "GET",
            "useragent": "skopeo/1.9.3",
        },
        "actor": {"name": actor} if actor else {},
        "source": {"addr": "registry:5000", "instanceID": "i-1"},
    }


def _post(client, events, *, secret=SECRET, content_type=MEDIA_TYPE, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
    return client.post(
        reverse("registry:notifications"),
        data=body if body is not None else json.dumps({"events": events}),
        content_type=content_type,
        **headers,
    )


def test_a_granted_pull_reported_by_the_registry_shows_where_the_org_looks(
    client, world
):
    org, fips = world["org"], world["fips"]
    with time_machine.travel(NOW - timedelta(seconds=30), tick=False):
        _grant(client, world["token"], world["raw"], "nginx-fips")
    with time_machine.travel(NOW, tick=False):
        response = _post(
            client,
            [
                _event(
                    fips.digest, "nginx-fips", actor=world["token"].prefix, tag="1.27"
                ),
                # The registry also reports each blob fetched: read, not kept.
                _event(
                    "sha256:" + "b" * 64,
                    "nginx-fips",
                    actor=world["token"].prefix,
                    media_type="application/octet-stream",
                ),
            ],
        )
    assert response.status_code == 200
    assert response.json() == {"stored": 1, "duplicates": 0, "ignored": 1}
    event = RegistryEvent.objects.get()
    assert (event.org, event.image, event.tag) == (org, fips, "1.27")

    # The org's Registry page: images you run.
    client.force_login(world["owner"])
    page = client.get(reverse("registry_log:overview", args=[org.slug]))
    text = page.content.decode()
    assert page.status_code == 200
    assert fips.digest[:19] in text
    assert fips.get_absolute_url() in text
    # Another organization's page does not show it.
    client.force_login(world["other_owner"])
    other_page = client.get(reverse("registry_log:overview", args=["umbrella"]))
    assert fips.digest[:19] not in other_page.content.decode()

    # The API, with the org's registry:read token.
    api = client.get(
        "/api/v1/registry/images/", HTTP_AUTHORIZATION=f"Bearer {world['raw']}"
    )
    assert api.status_code == 200
    (row,) = api.json()["results"]
    assert row["digest"] == fips.digest
    assert row["repository"] == "nginx-fips"
    assert row["pulls"] == 1
    assert row["catalog_build"] == str(fips.variant)


def test_a_redelivered_envelope_is_stored_once(client, world):
    with time_machine.travel(NOW - timedelta(seconds=5), tick=False):
        _grant(client, world["token"], world["raw"], "nginx")
    events = [_event(world["free"].digest, "nginx", actor=world["token"].prefix)]
    first = _post(client, events)
    again = _post(client, events)
    assert first.json()["stored"] == 1
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    assert RegistryEvent.objects.count() == 1
    # The same id twice in one envelope is one event too.
    twice = _event(world["free"].digest, "nginx", event_id="dup-1")
    assert _post(client, [twice, twice]).json()["stored"] == 1
    assert RegistryEvent.objects.count() == 2


def test_attribution_needs_a_grant_within_a_token_lifetime(client, world, settings):
    """A pull is the org's only when the pull log holds the grant the
    registry relied on: same account, same path, at most one token lifetime
    (plus clock skew) before the pull."""
    settings.REGISTRY_TOKEN_TTL_SECONDS = 300
    prefix = world["token"].prefix
    with time_machine.travel(NOW - timedelta(seconds=600), tick=False):
        _grant(client, world["token"], world["raw"], "nginx")
    stale = _event(world["free"].digest, "nginx", actor=prefix, event_id="stale")
    anonymous = _event(world["free"].digest, "nginx", event_id="anon")
    other_path = _event(
        world["fips"].digest, "nginx-fips", actor=prefix, event_id="other-path"
    )
    assert _post(client, [stale, anonymous, other_path]).json()["stored"] == 3
    assert set(RegistryEvent.objects.values_list("org", flat=True)) == {None}


def test_a_denied_grant_attributes_nothing(client, world):
    """The pull log row for a refused pull is not a grant."""
    PullLogEntry.objects.create(
        org=world["org"],
        account="mallory",
        repository="nginx-fips",
        requested=["pull"],
        granted=[],
        reason="not entitled",
        created_at=NOW - timedelta(seconds=10),
    )
    _post(client, [_event(world["fips"].digest, "nginx-fips", actor="mallory")])
    assert RegistryEvent.objects.get().org is None


def test_a_mirror_path_belongs_to_its_org(client, world):
    Mirror.objects.create(
        org=world["org"], repository=world["repo"], created_by=world["owner"]
    )
    _post(client, [_event(world["free"].digest, "acme/nginx", actor="anyone")])
    event = RegistryEvent.objects.get()
    assert event.org == world["org"]
    assert event.image == world["free"]


def test_the_clock_timeline_says_when_the_digest_was_pulled(client, world):
    org, fips = plan_org("select"), world["fips"]
    sla_builders.mirror(org, world["repo"])
    finding = sla_builders.finding(fips.variant.series, image=fips)
    sla_clocks_open_for_finding(finding=finding, now=NOW)
    clock = SlaClock.objects.get(org=org, finding=finding)
    keys = [entry.key for entry in sla_clock_timeline(clock)]
    assert "pulled" in keys
    (pulled,) = [e for e in sla_clock_timeline(clock) if e.key == "pulled"]
    assert pulled.at is None
    assert "no pull" in pulled.note

    first, last = NOW - timedelta(days=2), NOW - timedelta(hours=1)
    for at in (first, last):
        RegistryEvent.objects.create(
            event_id=str(uuid.uuid4()),
            action="pull",
            org=org,
            repository="nginx-fips",
            digest=fips.digest,
            image=fips,
            occurred_at=at,
        )
    timeline = {e.key: e for e in sla_clock_timeline(clock)}
    assert timeline["pulled"].at == first
    assert "2 pulls" in timeline["pulled"].note
    assert timeline["pulled_last"].at == last
    # Another org's pulls of the same digest are not this clock's.
    assert digest_pulls(org=world["other"], image_id=fips.pk) is None

    # The customer's clock page shows it.
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    client.force_login(owner)
    page = client.get(reverse("sla:clock_detail", args=[org.slug, clock.pk]))
    assert page.status_code == 200
    assert 'id="event-pulled"' in page.content.decode()
    assert "2 pulls of this digest" in page.content.decode()


def test_the_report_counts_the_window_pulls_only(world):
    org, free = world["org"], world["free"]
    for days in (40, 10, 9):
        RegistryEvent.objects.create(
            event_id=str(uuid.uuid4()),
            action="pull",
            org=org,
            repository="nginx",
            digest=free.digest,
            image=free,
            occurred_at=NOW - timedelta(days=days),
        )
    rows = images_pulled(org, NOW - timedelta(days=30), NOW)
    assert [(r["digest"], r["pulls"]) for r in rows] == [(free.digest, 2)]
    assert rows[0]["image"] == str(free.variant)
    assert images_run_list(org=world["other"]) == []


# --- Bad input at the door: a clear error, nothing stored. ---------------------


@pytest.mark.parametrize(
    ("secret", "status"),
    [("", 401), ("wrong" * 8, 401), (SECRET + "x", 401), ("x" * 2000, 401)],
)
def test_without_the_secret_nothing_is_stored(client, world, secret, status):
    response = _post(client, [_event(world["free"].digest, "nginx")], secret=secret)
    assert response.status_code == status
    assert "Bearer" in response["WWW-Authenticate"]
    assert not RegistryEvent.objects.exists()


def test_the_endpoint_is_off_without_a_secret_or_service(client, world, settings):
    settings.REGISTRY_NOTIFICATIONS_SECRET = ""
    assert _post(client, [], secret="x").status_code == 404
    settings.REGISTRY_NOTIFICATIONS_SECRET = SECRET
    settings.REGISTRY_SERVICE = ""
    assert _post(client, []).status_code == 404


def test_only_post(client):
    response = client.get(
        reverse("registry:notifications"), HTTP_AUTHORIZATION=f"Bearer {SECRET}"
    )
    assert response.status_code == 405


def _bad_events(digest):
    good = _event(digest, "nginx")
    return {
        "not an object": ["x"],
        "no id": [{**good, "id": ""}],
        "long id": [{**good, "id": "i" * 101}],
        "unknown action": [{**good, "action": "steal"}],
        "target not object": [{**good, "target": "x"}],
        "bad repository": [
            {**good, "target": {**good["target"], "repository": "A/../b"}}
        ],
        "bad digest": [{**good, "target": {**good["target"], "digest": "sha256:zz"}}],
        "md5 digest": [
            {**good, "target": {**good["target"], "digest": "md5:" + "a" * 32}}
        ],
        "bad tag": [{**good, "target": {**good["target"], "tag": "-x y"}}],
        "no timestamp": [{**good, "timestamp": None}],
        "naive timestamp": [{**good, "timestamp": "2026-12-01T12:00:00"}],
        "bad timestamp": [{**good, "timestamp": "yesterday"}],
        "actor not object": [{**good, "actor": "root"}],
        "number as text": [{**good, "request": {"addr": 12}}],
        # One bad event refuses the envelope: the good one is not kept either.
        "one bad of two": [good, {**good, "id": "2", "action": "x"}],
    }


def test_malformed_events_are_refused_whole(client, world):
    for name, events in _bad_events(world["free"].digest).items():
        response = _post(client, events)
        assert response.status_code == 400, name
        assert response.json()["errors"][0]["message"], name
        assert not RegistryEvent.objects.exists(), name


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("{not json", MEDIA_TYPE, 400),
        ('{"events": {}}', MEDIA_TYPE, 400),
        ("[]", MEDIA_TYPE, 400),
        ('{"events": []}', "text/plain", 415),
        ('{"events": []}', "application/x-www-form-urlencoded", 415),
        ('{"events": [' + "[" * 500 + "]" * 500 + "]}", MEDIA_TYPE, 400),
        ('{"events": [], "x": "\\u0000"}', MEDIA_TYPE, 400),
        ("\xff\xfe", MEDIA_TYPE, 400),
    ],
)
def test_malformed_envelopes_are_refused(client, body, content_type, status):
    response = _post(client, None, body=body, content_type=content_type)
    assert response.status_code == status
    assert not RegistryEvent.objects.exists()


def test_too_many_events_or_bytes_are_refused(client, world):
    many = [_event(world["free"].digest, "nginx") for _ in range(MAX_EVENTS + 1)]
    assert _post(client, many).status_code == 400
    huge = json.dumps({"events": [], "pad": "x" * (MAX_NOTIFICATION_BYTES + 1)})
    assert _post(client, None, body=huge).status_code == 413
    assert not RegistryEvent.objects.exists()


def test_an_empty_envelope_stores_nothing(client):
    response = _post(client, [])
    assert response.json() == {"stored": 0, "duplicates": 0, "ignored": 0}


def test_the_api_since_filter_and_bad_values(client, world):
    RegistryEvent.objects.create(
        event_id="e1",
        action="pull",
        org=world["org"],
        repository="nginx",
        digest=world["free"].digest,
        image=world["free"],
        occurred_at=NOW - timedelta(days=3),
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['raw']}"}
    url = "/api/v1/registry/images/"
    assert len(client.get(url, **auth).json()["results"]) == 1
    since = (NOW - timedelta(days=1)).isoformat()
    assert client.get(url, {"since": since}, **auth).json()["results"] == []
    for bad in ("yesterday", "2026-13-45T00:00:00Z", "2026-12-01T00:00:00", "9" * 80):
        response = client.get(url, {"since": bad}, **auth)
        assert response.status_code == 400, bad
        assert "since" in response.json()


def test_images_run_are_distinct_per_path_and_digest(world):
    org = world["org"]
    digest = world["free"].digest
    for path, minutes in (("nginx", 1), ("nginx", 2), ("acme/nginx", 3)):
        RegistryEvent.objects.create(
            event_id=str(uuid.uuid4()),
            action="pull",
            org=org,
            repository=path,
            digest=digest,
            image=world["free"],
            occurred_at=NOW - timedelta(minutes=minutes),
        )
    RegistryEvent.objects.create(
        event_id="push-1",
        action="push",
        org=org,
        repository="nginx",
        digest=digest,
        occurred_at=NOW,
    )
    runs = images_run_list(org=org)
    assert [(r.repository, r.pulls) for r in runs] == [("nginx", 2), ("acme/nginx", 1)]
    assert ImageDigest.objects.filter(variant__fips=True).count() == 1
    assert Variant.objects.count() == 2
