"""FIPS and STIG evidence: downloadable by staff and by organizations holding
the entitlement (members, auditors, API tokens); everyone else is refused.
Evidence of other builds stays public."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.entitlements.services import entitlement_end, entitlement_grant_contract
from apps.evidence.access import evidence_access
from apps.orgs.models import Role
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import (
    AuditorGrantFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

from . import builders as b

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action
Scope = ApiToken.Scope


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()


@pytest.fixture
def python():
    return b.repository("python")


@pytest.fixture
def builds(python):
    s = b.series(python, "3.12")
    return {
        "plain": b.build(s),
        "fips": b.build(s, fips=True),
        "stig": b.build(s, stig=True),
        "both": b.build(s, fips=True, stig=True),
    }


@pytest.fixture
def evidence(builds):
    return {
        name: b.sbom(image, content=b'{"build": "%s"}' % name.encode(), kind="fips")
        for name, image in builds.items()
    }


@pytest.fixture
def acme():
    return OrganizationFactory(name="Acme", slug="acme", features=())


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


def _url(attestation) -> str:
    return reverse("catalog:attestation_download", args=[attestation.pk])


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _member(org, role=Role.MEMBER):
    return MembershipFactory(org=org, role=role).user


def _downloads():
    return list(
        AuditEvent.objects.filter(action=Action.EVIDENCE_DOWNLOADED).order_by("id")
    )


def _assert_served(response, attestation) -> None:
    assert response.status_code == 200, response.content[:300]
    assert b"".join(response.streaming_content) == attestation.document.open().read()
    assert response["Cache-Control"] == "private, no-store"


def _assert_refused_page(response, label: str) -> None:
    assert response.status_code == 403
    page = response.content.decode()
    assert f"needs the {label} entitlement" in page
    assert 'href="/pricing/"' in page


# --- who may download -------------------------------------------------------------


def test_member_of_an_entitled_org_downloads_and_it_is_logged(acme, evidence):
    entitle(acme, "fips")
    person = _member(acme)
    attestation = evidence["fips"]

    _assert_served(_client(person).get(_url(attestation)), attestation)

    (event,) = _downloads()
    assert event.org == acme
    assert event.actor == person
    assert event.target_id == str(attestation.pk)
    assert event.details["entitlements"] == ["fips"]
    assert event.details["via"] == "member"
    assert event.details["digest"] == attestation.digest.digest


def test_member_of_an_unentitled_org_is_refused(acme, evidence):
    entitle(acme, "stig")  # STIG is not FIPS
    person = _member(acme, Role.OWNER)
    response = _client(person).get(_url(evidence["fips"]))
    _assert_refused_page(response, "FIPS")
    assert _downloads() == []


def test_an_ended_entitlement_no_longer_allows(acme, evidence, staff):
    person = _member(acme)
    grant = entitlement_grant_contract(
        org=acme,
        feature="fips",
        reference="C-1",
        starts_at=timezone.now() - timedelta(days=10),
        ends_at=None,
        actor=staff,
    )
    assert _client(person).get(_url(evidence["fips"])).status_code == 200

    entitlement_end(entitlement=grant, at=timezone.now(), actor=staff, reason="Churn")

    _assert_refused_page(_client(person).get(_url(evidence["fips"])), "FIPS")
    assert len(_downloads()) == 1


def test_an_entitlement_scoped_to_another_repository_does_not_allow(
    acme, evidence, staff
):
    nginx = b.repository("nginx")
    entitlement_grant_contract(
        org=acme,
        feature="fips",
        repository=nginx,
        reference="C-2",
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=None,
        actor=staff,
    )
    person = _member(acme)
    _assert_refused_page(_client(person).get(_url(evidence["fips"])), "FIPS")


def test_an_entitlement_scoped_to_this_repository_allows(acme, evidence, python):
    entitle(acme, "fips", repository=python)
    person = _member(acme)
    _assert_served(_client(person).get(_url(evidence["fips"])), evidence["fips"])


def test_a_fips_and_stig_variant_needs_both(acme, evidence):
    entitle(acme, "fips")
    person = _member(acme)
    _assert_refused_page(_client(person).get(_url(evidence["both"])), "FIPS and STIG")
    entitle(acme, "stig")
    _assert_served(_client(person).get(_url(evidence["both"])), evidence["both"])
    assert _downloads()[-1].details["entitlements"] == ["fips", "stig"]


def test_stig_evidence_needs_stig(acme, evidence):
    entitle(acme, "fips")
    person = _member(acme)
    _assert_refused_page(_client(person).get(_url(evidence["stig"])), "STIG")


def test_membership_in_another_org_is_what_allows(acme, evidence):
    """A person in two organizations is allowed by the entitled one's entitlement."""
    entitle(acme, "fips")
    globex = OrganizationFactory(name="Globex", slug="globex", features=())
    person = _member(globex)
    MembershipFactory(org=acme, user=person)
    _assert_served(_client(person).get(_url(evidence["fips"])), evidence["fips"])
    assert _downloads()[-1].org == acme


def test_auditor_with_a_live_grant_downloads(acme, evidence):
    entitle(acme, "fips")
    auditor = UserFactory(email="eve@audit.example")
    AuditorGrantFactory(org=acme, email="Eve@audit.example")
    _assert_served(_client(auditor).get(_url(evidence["fips"])), evidence["fips"])
    (event,) = _downloads()
    assert event.org == acme
    assert event.details["via"] == "auditor"


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_auditor_outside_the_grant_is_refused(acme, evidence, state):
    entitle(acme, "fips")
    auditor = UserFactory(email="eve@audit.example")
    hour_ago = timezone.now() - timedelta(hours=1)
    if state == "expired":
        AuditorGrantFactory(org=acme, email=auditor.email, access_expires_at=hour_ago)
    else:
        AuditorGrantFactory(org=acme, email=auditor.email, revoked_at=hour_ago)
    _assert_refused_page(_client(auditor).get(_url(evidence["fips"])), "FIPS")


def test_auditor_of_an_unentitled_org_is_refused(acme, evidence):
    auditor = UserFactory(email="eve@audit.example")
    AuditorGrantFactory(org=acme, email=auditor.email)
    _assert_refused_page(_client(auditor).get(_url(evidence["fips"])), "FIPS")


def test_staff_download_anything_and_are_logged_without_an_org(evidence, staff):
    for name in ("fips", "stig", "both"):
        _assert_served(_client(staff).get(_url(evidence[name])), evidence[name])
    events = _downloads()
    assert [e.org for e in events] == [None, None, None]
    assert {e.details["via"] for e in events} == {"staff"}


def test_anonymous_browser_is_sent_to_sign_in(evidence):
    url = _url(evidence["fips"])
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


def test_anonymous_json_client_gets_a_403_naming_the_entitlement(evidence):
    response = Client().get(_url(evidence["stig"]), HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    body = response.json()
    assert body["entitlements"] == ["stig"]
    assert body["pricing"] == "http://testserver/pricing/"
    assert "STIG" in body["detail"]


def test_other_evidence_stays_public_and_is_not_logged(evidence):
    response = Client().get(_url(evidence["plain"]))
    assert response.status_code == 200
    assert "Cache-Control" not in response
    assert _downloads() == []


# --- API tokens -----------------------------------------------------------------


def _bearer(org, scopes, **kwargs) -> dict:
    creator = MembershipFactory(org=org, role=Role.OWNER).user
    _, raw = api_token_create(
        org=org, name="ci", scopes=scopes, expires_at=None, actor=creator, **kwargs
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_token_of_an_entitled_org_downloads(acme, evidence):
    entitle(acme, "fips")
    response = Client().get(
        _url(evidence["fips"]), **_bearer(acme, [Scope.EVIDENCE_READ])
    )
    _assert_served(response, evidence["fips"])
    (event,) = _downloads()
    assert event.org == acme
    assert event.details["via"] == "token"


def test_token_of_an_unentitled_org_gets_json_403(acme, evidence):
    entitle(acme, "fips")
    globex = OrganizationFactory(name="Globex", slug="globex", features=())
    response = Client().get(
        _url(evidence["fips"]), **_bearer(globex, [Scope.EVIDENCE_READ])
    )
    assert response.status_code == 403
    assert response.json()["entitlements"] == ["fips"]
    assert response.json()["pricing"].endswith("/pricing/")
    assert _downloads() == []


def test_token_uses_its_own_org_not_its_creators_memberships(acme, evidence):
    """A token speaks for its organization only, even if its creator belongs to
    an entitled one as well."""
    entitle(acme, "fips")
    globex = OrganizationFactory(name="Globex", slug="globex", features=())
    headers = _bearer(globex, [Scope.EVIDENCE_READ])
    token = ApiToken.objects.get(org=globex)
    MembershipFactory(org=acme, user=token.created_by)
    assert Client().get(_url(evidence["fips"]), **headers).status_code == 403


def test_token_without_the_evidence_scope_is_refused(acme, evidence):
    entitle(acme, "fips")
    response = Client().get(_url(evidence["fips"]), **_bearer(acme, [Scope.ORG_READ]))
    assert response.status_code == 403
    assert "evidence:read" in response.json()["detail"]


@pytest.mark.parametrize(
    "header", ["Bearer hip_nope_nope", "Basic dXNlcjpwYXNz", "Bearer"]
)
def test_bad_token_is_401(evidence, header):
    response = Client().get(_url(evidence["fips"]), HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()


# --- the one decision -------------------------------------------------------------


def test_the_selector_answers_for_a_past_moment(acme, builds):
    entitle(
        acme,
        "fips",
        starts_at=timezone.now() - timedelta(days=10),
        ends_at=timezone.now() - timedelta(days=5),
    )
    person = _member(acme)
    then = timezone.now() - timedelta(days=7)
    assert evidence_access(image=builds["fips"], user=person, at=then).org == acme
    assert not evidence_access(image=builds["fips"], user=person).allowed
    assert evidence_access(image=builds["plain"], user=None).allowed


# --- the digest page and the API ----------------------------------------------------


def test_digest_page_shows_a_lock_to_the_unentitled(acme, builds, evidence):
    image = builds["fips"]
    page = _client(_member(acme)).get(image.get_absolute_url()).content.decode()
    assert _url(evidence["fips"]) not in page
    assert "needs FIPS entitlement" in page

    entitle(acme, "fips")
    page = _client(_member(acme)).get(image.get_absolute_url()).content.decode()
    assert _url(evidence["fips"]) in page
    assert "needs FIPS entitlement" not in page


def test_digest_page_for_anonymous_offers_sign_in(builds, evidence):
    page = Client().get(builds["stig"].get_absolute_url()).content.decode()
    assert "needs STIG entitlement" in page
    assert _url(evidence["stig"]) not in page
    assert "Sign in</a> to download" in page


def test_digest_page_checks_once_not_per_attestation(acme, builds):
    """The entitlement check costs the same with 2 attestations and with 20."""
    entitle(acme, "fips")
    image = builds["fips"]
    client = _client(_member(acme))
    client.get(image.get_absolute_url())  # warm up the session
    counts = []
    for total in (2, 20):
        while image.attestations.count() < total:
            b.sbom(image, content=b'{"n": %d}' % image.attestations.count())
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(image.get_absolute_url()).content.decode()
        assert page.count("/download/") == total
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_api_says_which_entitlement_and_whether_the_caller_may(acme, builds, evidence):
    image = builds["both"]
    path = f"/api/v1/digests/{image.digest}/"
    (row,) = Client().get(path).json()["attestations"]
    assert row["requires_entitlements"] == ["fips", "stig"]
    assert row["downloadable"] is False
    assert row["download"] == f"http://testserver{_url(evidence['both'])}"

    entitle(acme, "fips", "stig")
    headers = _bearer(acme, [Scope.EVIDENCE_READ])
    (row,) = Client().get(path, **headers).json()["attestations"]
    assert row["downloadable"] is True
    assert Client().get(row["download"], **headers).status_code == 200

    other = _bearer(acme, [Scope.ORG_READ])
    (row,) = Client().get(path, **other).json()["attestations"]
    assert row["downloadable"] is False

    (row,) = (
        Client()
        .get(f"/api/v1/digests/{builds['plain'].digest}/")
        .json()["attestations"]
    )
    assert row["requires_entitlements"] == []
    assert row["downloadable"] is True
