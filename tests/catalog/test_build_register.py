"""Registering a build: one service (catalog.services.build_register) behind
three doors, the staff page, ``POST /api/v1/builds/`` and ``manage.py
register_build``. Each refuses bad input with a clear error and writes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import ImageDigest, Repository, Series, TagEvent, Variant
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _token(*, staff: bool = True, scopes=(ApiToken.Scope.CATALOG_WRITE,)) -> dict:
    owner = MembershipFactory(role="owner")
    maker = UserFactory(is_staff=True)
    _, raw = api_token_create(
        org=owner.org,
        name="pipeline",
        scopes=list(scopes),
        expires_at=None,
        actor=maker,
    )
    if not staff:
        # Its maker has left the publisher's staff since.
        maker.is_staff = False
        maker.save(update_fields=["is_staff"])
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _written() -> tuple:
    return (
        Repository.objects.count(),
        Series.objects.count(),
        Variant.objects.count(),
        ImageDigest.objects.count(),
        TagEvent.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.BUILD_REGISTERED).count(),
    )


def _body(**changes) -> dict:
    body = {
        "repository": "python",
        "series": "3.12",
        "digest": DIGEST,
        "built_at": "2026-12-07T08:00:00Z",
        "flavor": "dev",
        "fips": True,
        "tags": ["3.12-dev-fips"],
        "architectures": ["amd64", "arm64"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def _post(client, body, headers):
    return client.post(
        "/api/v1/builds/", body, content_type="application/json", **headers
    )


# --- the API -------------------------------------------------------------------


def test_the_api_registers_a_build_then_answers_200_moving_only_tags(client):
    headers = _token()
    response = _post(client, _body(), headers)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True
    assert (body["repository"], body["series"], body["variant"]) == (
        "python",
        "3.12",
        "python:3.12-dev-fips",
    )
    assert body["tags_moved"] == ["3.12-dev-fips"]
    assert body["url"].endswith(f"/catalog/digest/{DIGEST}/")
    image = ImageDigest.objects.get(digest=DIGEST)
    assert image.built_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert image.architectures == ["amd64", "arm64"]
    event = AuditEvent.objects.get(action=AuditEvent.Action.BUILD_REGISTERED)
    assert (event.details["via"], event.details["created"]) == ("api", True)

    # Again, with another tag and another time: only the tag is new.
    again = _post(
        client, _body(tags=["3.12-dev-fips", "latest-dev-fips"], built_at=None)
        | {"built_at": "2026-12-07T08:30:00Z"}, headers,
    )  # fmt: skip
    assert again.status_code == 200, again.content
    assert again.json()["created"] is False
    assert again.json()["tags_moved"] == ["latest-dev-fips"]
    image.refresh_from_db()
    assert image.built_at == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    before = _written()
    # The same tags again: nothing at all changes, not even the audit log.
    assert _post(client, _body(tags=["latest-dev-fips"]), headers).status_code == 200
    assert _written() == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"digest": "sha256:nothex"}, "digest", "Not a sha256 digest"),
        ({"flavor": "slim"}, "flavor", "not a valid choice"),
        ({"built_at": "2026-12-07T08:00:00"}, "built_at", "time zone"),
        ({"built_at": "yesterday"}, "built_at", "ISO 8601"),
        ({"built_at": "2026-12-07T10:00:00Z"}, "built_at", "in the future"),
        ({"repository": "Python 3"}, "repository", "lowercase"),
        ({"repository": "digest"}, "repository", "reserved"),
        ({"series": ""}, "series", "blank"),
        ({"tags": ["bad tag"]}, "tags", "Not a valid tag"),
        ({"architectures": ["vax"]}, "architectures", "Unknown architecture"),
        ({"repository": None}, "repository", "required"),
        ({"digest": None}, "digest", "required"),
        ({"built_at": None}, "built_at", "required"),
    ],
)
def test_the_api_refuses_bad_input_and_writes_nothing(client, changes, field, message):
    headers = _token()
    before = _written()
    response = _post(client, _body(**changes), headers)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field])
    assert _written() == before


def test_a_digest_registered_to_another_variant_is_refused_everywhere(client):
    headers = _token()
    assert _post(client, _body(), headers).status_code == 201
    before = _written()
    for changes in ({"fips": False}, {"series": "3.13"}, {"repository": "node"}):
        response = _post(client, _body(**changes), headers)
        assert response.status_code == 400
        assert (
            "already registered for python:3.12-dev-fips"
            in response.json()["digest"][0]
        )
    assert _written() == before
    assert not Series.objects.filter(name="3.13").exists()
    assert not Repository.objects.filter(name="node").exists()


def test_the_api_takes_only_a_staff_token_with_catalog_write(client):
    before = _written()
    assert _post(client, _body(), {}).status_code == 401
    customer = MembershipFactory(role="owner")
    client.force_login(customer.user)  # a browser session is no API credential
    assert _post(client, _body(), {}).status_code == 401
    client.logout()
    # catalog:write made by someone no longer staff; a token without the scope.
    assert _post(client, _body(), _token(staff=False)).status_code == 403
    assert _post(client, _body(), _token(scopes=["org:read"])).status_code == 403
    assert _written() == before


# --- the staff page --------------------------------------------------------------


def _form(**changes) -> dict:
    form = {
        "repository": "python",
        "category": "language",
        "series": "3.12",
        "flavor": "runtime",
        "digest": DIGEST,
        "built_at": "2026-12-07T08:00:00Z",
        "tags": "3.12, latest",
        "architectures": "",
    }
    form.update(changes)
    return form


def test_the_staff_page_registers_a_build_and_says_when_it_was_there(client):
    assert client.get("/staff/builds/").status_code == 302  # to the login
    client.force_login(UserFactory())
    assert client.get("/staff/builds/").status_code == 403
    assert client.post("/staff/builds/", _form()).status_code == 403
    assert not ImageDigest.objects.exists()

    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get("/staff/builds/").status_code == 200
    response = client.post("/staff/builds/", _form(), follow=True)
    assert response.redirect_chain[-1][0] == f"/catalog/digest/{DIGEST}/"
    assert "Registered python:3.12" in response.content.decode()
    image = ImageDigest.objects.get()
    assert image.architectures == ["amd64"]
    assert set(TagEvent.objects.values_list("tag", flat=True)) == {"3.12", "latest"}
    event = AuditEvent.objects.get(action=AuditEvent.Action.BUILD_REGISTERED)
    assert (event.actor, event.details["via"]) == (staff, "staff page")

    again = client.post("/staff/builds/", _form(tags="latest"), follow=True)
    assert "was registered before" in again.content.decode()
    assert ImageDigest.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"digest": "abc"}, "Not a sha256 digest"),
        ({"flavor": "slim"}, "Select a valid choice"),
        ({"built_at": "2026-12-07 08:00"}, "needs a time zone"),
        ({"built_at": "2027-01-01T00:00:00Z"}, "in the future"),
        ({"repository": ""}, "This field is required"),
        ({"tags": "ok bad/tag"}, "Not a valid tag"),
    ],
)
def test_the_staff_page_refuses_bad_input_and_writes_nothing(client, changes, message):
    client.force_login(UserFactory(is_staff=True))
    before = _written()
    response = client.post("/staff/builds/", _form(**changes))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert _written() == before


# --- the command ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("python", "3.12", DIGEST, "--built-at", "2026-12-08T00:00:00Z"), "future"),
        (("python", "3.12", DIGEST, "--arch", "vax"), "Unknown architecture"),
        (("python", "3.12", DIGEST, "--tag", "no spaces"), "Not a valid tag"),
        (("Python", "3.12", DIGEST), "lowercase"),
    ],
)
def test_the_command_refuses_what_the_other_doors_refuse(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("register_build", *args)
    assert _written() == (0, 0, 0, 0, 0, 0)


def test_the_command_says_when_the_build_was_registered_before(capsys):
    call_command("register_build", "python", "3.12", DIGEST, "--tag", "3.12")
    call_command("register_build", "python", "3.12", DIGEST, "--tag", "latest")
    out = capsys.readouterr().out
    assert "was registered before; tags moved to it: latest." in out
    event = AuditEvent.objects.filter(action=AuditEvent.Action.BUILD_REGISTERED)
    assert [e.details["created"] for e in event.order_by("id")] == [True, False]


def test_a_build_time_within_the_clock_skew_is_accepted(client):
    ahead = (NOW + timedelta(minutes=4)).isoformat()
    assert _post(client, _body(built_at=ahead), _token()).status_code == 201


def test_the_staff_page_shows_every_problem_at_once(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.post(
        "/staff/builds/",
        _form(digest="sha256:1234", built_at="2026-12-07 08:00", tags="1 bad/tag"),
    )
    assert response.status_code == 400
    page = response.content.decode()
    for message in ("Not a sha256 digest", "needs a time zone", "Not a valid tag"):
        assert message in page
    assert _written() == (0, 0, 0, 0, 0, 0)
