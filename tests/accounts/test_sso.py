"""Per-organization single sign-on, end to end against a real OpenID provider.

The provider is ``oidc-provider-mock`` started as its own process on a free
localhost port. It requires client registration, so it checks the client id,
the secret and the exact redirect URI our server sends. The browser is played
by two clients: Django's test client for our side (its session cookie carries
allauth's state) and ``httpx`` for the provider's side. Our server exchanges the
code, fetches userinfo and reads the ID token over real HTTP.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.contrib.auth import get_user_model
from django.test import Client

from apps.accounts import services
from apps.accounts.models import OrgSsoConnection
from apps.audit.models import AuditEvent
from apps.orgs.models import Membership, Role
from tests.conftest import require_service
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

User = get_user_model()
Action = AuditEvent.Action

MOCK_BIN = Path(sys.executable).with_name("oidc-provider-mock")
DOMAIN = "acme-corp.example"
CALLBACK_PATH = "/accounts/oidc/org-acme/login/callback/"
CALLBACK_URL = f"http://testserver{CALLBACK_PATH}"


# --- the provider process -------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class OidcProvider:
    """A running oidc-provider-mock and the calls a test makes to it."""

    url: str
    http: httpx.Client

    def register_client(self, redirect_uri: str = CALLBACK_URL) -> tuple[str, str]:
        # allauth sends the secret in the POST body when the discovery document
        # does not list token_endpoint_auth_methods_supported (this one doesn't).
        response = self.http.post(
            f"{self.url}/oauth2/clients",
            json={
                "redirect_uris": [redirect_uri],
                "token_endpoint_auth_method": "client_secret_post",
            },
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return body["client_id"], body["client_secret"]

    def set_user(self, sub: str, **claims) -> None:
        response = self.http.put(f"{self.url}/users/{sub}", json=claims)
        assert response.status_code == 204, response.text

    def authorize(self, authorize_url: str, *, sub: str) -> str:
        """Play the person at the provider's form; return where it sends them."""
        assert authorize_url.startswith(f"{self.url}/oauth2/authorize?")
        form = self.http.get(authorize_url)
        assert form.status_code == 200, form.text
        assert 'name="sub"' in form.text
        # The form posts back to the same URL, query string included.
        response = self.http.post(authorize_url, data={"sub": sub})
        assert response.status_code == 302, response.text
        return response.headers["location"]


def _start_provider(log_path: Path) -> tuple[subprocess.Popen, str]:
    last_error = ""
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = log_path.open("ab")
        proc = subprocess.Popen(
            [
                str(MOCK_BIN),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--require-registration=true",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"{url}/.well-known/openid-configuration", timeout=1)
                if answer.status_code == 200 and answer.json()["issuer"] == url:
                    return proc, url
            except httpx.HTTPError as exc:
                last_error = repr(exc)
            time.sleep(0.1)
        _stop(proc)
        last_error = f"{last_error}; log: {log_path.read_text()[-2000:]}"
    raise RuntimeError(last_error)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory):
    if not MOCK_BIN.exists():
        require_service("oidc-provider-mock", f"{MOCK_BIN} is not installed")
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    try:
        proc, url = _start_provider(log_path)
    except RuntimeError as exc:
        require_service("oidc-provider-mock", f"did not start: {exc}")
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def provider(oidc_server):
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        yield OidcProvider(url=oidc_server, http=http)


# --- our side -------------------------------------------------------------------


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme", slug="acme")


@pytest.fixture
def acme_owner(acme):
    return MembershipFactory(org=acme, role=Role.OWNER).user


def _settings_url(org) -> str:
    return f"/o/{org.slug}/sso/"


def _configure(client: Client, org, provider: OidcProvider, **overrides):
    client_id, secret = provider.register_client(
        f"http://testserver/accounts/oidc/org-{org.slug}/login/callback/"
    )
    data = {
        "issuer_url": provider.url,
        "client_id": client_id,
        "client_secret": secret,
        "email_domains": DOMAIN,
        "enabled": "on",
        **overrides,
    }
    return client.post(_settings_url(org), data)


@pytest.fixture
def acme_sso(acme, acme_owner, provider, client_for):
    """Acme's SSO, configured the way an owner does it: through the settings page."""
    response = _configure(client_for(acme_owner), acme, provider)
    assert response.status_code == 302, response.content.decode()
    connection = OrgSsoConnection.objects.select_related("social_app").get(org=acme)
    # Publisher staff confirm Acme owns its domain; until then SSO answers nobody.
    return services.org_sso_verify_domains(
        connection=connection, domains=[DOMAIN], actor=UserFactory(is_staff=True)
    )


def _start(client: Client, email: str, provider: OidcProvider) -> str:
    """POST /sso/ and return the provider's authorize URL we were sent to."""
    response = client.post("/sso/", {"email": email})
    assert response.status_code == 302, response.content.decode()
    location = response["Location"]
    assert location.startswith(f"{provider.url}/oauth2/authorize?")
    return location


def _sso_login(client: Client, provider: OidcProvider, *, email: str, sub: str):
    """The whole round trip; return our callback's response."""
    authorize_url = _start(client, email, provider)
    back = provider.authorize(authorize_url, sub=sub)
    parts = urlsplit(back)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK_URL
    query = parse_qs(parts.query)
    assert "code" in query, back
    assert "state" in query, back
    return client.get(f"{parts.path}?{parts.query}")


def _logged_in_user(client: Client):
    from django.contrib.auth import SESSION_KEY

    pk = client.session.get(SESSION_KEY)
    return User.objects.filter(pk=pk).first() if pk else None


# --- the happy path -------------------------------------------------------------


def test_sso_login_end_to_end_joins_the_org_once(acme, acme_sso, provider):
    provider.set_user(
        "alice-sub", email=f"alice@{DOMAIN}", email_verified=True, name="Alice Doe"
    )
    browser = Client()

    authorize_url = _start(browser, f"Alice@{DOMAIN.upper()}", provider)
    params = parse_qs(urlsplit(authorize_url).query)
    assert params["client_id"] == [acme_sso.social_app.client_id]
    assert params["redirect_uri"] == [CALLBACK_URL]
    assert params["response_type"] == ["code"]
    assert set(params["scope"][0].split()) >= {"openid", "email"}

    back = provider.authorize(authorize_url, sub="alice-sub")
    parts = urlsplit(back)
    response = browser.get(f"{parts.path}?{parts.query}")

    assert response.status_code == 302, response.content.decode()
    assert response["Location"] == "/"
    alice = _logged_in_user(browser)
    assert alice is not None
    assert alice.email == f"alice@{DOMAIN}"
    assert not alice.has_usable_password()
    account = SocialAccount.objects.get(user=alice)
    assert account.provider == "org-acme"
    assert account.uid == "alice-sub"
    # Both the userinfo answer and the ID token came from the provider.
    assert account.extra_data["userinfo"]["email"] == f"alice@{DOMAIN}"
    assert account.extra_data["id_token"]["iss"] == provider.url
    assert account.extra_data["id_token"]["aud"] in (
        acme_sso.social_app.client_id,
        [acme_sso.social_app.client_id],
    )
    assert alice.emailaddress_set.get().verified

    membership = Membership.objects.get(org=acme, user=alice)
    assert membership.role == Role.MEMBER
    sso_events = AuditEvent.objects.filter(action=Action.SSO_LOGIN, actor=alice)
    assert sso_events.count() == 1
    event = sso_events.get()
    assert event.org == acme
    assert event.details == {"provider_id": "org-acme", "joined": True}
    assert AuditEvent.objects.filter(
        action=Action.MEMBER_JOINED, actor=alice, org=acme
    ).exists()
    assert AuditEvent.objects.filter(
        action=Action.LOGIN, actor=alice, details={"method": "sso"}
    ).exists()

    # She can use the organization now.
    assert browser.get("/o/acme/").status_code == 200

    # A second sign-in, from a fresh browser: same person, same one membership.
    again = Client()
    response = _sso_login(again, provider, email=f"alice@{DOMAIN}", sub="alice-sub")
    assert response.status_code == 302, response.content.decode()
    assert _logged_in_user(again) == alice
    assert User.objects.filter(email__iexact=f"alice@{DOMAIN}").count() == 1
    assert SocialAccount.objects.filter(user=alice).count() == 1
    assert Membership.objects.filter(org=acme, user=alice).count() == 1
    assert Membership.objects.get(org=acme, user=alice).role == Role.MEMBER
    events = AuditEvent.objects.filter(action=Action.SSO_LOGIN, actor=alice)
    assert events.count() == 2
    assert events.first().details == {"provider_id": "org-acme", "joined": False}
    assert (
        AuditEvent.objects.filter(action=Action.MEMBER_JOINED, actor=alice).count() == 1
    )


def test_sso_login_keeps_an_existing_role(acme, acme_sso, provider):
    """Someone already an admin who signs in through SSO is not demoted."""
    provider.set_user("bob-sub", email=f"bob@{DOMAIN}", email_verified=True)
    browser = Client()
    response = _sso_login(browser, provider, email=f"bob@{DOMAIN}", sub="bob-sub")
    assert response.status_code == 302
    bob = _logged_in_user(browser)
    Membership.objects.filter(org=acme, user=bob).update(role=Role.ADMIN)

    again = Client()
    response = _sso_login(again, provider, email=f"bob@{DOMAIN}", sub="bob-sub")
    assert response.status_code == 302
    assert _logged_in_user(again) == bob
    assert Membership.objects.get(org=acme, user=bob).role == Role.ADMIN


def test_callback_without_our_state_is_refused(acme, acme_sso, provider):
    """A code minted for someone else's browser cannot be replayed in ours."""
    provider.set_user("carol-sub", email=f"carol@{DOMAIN}", email_verified=True)
    victim = Client()
    back = provider.authorize(
        _start(victim, f"carol@{DOMAIN}", provider), sub="carol-sub"
    )
    parts = urlsplit(back)

    attacker = Client()
    response = attacker.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 401  # allauth's authentication error page
    assert _logged_in_user(attacker) is None
    assert not Membership.objects.filter(
        org=acme, user__email=f"carol@{DOMAIN}"
    ).exists()

    # The code was never spent: the browser that started the flow still finishes.
    response = victim.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302
    assert _logged_in_user(victim).email == f"carol@{DOMAIN}"


# --- (a) the provider vouches for an address outside the org's domains ----------


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param(
            {"email": "mallory@globex.example", "email_verified": True},
            id="other-domain",
        ),
        pytest.param(
            {"email": f"mallory@evil.{DOMAIN}", "email_verified": True}, id="subdomain"
        ),
        pytest.param({"name": "No Email"}, id="no-email"),
    ],
)
def test_login_refused_when_provider_asserts_a_foreign_domain(
    acme, acme_sso, provider, claims
):
    sub = f"mallory-{len(claims)}-{claims.get('email', 'none')}"
    provider.set_user(sub, **claims)
    browser = Client()
    # The person typed an address of Acme's domain; the provider vouched for another.
    response = _sso_login(browser, provider, email=f"mallory@{DOMAIN}", sub=sub)

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    assert not SocialAccount.objects.exists()
    assert not Membership.objects.filter(org=acme).exclude(role=Role.OWNER).exists()
    assert not AuditEvent.objects.filter(action=Action.SSO_LOGIN).exists()
    if "email" in claims:
        assert not User.objects.filter(email=claims["email"]).exists()
    page = browser.get(response["Location"])
    assert "does not own" in page.content.decode()


def test_login_refused_for_another_orgs_domain_even_if_that_org_has_sso(
    acme, acme_sso, provider, client_for
):
    """Acme's provider cannot sign people into Globex by asserting Globex emails."""
    globex = OrganizationFactory(name="Globex", slug="globex")
    globex_owner = MembershipFactory(org=globex, role=Role.OWNER).user
    response = _configure(
        client_for(globex_owner), globex, provider, email_domains="globex.example"
    )
    assert response.status_code == 302, response.content.decode()
    victim = UserFactory(email="ceo@globex.example")
    MembershipFactory(org=globex, user=victim, role=Role.OWNER)

    provider.set_user("acme-evil", email="ceo@globex.example", email_verified=True)
    browser = Client()
    response = _sso_login(browser, provider, email=f"x@{DOMAIN}", sub="acme-evil")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    assert not SocialAccount.objects.exists()
    assert not Membership.objects.filter(org=acme, user=victim).exists()


def test_disabled_connection_is_not_offered_and_refuses_callbacks(
    acme, acme_sso, provider, client_for, acme_owner
):
    provider.set_user("dave-sub", email=f"dave@{DOMAIN}", email_verified=True)
    browser = Client()
    authorize_url = _start(browser, f"dave@{DOMAIN}", provider)
    back = provider.authorize(authorize_url, sub="dave-sub")

    # The owner switches SSO off while Dave is at the provider.
    response = client_for(acme_owner).post(
        _settings_url(acme),
        {
            "issuer_url": provider.url,
            "client_id": acme_sso.social_app.client_id,
            "email_domains": DOMAIN,
        },
    )
    assert response.status_code == 302, response.content.decode()
    acme_sso.refresh_from_db()
    assert not acme_sso.enabled

    parts = urlsplit(back)
    response = browser.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    assert not Membership.objects.filter(
        org=acme, user__email=f"dave@{DOMAIN}"
    ).exists()

    response = Client().post("/sso/", {"email": f"dave@{DOMAIN}"})
    assert response.status_code == 400


def test_person_who_denies_at_the_provider_is_not_signed_in(acme, acme_sso, provider):
    browser = Client()
    authorize_url = _start(browser, f"erin@{DOMAIN}", provider)
    denied = provider.http.post(authorize_url, data={"action": "deny"})
    assert denied.status_code == 302
    parts = urlsplit(denied.headers["location"])
    assert parts.path == CALLBACK_PATH
    assert parse_qs(parts.query)["error"] == ["access_denied"]

    response = browser.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 401
    assert "Login Failure" in response.content.decode()
    assert _logged_in_user(browser) is None
    assert not SocialAccount.objects.exists()


def test_sso_does_not_take_over_an_existing_password_account(
    acme, acme_sso, provider, mailoutbox
):
    """The provider's word never signs anyone into an account it did not create.

    Domains are claimed without proof of ownership, so SSO logins are not
    connected to existing accounts by email (SOCIALACCOUNT_EMAIL_AUTHENTICATION
    is off). allauth answers as if it sent a verification mail and mails the
    real owner that an account already exists.
    """
    frank = UserFactory(email=f"frank@{DOMAIN}")
    MembershipFactory(org=acme, user=frank, role=Role.MEMBER)
    provider.set_user("frank-sub", email=f"frank@{DOMAIN}", email_verified=True)
    browser = Client()
    response = _sso_login(browser, provider, email=f"frank@{DOMAIN}", sub="frank-sub")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert _logged_in_user(browser) is None
    assert not SocialAccount.objects.exists()
    assert User.objects.filter(email__iexact=f"frank@{DOMAIN}").count() == 1
    frank.refresh_from_db()
    assert frank.has_usable_password()
    assert [m.to for m in mailoutbox] == [[f"frank@{DOMAIN}"]]
    assert "already exists" in mailoutbox[0].body


def test_long_organization_name_fits_the_social_app(provider, client_for, db):
    """SocialApp.name holds 40 characters; an organization name holds 100.

    PostgreSQL refused the longer name with a DataError (a 500 on save).
    """
    org = OrganizationFactory(name="Initech " + "x" * 92, slug="initech")
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    response = _configure(
        client_for(owner), org, provider, email_domains="initech.example"
    )
    assert response.status_code == 302, response.content.decode()
    app = SocialApp.objects.get(provider_id="org-initech")
    assert len(app.name) <= SocialApp._meta.get_field("name").max_length
    assert app.name.startswith("Initech ")
    assert app.name.endswith(" SSO")
    services.org_sso_verify_domains(
        connection=app.org_sso,
        domains=["initech.example"],
        actor=UserFactory(is_staff=True),
    )

    provider.set_user("ivy-sub", email="ivy@initech.example", email_verified=True)
    browser = Client()
    authorize_url = _start(browser, "ivy@initech.example", provider)
    back = urlsplit(provider.authorize(authorize_url, sub="ivy-sub"))
    response = browser.get(f"{back.path}?{back.query}")
    assert response.status_code == 302
    assert Membership.objects.get(org=org, user=_logged_in_user(browser)).role == (
        Role.MEMBER
    )


def test_sso_cannot_mint_an_auditor_of_another_org(
    acme, acme_sso, acme_owner, provider, client_for
):
    """Claiming a domain is not owning it: unverified claims vouch for nobody."""
    from apps.orgs.selectors import org_access_get
    from tests.factories import AuditorGrantFactory

    victim = OrganizationFactory(name="Initech", slug="initech")
    AuditorGrantFactory(org=victim, email="auditor@audit-firm.example")
    # Acme claims the audit firm's domain as well; nobody else had claimed it.
    response = _configure(
        client_for(acme_owner),
        acme,
        provider,
        email_domains=f"{DOMAIN}, audit-firm.example",
    )
    assert response.status_code == 302
    acme_sso.refresh_from_db()
    assert acme_sso.verified_domains == [DOMAIN]
    assert acme_sso.pending_domains == ["audit-firm.example"]
    # Starting SSO for the claimed but unverified domain finds no provider...
    assert (
        Client().post("/sso/", {"email": "auditor@audit-firm.example"}).status_code
        == 400
    )
    # ...and a provider vouching for it mid-flow is refused.
    provider.set_user(
        "fake-auditor", email="auditor@audit-firm.example", email_verified=True
    )
    browser = Client()
    response = _sso_login(
        browser, provider, email=f"someone@{DOMAIN}", sub="fake-auditor"
    )
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    minted = User.objects.filter(email="auditor@audit-firm.example").first()
    assert minted is None or org_access_get(user=minted, org=victim) is None


def test_unverified_connection_vouches_for_nobody(
    acme, acme_owner, provider, client_for
):
    response = _configure(client_for(acme_owner), acme, provider)
    assert response.status_code == 302
    response = Client().post("/sso/", {"email": f"alice@{DOMAIN}"})
    assert response.status_code == 400
    page = client_for(acme_owner).get(_settings_url(acme)).content.decode()
    assert "awaiting verification" in page


def test_only_staff_verify_and_only_claimed_domains(acme, acme_sso, acme_owner):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        services.org_sso_verify_domains(
            connection=acme_sso, domains=[DOMAIN], actor=acme_owner
        )
    with pytest.raises(ValidationError, match="Not claimed"):
        services.org_sso_verify_domains(
            connection=acme_sso,
            domains=["gmail.com"],
            actor=UserFactory(is_staff=True),
        )
    acme_sso.refresh_from_db()
    assert acme_sso.verified_domains == [DOMAIN]
    assert AuditEvent.objects.filter(action=Action.SSO_DOMAINS_VERIFIED).count() == 1


def test_dropping_a_domain_drops_its_verification(
    acme, acme_sso, acme_owner, provider, client_for
):
    response = _configure(
        client_for(acme_owner), acme, provider, email_domains="other.example"
    )
    assert response.status_code == 302
    acme_sso.refresh_from_db()
    assert acme_sso.verified_domains == []
    # Claiming it back later needs a new verification.
    _configure(client_for(acme_owner), acme, provider)
    acme_sso.refresh_from_db()
    assert acme_sso.verified_domains == []


# --- (b) nobody claims the domain -----------------------------------------------


@pytest.mark.parametrize(
    "email", ["someone@nobody-claims.example", f"someone@eu.{DOMAIN}"]
)
def test_sso_start_with_unclaimed_domain_is_400(acme, acme_sso, provider, email):
    browser = Client()
    response = browser.post("/sso/", {"email": email})
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["email"] == [
        "No organization has single sign-on for this email domain."
    ]
    assert "No organization has single sign-on" in response.content.decode()
    assert _logged_in_user(browser) is None


@pytest.mark.parametrize("email", ["", "not-an-email", f"@{DOMAIN}"])
def test_sso_start_with_bad_email_is_400(acme, acme_sso, provider, email):
    response = Client().post("/sso/", {"email": email})
    assert response.status_code == 400
    assert "email" in response.context["form"].errors


def test_sso_start_with_unreachable_provider_is_502_not_500(acme, acme_sso, provider):
    """An organization whose issuer does not answer gets a message, not a crash."""
    app = acme_sso.social_app
    app.settings = {"server_url": f"http://127.0.0.1:{_free_port()}"}
    app.save()
    browser = Client(raise_request_exception=False)
    response = browser.post("/sso/", {"email": f"alice@{DOMAIN}"})
    assert response.status_code == 502
    assert "cannot be reached" in " ".join(response.context["form"].errors["email"])
    assert _logged_in_user(browser) is None


def test_sso_start_page_renders(db):
    response = Client().get("/sso/")
    assert response.status_code == 200
    assert "Work email" in response.content.decode()


# --- (c) the settings form ------------------------------------------------------


def _state():
    return (
        SocialApp.objects.count(),
        OrgSsoConnection.objects.count(),
        AuditEvent.objects.filter(action=Action.SSO_CONFIGURED).count(),
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"issuer_url": "not a url"}, "issuer_url", "valid URL", id="issuer-not-url"
        ),
        pytest.param(
            {"issuer_url": "ftp://idp.example"},
            "issuer_url",
            "must be an http(s) URL",
            id="issuer-ftp",
        ),
        pytest.param(
            {"email_domains": ""}, "email_domains", "required", id="domains-empty"
        ),
        pytest.param(
            {"email_domains": " , ,"},
            "email_domains",
            "at least one",
            id="domains-blank",
        ),
        pytest.param(
            {"email_domains": "acme-corp.example, not a domain"},
            "email_domains",
            "Not a domain: not a domain",
            id="domain-invalid",
        ),
        pytest.param(
            {"email_domains": "@acme.example"},
            "email_domains",
            "Not a domain",
            id="domain-at",
        ),
        pytest.param({"client_id": ""}, "client_id", "required", id="client-id-empty"),
        pytest.param(
            {"client_secret": ""}, "client_secret", "secret is required", id="no-secret"
        ),
    ],
)
def test_settings_form_rejects_bad_input(
    acme, acme_owner, provider, client_for, overrides, field, message
):
    before = _state()
    response = _configure(client_for(acme_owner), acme, provider, **overrides)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field]), errors
    assert _state() == before
    assert not SocialApp.objects.exists()


def test_settings_form_rejects_a_domain_claimed_by_another_org(
    acme, acme_owner, provider, client_for
):
    globex = OrganizationFactory(name="Globex", slug="globex")
    globex_owner = MembershipFactory(org=globex, role=Role.OWNER).user
    response = _configure(
        client_for(globex_owner), globex, provider, email_domains="Globex.example"
    )
    assert response.status_code == 302
    before = _state()

    response = _configure(
        client_for(acme_owner),
        acme,
        provider,
        email_domains=f"{DOMAIN}, GLOBEX.example",
    )
    assert response.status_code == 400
    errors = response.context["form"].errors["email_domains"]
    assert errors == ["Already claimed by another organization: globex.example."]
    assert _state() == before
    assert not OrgSsoConnection.objects.filter(org=acme).exists()


def test_settings_form_valid_save_and_update(acme, acme_owner, provider, client_for):
    owner = client_for(acme_owner)
    page = owner.get(_settings_url(acme))
    assert page.status_code == 200
    assert "Not configured" in page.content.decode()

    response = _configure(
        owner, acme, provider, email_domains=f" {DOMAIN.upper()} , eu.{DOMAIN}, "
    )
    assert response.status_code == 302
    connection = OrgSsoConnection.objects.select_related("social_app").get(org=acme)
    app = connection.social_app
    assert app.provider == "openid_connect"
    assert app.provider_id == "org-acme"
    assert app.settings == {"server_url": provider.url}
    assert connection.email_domains == [DOMAIN, f"eu.{DOMAIN}"]
    assert connection.enabled
    secret = app.secret
    page = owner.get(_settings_url(acme)).content.decode()
    assert CALLBACK_URL in page  # the redirect URI the admin registers
    assert secret not in page

    # Saving again without a secret keeps the stored one; the issuer loses its
    # trailing slash.
    response = owner.post(
        _settings_url(acme),
        {
            "issuer_url": provider.url + "/",
            "client_id": app.client_id,
            "email_domains": DOMAIN,
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.secret == secret
    assert app.settings == {"server_url": provider.url}
    assert SocialApp.objects.count() == 1
    assert OrgSsoConnection.objects.count() == 1
    events = AuditEvent.objects.filter(action=Action.SSO_CONFIGURED, org=acme)
    assert events.count() == 2
    assert all(secret not in str(e.details) for e in events)


def test_service_rejects_bad_input_without_writing(acme, acme_owner, provider):
    """The service guards itself too, whatever the form let through."""
    from django.core.exceptions import ValidationError

    before = _state()
    with pytest.raises(ValidationError) as exc:
        services.org_sso_configure(
            org=acme,
            issuer_url="idp.example",
            client_id=" ",
            client_secret="",
            email_domains=["bad domain"],
            enabled=True,
            actor=acme_owner,
        )
    assert set(exc.value.message_dict) == {
        "issuer_url",
        "client_id",
        "client_secret",
        "email_domains",
    }
    assert _state() == before


# --- (d) who may open the settings ----------------------------------------------


@pytest.mark.parametrize(
    ("role", "status"),
    [
        (Role.OWNER, 200),
        (Role.ADMIN, 200),
        (Role.MEMBER, 403),
        (Role.BILLING, 403),
    ],
)
def test_settings_access_by_role(acme, acme_sso, provider, client_for, role, status):
    person = MembershipFactory(org=acme, role=role).user
    client = client_for(person)
    assert client.get(_settings_url(acme)).status_code == status
    before = (SocialApp.objects.get().client_id, acme_sso.email_domains)
    response = client.post(
        _settings_url(acme),
        {
            "issuer_url": "https://attacker.example",
            "client_id": "attacker",
            "client_secret": "attacker",
            "email_domains": "attacker.example",
            "enabled": "on",
        },
    )
    if status == 403:
        assert response.status_code == 403
        acme_sso.refresh_from_db()
        assert (SocialApp.objects.get().client_id, acme_sso.email_domains) == before


def test_settings_hidden_from_outsiders_and_anonymous(
    acme, acme_sso, provider, client_for
):
    globex = OrganizationFactory(name="Globex", slug="globex")
    outsider = MembershipFactory(org=globex, role=Role.OWNER).user
    client = client_for(outsider)
    assert client.get(_settings_url(acme)).status_code == 404
    response = client.post(
        _settings_url(acme),
        {
            "issuer_url": "https://x.example",
            "client_id": "x",
            "email_domains": "x.example",
        },
    )
    assert response.status_code == 404
    assert client.get("/o/no-such-org/sso/").status_code == 404

    anonymous = Client().get(_settings_url(acme))
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")

    acme_sso.refresh_from_db()
    assert acme_sso.email_domains == [DOMAIN]


# --- (e) the organization's plan no longer includes SSO -----------------------------


def _lapse_sso(org, staff):
    from django.utils import timezone

    from apps.entitlements.models import Entitlement
    from apps.entitlements.services import entitlement_end

    for row in Entitlement.objects.for_org(org).filter(
        feature__key="sso", ends_at__isnull=True
    ):
        entitlement_end(entitlement=row, at=timezone.now(), actor=staff, reason="Down")


def _restore_sso(org, staff):
    from django.utils import timezone

    from apps.entitlements.services import entitlement_grant_contract

    entitlement_grant_contract(
        org=org,
        feature="sso",
        reference="C-SSO-2",
        starts_at=timezone.now(),
        ends_at=None,
        actor=staff,
    )


def _refusals(org):
    return list(
        AuditEvent.objects.filter(action=Action.SSO_LOGIN_REFUSED, org=org).order_by(
            "id"
        )
    )


LAPSED = "plan no longer includes single sign-on"


def test_sso_start_is_refused_once_the_plan_lapses(acme, acme_sso, provider):
    _lapse_sso(acme, UserFactory(is_staff=True))
    browser = Client()
    response = browser.post("/sso/", {"email": f"alice@{DOMAIN}"})

    assert response.status_code == 403
    (error,) = response.context["form"].errors["email"]
    assert LAPSED in error
    assert "Sign in with your email and password" in error
    assert "Acme" in error
    page = response.content.decode()
    assert "Sign in with your email and password" in page
    assert _logged_in_user(browser) is None
    (event,) = _refusals(acme)
    assert event.details["step"] == "start"
    assert event.details["email"] == f"alice@{DOMAIN}"
    assert event.details["provider_id"] == "org-acme"


def test_sso_callback_is_refused_when_the_plan_lapsed_mid_flow(
    acme, acme_sso, provider
):
    provider.set_user("gus-sub", email=f"gus@{DOMAIN}", email_verified=True)
    browser = Client()
    back = provider.authorize(_start(browser, f"gus@{DOMAIN}", provider), sub="gus-sub")

    # The subscription ends while Gus is at the provider.
    _lapse_sso(acme, UserFactory(is_staff=True))
    parts = urlsplit(back)
    response = browser.get(f"{parts.path}?{parts.query}")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    assert not SocialAccount.objects.exists()
    assert not User.objects.filter(email=f"gus@{DOMAIN}").exists()
    assert not Membership.objects.filter(org=acme, user__email=f"gus@{DOMAIN}")
    assert not AuditEvent.objects.filter(action=Action.SSO_LOGIN).exists()
    (event,) = _refusals(acme)
    assert event.details["step"] == "callback"
    assert event.details["email"] == f"gus@{DOMAIN}"
    page = browser.get(response["Location"]).content.decode()
    assert LAPSED in page


def test_existing_sso_user_is_refused_after_the_lapse(acme, acme_sso, provider):
    """Someone who signed in through SSO before cannot keep doing so."""
    provider.set_user("hal-sub", email=f"hal@{DOMAIN}", email_verified=True)
    response = _sso_login(Client(), provider, email=f"hal@{DOMAIN}", sub="hal-sub")
    assert response.status_code == 302
    hal = User.objects.get(email=f"hal@{DOMAIN}")

    staff = UserFactory(is_staff=True)
    _lapse_sso(acme, staff)
    assert Client().post("/sso/", {"email": hal.email}).status_code == 403

    # A flow started just before the lapse ends at the login page too.
    _restore_sso(acme, staff)
    browser = Client()
    back = provider.authorize(_start(browser, hal.email, provider), sub="hal-sub")
    _lapse_sso(acme, staff)
    parts = urlsplit(back)
    response = browser.get(f"{parts.path}?{parts.query}")
    assert response["Location"] == "/accounts/login/"
    assert _logged_in_user(browser) is None
    assert [e.details["step"] for e in _refusals(acme)] == ["start", "callback"]


def test_sso_works_again_once_the_entitlement_is_restored(acme, acme_sso, provider):
    staff = UserFactory(is_staff=True)
    _lapse_sso(acme, staff)
    assert Client().post("/sso/", {"email": f"ivy@{DOMAIN}"}).status_code == 403

    _restore_sso(acme, staff)
    provider.set_user("ivy-sub", email=f"ivy@{DOMAIN}", email_verified=True)
    browser = Client()
    response = _sso_login(browser, provider, email=f"ivy@{DOMAIN}", sub="ivy-sub")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert _logged_in_user(browser).email == f"ivy@{DOMAIN}"
    assert AuditEvent.objects.filter(action=Action.SSO_LOGIN, org=acme).count() == 1
    assert len(_refusals(acme)) == 1


@pytest.mark.parametrize("require_mfa", [False, True])
def test_password_sign_in_still_works_after_the_lapse(
    acme, acme_sso, provider, require_mfa
):
    """Losing SSO never locks a member out: email and password still sign in,
    whether or not the organization requires MFA."""
    from tests.factories import PASSWORD

    acme.require_mfa = require_mfa
    acme.save(update_fields=["require_mfa"])
    person = UserFactory(email=f"jo@{DOMAIN}")
    MembershipFactory(org=acme, user=person, role=Role.MEMBER)
    _lapse_sso(acme, UserFactory(is_staff=True))

    browser = Client()
    response = browser.post(
        "/accounts/login/", {"login": person.email, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    assert _logged_in_user(browser) == person
    assert not _refusals(acme)
