"""An organization's identity provider is contacted only through the outbound
policy, and only once publisher staff verified one of its domains.

The provider here is a plain socket on a local port that answers discovery
with a fixed document and records every connection, so a test can prove that
no connection was made (not only that the answer was refused).
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialApp
from django.test import Client

from apps.accounts import services
from apps.accounts.models import OrgSsoConnection
from apps.audit.models import AuditEvent
from apps.orgs.models import Role
from tests.core.outbound_support import Listener, fake_dns, http_reply, production_rules
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

DOMAIN = "acme-corp.example"
IDP_HOST = "idp.acme.test"
LOGIN_URL = "/accounts/oidc/org-acme/login/"
CALLBACK_URL = "/accounts/oidc/org-acme/login/callback/"


@pytest.fixture
def acme():
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def acme_owner(acme):
    return MembershipFactory(org=acme, role=Role.OWNER).user


def _discovery(port: int, **overrides) -> bytes:
    base = f"http://{IDP_HOST}:{port}/realm"
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        **overrides,
    }
    return http_reply(
        "200 OK", json.dumps(document).encode(), {"Content-Type": "application/json"}
    )


@pytest.fixture
def idp():
    server = Listener().start()
    server.reply = _discovery(server.port)
    yield server
    server.stop()


@pytest.fixture
def dns(monkeypatch):
    return fake_dns(monkeypatch, {IDP_HOST: lambda: ["127.0.0.1"]})


@pytest.fixture
def connection(acme, acme_owner, idp, dns):
    """Acme's SSO as its owner saves it (development rules: the provider is on
    loopback), not verified yet; the resolver's log starts empty after."""
    found = services.org_sso_configure(
        org=acme,
        issuer_url=f"http://{IDP_HOST}:{idp.port}/realm",
        client_id="portal",
        client_secret="s3cret",
        email_domains=[DOMAIN],
        enabled=True,
        actor=acme_owner,
    )
    dns.clear()
    return found


def _verify(connection: OrgSsoConnection) -> OrgSsoConnection:
    return services.org_sso_verify_domains(
        connection=connection, domains=[DOMAIN], actor=UserFactory(is_staff=True)
    )


def _no_connection(idp: Listener, dns: list[str]) -> None:
    time.sleep(0.1)
    assert idp.requests == []
    assert IDP_HOST not in dns


# --- saving the issuer ------------------------------------------------------------


def _state():
    return (
        SocialApp.objects.count(),
        OrgSsoConnection.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.SSO_CONFIGURED).count(),
    )


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        ("https://127.0.0.1:8199/realm", "private or local address: loopback"),
        ("https://169.254.169.254/realm", "private or local address: link-local"),
        ("https://[::1]/realm", "private or local address: loopback"),
        ("https://[::ffff:7f00:1]/realm", "private or local address: loopback"),
        ("https://idp.rebound.test/realm", "private or local address: private"),
        ("https://idp.missing.test/realm", "does not resolve"),
        ("http://idp.public.test/realm", "The issuer must use https."),
        ("https://idp.public.test:22/realm", "Port 22 is not allowed"),
    ],
)
def test_the_owner_cannot_save_an_issuer_the_policy_refuses(
    acme, acme_owner, client_for, settings, monkeypatch, issuer, message
):
    production_rules(settings)
    fake_dns(
        monkeypatch,
        {
            "idp.rebound.test": lambda: ["10.0.0.8"],
            "idp.missing.test": lambda: None,
            "idp.public.test": lambda: ["93.184.215.14"],
        },
    )
    before = _state()
    response = client_for(acme_owner).post(
        "/o/acme/sso/",
        {
            "issuer_url": issuer,
            "client_id": "portal",
            "client_secret": "s3cret",
            "email_domains": DOMAIN,
            "enabled": "on",
        },
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert message in " ".join(errors["issuer_url"]), errors
    assert _state() == before


def test_the_owner_saves_a_public_issuer_in_production(
    acme, acme_owner, settings, monkeypatch
):
    production_rules(settings)
    fake_dns(monkeypatch, {"idp.public.test": lambda: ["93.184.215.14"]})
    connection = services.org_sso_configure(
        org=acme,
        issuer_url="https://idp.public.test/realm",
        client_id="portal",
        client_secret="s3cret",
        email_domains=[DOMAIN],
        enabled=True,
        actor=acme_owner,
    )
    assert connection.social_app.settings["server_url"] == (
        "https://idp.public.test/realm"
    )


# --- no contact before verification -----------------------------------------------


def test_an_anonymous_login_post_for_an_unverified_provider_connects_nowhere(
    connection, idp, dns
):
    assert connection.verified_domains == []
    response = Client().post(LOGIN_URL)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Single sign-on for Acme is not active yet" in page
    assert "has not verified its email domains" in page
    _no_connection(idp, dns)


def test_an_anonymous_login_post_for_a_disabled_provider_connects_nowhere(
    connection, acme, acme_owner, idp, dns
):
    _verify(connection)
    services.org_sso_configure(
        org=acme,
        issuer_url=f"http://{IDP_HOST}:{idp.port}/realm",
        client_id="portal",
        client_secret="",
        email_domains=[DOMAIN],
        enabled=False,
        actor=acme_owner,
    )
    dns.clear()
    response = Client().post(LOGIN_URL)
    assert response.status_code == 403
    assert "Single sign-on for Acme is turned off" in response.content.decode()
    _no_connection(idp, dns)


def test_a_callback_for_an_unverified_provider_connects_nowhere(connection, idp, dns):
    browser = Client()
    response = browser.get(CALLBACK_URL, {"code": "abc", "state": "xyz"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert "not active yet" in browser.get("/accounts/login/").content.decode()
    _no_connection(idp, dns)


def test_a_verified_provider_is_contacted_through_the_policy(connection, idp, dns):
    """The same door, once staff verified a domain: discovery is fetched, at
    the address that was checked, with the issuer's host."""
    _verify(connection)
    response = Client().post(LOGIN_URL)
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"http://{IDP_HOST}:{idp.port}/realm/authorize"
    )
    assert parse_qs(location.query)["client_id"] == ["portal"]
    (sent,) = idp.requests
    assert sent.startswith(b"GET /realm/.well-known/openid-configuration HTTP/1.1")
    assert f"\r\nHost: {IDP_HOST}:{idp.port}\r\n".encode() in sent
    assert dns.count(IDP_HOST) == 1


# --- the policy at fetch time -----------------------------------------------------


def test_discovery_at_an_address_the_policy_refuses_is_not_fetched(
    connection, idp, dns, settings
):
    _verify(connection)
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True
    response = Client(raise_request_exception=False).post(
        "/sso/", {"email": f"alice@{DOMAIN}"}
    )
    assert response.status_code == 502
    assert "cannot be reached" in " ".join(response.context["form"].errors["email"])
    time.sleep(0.1)
    assert idp.requests == []


def test_a_token_endpoint_at_an_internal_address_is_not_contacted(
    connection, idp, dns, monkeypatch
):
    """The discovery document names the other endpoints; each is held to the
    policy when allauth calls it."""
    import urllib3.util.connection

    idp.reply = _discovery(
        idp.port, token_endpoint="http://169.254.169.254/latest/meta-data/"
    )
    _verify(connection)
    connected: list[tuple] = []
    real = urllib3.util.connection.create_connection

    def spy(address, *args, **kwargs):
        connected.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", spy)
    browser = Client()
    start = browser.post(LOGIN_URL)
    assert start.status_code == 302
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]

    response = browser.get(CALLBACK_URL, {"code": "abc", "state": state})

    assert response.status_code == 401  # allauth's authentication error page
    assert all(host == "127.0.0.1" for host, _port in connected), connected
    assert not any("169.254" in host for host, _port in connected)


def test_allauth_login_for_a_provider_that_cannot_be_reached_is_a_502_page(
    connection, idp, dns, settings
):
    """The provider is verified, but its discovery address is refused by the
    policy: allauth's own login URL answers the /sso/ page's 502, not a 500."""
    _verify(connection)
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True
    response = Client(raise_request_exception=False).post(LOGIN_URL)
    assert response.status_code == 502
    assert "cannot be reached" in response.content.decode()
    time.sleep(0.1)
    assert idp.requests == []
