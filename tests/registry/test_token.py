"""The registry token endpoint: who gets which actions on which path, the JWT
the registry verifies, the pull log, and bad input at the door."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import jwt
import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create, api_token_revoke
from apps.catalog.models import Variant
from apps.entitlements.models import Entitlement
from apps.orgs.models import Role
from apps.registry.models import PullLogEntry
from apps.registry.services import PRINCIPAL_CACHE_SECONDS
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope
SERVICE = "test-registry"


@pytest.fixture
def nginx():
    repo = catalog.repository("nginx", category="web")
    line = catalog.series(repo, "1.27", support=-10, els=300)
    catalog.build(line)
    catalog.build(line, flavor=Variant.Flavor.DEV)
    catalog.build(line, fips=True)
    catalog.build(line, stig=True)
    return repo


def _member(org, *, role=Role.OWNER, **user_kwargs):
    return MembershipFactory(org=org, role=role, user=UserFactory(**user_kwargs)).user


def _token(org, scopes=(Scope.REGISTRY_PULL,), *, actor=None) -> tuple[ApiToken, str]:
    actor = actor or _member(org)
    return api_token_create(
        org=org, name="ci", scopes=list(scopes), expires_at=None, actor=actor
    )


def _basic(account: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{account}:{secret}".encode()).decode()


def _ask(client, *scopes, auth=None, service=SERVICE):
    params = [("service", service)] + [("scope", s) for s in scopes]
    query = "&".join(f"{k}={v}" for k, v in params)
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.get(f"{reverse('registry:token')}?{query}", **headers)


def _claims(response) -> dict:
    body = response.json()
    assert body["token"] == body["access_token"]
    header = jwt.get_unverified_header(body["token"])
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    return jwt.decode(
        body["token"], cert.public_key(), algorithms=["ES256"], audience=SERVICE
    )


def _granted(response) -> dict[str, list[str]]:
    return {a["name"]: a["actions"] for a in _claims(response)["access"]}


# The JWT itself


def test_the_token_verifies_with_the_jwks_and_with_its_certificate(client, nginx):
    response = _ask(client, "repository:nginx:pull")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 300
    token = body["token"]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"

    keys = client.get(reverse("registry:jwks")).json()
    (jwk,) = keys["keys"]
    public = jwt.PyJWK.from_dict(jwk).key
    claims = jwt.decode(token, public, algorithms=["ES256"], audience=SERVICE)
    assert claims["iss"] == "test-portal"
    assert claims["aud"] == SERVICE
    assert claims["sub"] == ""
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"]
    assert claims["access"] == [
        {"type": "repository", "name": "nginx", "actions": ["pull"]}
    ]
    # The same key signed it: the certificate of x5c verifies it too.
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    assert jwt.decode(token, cert.public_key(), algorithms=["ES256"], audience=SERVICE)
    assert jwk["x5c"] == header["x5c"]


def test_kid_is_libtrusts_key_id_of_the_certificate_key(client, nginx):
    token = _ask(client, "repository:nginx:pull").json()["token"]
    header = jwt.get_unverified_header(token)
    cert = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # 240 bits of SHA-256 are 48 base32 characters without padding.
    chars = base64.b32encode(hashlib.sha256(spki).digest()[:30]).decode()
    expected = ":".join(chars[i : i + 4] for i in range(0, 48, 4))
    assert header["kid"] == expected
    assert len(header["kid"].split(":")) == 12
    assert client.get(reverse("registry:jwks")).json()["keys"][0]["kid"] == expected


def test_a_token_from_another_key_does_not_verify_with_the_jwks(client, nginx):
    from cryptography.hazmat.primitives.asymmetric import ec

    forged = jwt.encode(
        {"aud": SERVICE, "access": []}, ec.generate_private_key(ec.SECP256R1()), "ES256"
    )
    (jwk,) = client.get(reverse("registry:jwks")).json()["keys"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            forged, jwt.PyJWK.from_dict(jwk).key, algorithms=["ES256"], audience=SERVICE
        )


# Who gets what


def test_anonymous_pulls_free_images_and_nothing_paid(client, nginx):
    response = _ask(client, "repository:nginx:pull", "repository:nginx-fips:pull")
    assert response.status_code == 200
    assert _granted(response) == {"nginx": ["pull"], "nginx-fips": []}
    denied = PullLogEntry.objects.get(repository="nginx-fips")
    assert denied.granted == []
    assert denied.requested == ["pull"]
    assert "FIPS variants" in denied.reason
    assert PullLogEntry.objects.get(repository="nginx").granted == ["pull"]


def test_anonymous_asking_only_for_a_paid_path_is_told_to_sign_in(client, nginx):
    """Nothing granted for want of an entitlement: the token endpoint says
    why (docker and skopeo print it), instead of a token the registry would
    answer with a bare "denied"."""
    response = _ask(client, "repository:nginx-fips:pull")
    message = _refused(response, anonymous=True)
    assert "FIPS variants for nginx needs an entitled organization" in message
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert PullLogEntry.objects.get().granted == []


def test_a_revoked_token_is_refused_at_once_though_its_facts_are_cached(client, nginx):
    org = OrganizationFactory()
    token, raw = _token(org)
    assert _granted(_ask(client, "repository:nginx:pull", auth=_basic("ci", raw))) == {
        "nginx": ["pull"]
    }
    api_token_revoke(token=token, actor=token.created_by)
    response = _ask(client, "repository:nginx:pull", auth=_basic("ci", raw))
    assert response.status_code == 401
    assert "revoked" in response.json()["errors"][0]["message"]


def test_a_cached_path_follows_the_catalog(client, nginx):
    """A path asked for before the catalog had it is known once it does."""
    org = OrganizationFactory()
    entitle(org, "fips")
    _, raw = _token(org)
    redis = catalog.repository("redis", category="database")
    line = catalog.series(redis, "7")
    catalog.build(line)
    first = _ask(client, "repository:redis-fips:pull", auth=_basic("ci", raw))
    assert _granted(first) == {"redis-fips": []}
    catalog.build(line, fips=True)
    second = _ask(client, "repository:redis-fips:pull", auth=_basic("ci", raw))
    assert _granted(second) == {"redis-fips": ["pull"]}


def test_an_entitled_org_token_pulls_the_fips_path(client, nginx):
    org = OrganizationFactory()
    entitle(org, "fips", repository=nginx)
    token, raw = _token(org)
    response = _ask(client, "repository:nginx-fips:pull", auth=_basic("ci", raw))
    assert _granted(response) == {"nginx-fips": ["pull"]}
    entry = PullLogEntry.objects.get()
    assert (entry.org, entry.token, entry.granted) == (org, token, ["pull"])
    assert entry.ip == "127.0.0.1"
    assert raw not in json.dumps(
        list(PullLogEntry.objects.values("account", "reason", "repository"))
    )


def _refused(response, *, anonymous: bool = False) -> str:
    """The token endpoint's refusal: the message docker and skopeo print."""
    assert response.status_code == 401, response.content
    (error,) = response.json()["errors"]
    assert error["code"] == ("UNAUTHORIZED" if anonymous else "DENIED")
    assert "token" not in response.json()
    return error["message"]


def test_a_community_org_is_refused_with_the_missing_feature_named(client, nginx):
    org = OrganizationFactory(features=())
    _, raw = _token(org)
    response = _ask(client, "repository:nginx-stig:pull", auth=_basic("ci", raw))
    message = _refused(response)
    assert message == f"{org.name} is not entitled to STIG variants for nginx"
    entry = PullLogEntry.objects.get()
    assert entry.org == org
    assert entry.granted == []
    assert entry.reason == f"{org.name} is not entitled to STIG variants for nginx"


def test_an_entitlement_for_another_repository_does_not_open_this_one(client, nginx):
    other = catalog.repository("redis", category="database")
    org = OrganizationFactory(features=())
    entitle(org, "fips", repository=other)
    _, raw = _token(org)
    response = _ask(client, "repository:nginx-fips:pull", auth=_basic("ci", raw))
    assert "not entitled to FIPS variants for nginx" in _refused(response)


def test_a_lapsed_entitlement_denies_the_next_token(client, nginx):
    org = OrganizationFactory(features=())
    (row,) = entitle(org, "els")
    _, raw = _token(org)
    first = _ask(client, "repository:nginx-els:pull", auth=_basic("ci", raw))
    assert _granted(first) == {"nginx-els": ["pull"]}
    Entitlement.objects.filter(pk=row.pk).update(
        ends_at=timezone.now() - timedelta(seconds=1)
    )
    second = _ask(client, "repository:nginx-els:pull", auth=_basic("ci", raw))
    assert "Extended lifecycle support" in _refused(second)
    assert "Extended lifecycle support" in PullLogEntry.objects.first().reason


def test_fips_stig_needs_both_features(client, nginx):
    line = nginx.series.get()
    catalog.build(line, fips=True, stig=True)
    org = OrganizationFactory(features=())
    entitle(org, "fips")
    _, raw = _token(org)
    response = _ask(client, "repository:nginx-fips-stig:pull", auth=_basic("ci", raw))
    assert "STIG variants" in _refused(response)
    entitle(org, "stig")
    response = _ask(client, "repository:nginx-fips-stig:pull", auth=_basic("ci", raw))
    assert _granted(response) == {"nginx-fips-stig": ["pull"]}


def test_an_unknown_path_and_a_missing_variant_grant_nothing(client, nginx):
    catalog.repository("redis", category="database")
    response = _ask(client, "repository:nosuch:pull", "repository:redis-fips:pull")
    assert _granted(response) == {"nosuch": [], "redis-fips": []}
    assert set(PullLogEntry.objects.values_list("reason", flat=True)) == {
        "no such repository"
    }


def test_a_customer_token_asking_push_gets_pull_only(client, nginx):
    org = OrganizationFactory()
    _, raw = _token(org, scopes=(Scope.REGISTRY_PULL, Scope.REGISTRY_PUSH))
    response = _ask(client, "repository:nginx:pull,push", auth=_basic("ci", raw))
    assert _granted(response) == {"nginx": ["pull"]}
    entry = PullLogEntry.objects.get()
    assert entry.requested == ["pull", "push"]
    assert entry.granted == ["pull"]
    assert "push is for publisher pipelines" in entry.reason


def test_a_staff_push_token_pushes_and_loses_it_without_a_second_factor(client, nginx):
    org = OrganizationFactory()
    staff = _member(org, is_staff=True)
    _, raw = _token(org, scopes=(Scope.REGISTRY_PUSH,), actor=staff)
    response = _ask(client, "repository:nginx-fips:pull,push", auth=_basic("ci", raw))
    assert _granted(response) == {"nginx-fips": ["pull", "push"]}
    from allauth.mfa.models import Authenticator

    Authenticator.objects.filter(user=staff).delete()
    # What the service read of the token is kept for less than a token
    # lifetime (revoking drops it at once); then the loss shows.
    later = timezone.now() + timedelta(seconds=PRINCIPAL_CACHE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        response = _ask(
            client, "repository:nginx-fips:pull,push", auth=_basic("ci", raw)
        )
    # registry:push alone, creator no longer staff in standing: no registry scope.
    assert response.status_code == 401
    assert "registry:pull" in response.json()["errors"][0]["message"]


def test_a_mirror_path_is_its_orgs_alone(client, nginx):
    from apps.entitlements.models import Mirror

    org = OrganizationFactory(slug="acme")
    owner = _member(org)
    entitle(org, "fips", repository=nginx)
    Mirror.objects.create(
        org=org, repository=nginx, include_fips=True, created_by=owner
    )
    _, raw = _token(org, actor=owner)
    other = OrganizationFactory()
    entitle(other, "fips")
    _, other_raw = _token(other)
    paths = ("repository:acme/nginx-fips:pull", "repository:acme/nginx-stig:pull")
    mine = _ask(client, *paths, auth=_basic("ci", raw))
    assert _granted(mine) == {"acme/nginx-fips": ["pull"], "acme/nginx-stig": []}
    theirs = _ask(client, *paths, auth=_basic("ci", other_raw))
    assert _granted(theirs) == {"acme/nginx-fips": [], "acme/nginx-stig": []}


def test_email_and_password_pull_for_the_persons_orgs(client, nginx):
    org = OrganizationFactory(features=())
    entitle(org, "stig", repository=nginx)
    user = _member(org, role=Role.MEMBER)
    response = _ask(
        client, "repository:nginx-stig:pull", auth=_basic(user.email, PASSWORD)
    )
    assert _granted(response) == {"nginx-stig": ["pull"]}
    assert PullLogEntry.objects.get().user == user


def test_a_password_is_refused_where_an_org_requires_mfa(client, nginx):
    org = OrganizationFactory(require_mfa=True)
    user = _member(org, role=Role.MEMBER, mfa=True)
    response = _ask(client, "repository:nginx:pull", auth=_basic(user.email, PASSWORD))
    assert response.status_code == 401
    assert "API token" in response.json()["errors"][0]["message"]
    assert PullLogEntry.objects.get().granted == []


def test_a_wrong_password_is_401_with_a_basic_challenge(client, nginx):
    user = _member(OrganizationFactory())
    response = _ask(client, "repository:nginx:pull", auth=_basic(user.email, "nope"))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith('Basic realm="test-portal"')
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    entry = PullLogEntry.objects.get()
    assert entry.granted == []
    assert entry.account == user.email
    assert "nope" not in entry.reason


def test_a_revoked_token_fails(client, nginx):
    org = OrganizationFactory()
    token, raw = _token(org)
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = _ask(client, "repository:nginx:pull", auth=_basic("ci", raw))
    assert response.status_code == 401
    assert PullLogEntry.objects.get().granted == []


def test_a_suspended_token_fails_with_the_reason(client, nginx):
    org = OrganizationFactory()
    _, raw = _token(org)
    org.require_mfa = True
    org.save(update_fields=["require_mfa"])
    response = _ask(client, "repository:nginx:pull", auth=_basic("ci", raw))
    assert response.status_code == 401
    (error,) = response.json()["errors"]
    assert error["code"] == "DENIED"
    assert "two-factor" in error["message"]
    assert not PullLogEntry.objects.exclude(granted=[]).exists()


def test_a_token_without_registry_scope_fails(client, nginx):
    _, raw = _token(OrganizationFactory(), scopes=(Scope.ORG_READ,))
    response = _ask(client, "repository:nginx:pull", auth=_basic("ci", raw))
    assert response.status_code == 401
    assert "registry:pull" in response.json()["errors"][0]["message"]


# Bad input


@pytest.mark.parametrize(
    "scope",
    [
        "repository:nginx",
        "repository::pull",
        "repository:NGINX:pull",
        "repository:nginx:",
        "repository:nginx:pu ll,",
        "repo$:nginx:pull",
        "repository:nginx/../x:pull",
        "repository:" + "a" * 300 + ":pull",
        "repository:nginx:pull;push",
    ],
)
def test_a_malformed_scope_is_400_and_nothing_recorded(client, nginx, scope):
    from urllib.parse import quote

    response = _ask(client, quote(scope, safe=":,/"))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert not PullLogEntry.objects.exists()


def test_too_many_scopes_is_400(client, nginx):
    response = _ask(client, *["repository:nginx:pull"] * 11)
    assert response.status_code == 400
    assert "At most 10" in response.json()["errors"][0]["message"]
    assert not PullLogEntry.objects.exists()


@pytest.mark.parametrize("service", ["", "other-registry", "x" * 5000])
def test_an_unknown_service_is_400(client, nginx, service):
    response = _ask(client, "repository:nginx:pull", service=service)
    assert response.status_code == 400
    assert not PullLogEntry.objects.exists()


def test_a_huge_authorization_header_is_400(client, nginx):
    response = _ask(client, "repository:nginx:pull", auth="Basic " + "A" * 5000)
    assert response.status_code == 400
    assert not PullLogEntry.objects.exists()


@pytest.mark.parametrize(
    "auth",
    [
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "Bearer abc",
        "Basic " + base64.b64encode(b"user:").decode(),
    ],
)
def test_bad_basic_credentials_are_401_and_grant_nothing(client, nginx, auth):
    response = _ask(client, "repository:nginx:pull", auth=auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic realm=")
    assert not PullLogEntry.objects.exclude(granted=[]).exists()


def test_post_is_not_allowed(client, nginx):
    assert client.post(reverse("registry:token")).status_code == 405
    assert not PullLogEntry.objects.exists()


def test_the_service_is_off_without_a_service_name(client, settings, nginx):
    settings.REGISTRY_SERVICE = ""
    assert _ask(client, "repository:nginx:pull", service="").status_code == 404
    assert client.get(reverse("registry:jwks")).status_code == 404


def test_other_resource_types_are_down_scoped(client, nginx):
    response = _ask(client, "registry:catalog:*")
    assert response.status_code == 200
    assert _claims(response)["access"] == []
    assert PullLogEntry.objects.get().reason == "registry scopes are not granted"


def test_an_unconfirmed_email_cannot_pull_with_its_password(client, nginx):
    user = _member(OrganizationFactory(), verified=False)
    response = _ask(client, "repository:nginx:pull", auth=_basic(user.email, PASSWORD))
    assert response.status_code == 401
    assert "Confirm your email" in response.json()["errors"][0]["message"]


def test_repeated_wrong_passwords_hit_the_sign_in_limit(client, nginx):
    user = _member(OrganizationFactory())
    # Inside one window of the limit, whatever the clock says.
    with time_machine.travel(timezone.now(), tick=False):
        statuses = [
            _ask(
                client, "repository:nginx:pull", auth=_basic(user.email, "nope")
            ).status_code
            for _ in range(6)
        ]
        # Even the right password waits now: the limit is per email.
        right = _ask(client, "repository:nginx:pull", auth=_basic(user.email, PASSWORD))
    assert statuses == [401] * 5 + [429]
    assert right.status_code == 429
    assert right.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
    assert not PullLogEntry.objects.exclude(granted=[]).exists()
    # Another person from the same address is not locked out by it.
    other = _member(OrganizationFactory())
    fine = _ask(client, "repository:nginx:pull", auth=_basic(other.email, PASSWORD))
    assert fine.status_code == 200
