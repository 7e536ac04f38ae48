from django.test import Client
from urllib.parse import urlsplit
from tests.accounts.test_sso import (
    _sso_login,
    _start,
    _logged_in_user,
    DOMAIN,
    acme,
    acme_owner,
    acme_sso,
    provider,
    oidc_server,
)  # noqa
from tests.factories import UserFactory, MembershipFactory
from apps.orgs.models import Role


def test_existing_user(acme, acme_sso, provider, mailoutbox):
    u = UserFactory(email=f"alice@{DOMAIN}")
    MembershipFactory(org=acme, user=u, role=Role.MEMBER)
    provider.set_user("alice-x", email=f"alice@{DOMAIN}", email_verified=True)
    b = Client()
    r = _sso_login(b, provider, email=f"alice@{DOMAIN}", sub="alice-x")
    print(r.status_code, r.get("Location"))
    if r.status_code == 302:
        r2 = b.get(r["Location"])
        print(r2.status_code, r2.content.decode()[:3000])
    print([(m.subject, m.body[:500]) for m in mailoutbox])
    print(_logged_in_user(b))


def test_unreachable(acme, acme_sso, provider):
    app = acme_sso.social_app
    app.settings = {"server_url": "http://127.0.0.1:1"}
    app.save()
    r = Client(raise_request_exception=False).post("/sso/", {"email": f"a@{DOMAIN}"})
    print(r.status_code)


def test_deny(acme, acme_sso, provider):
    b = Client()
    url = _start(b, f"a@{DOMAIN}", provider)
    r = provider.http.post(url, data={"action": "deny"})
    print(r.status_code, r.headers.get("location"))
    loc = urlsplit(r.headers["location"])
    r = b.get(f"{loc.path}?{loc.query}")
    print(r.status_code, r.content.decode()[:1500])


def test_long_name(db, provider, client_for):
    from tests.factories import OrganizationFactory

    org = OrganizationFactory(name="A" * 100, slug="longname")
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    from tests.accounts.test_sso import _configure

    r = client_for(owner).post(
        "/o/longname/sso/",
        {
            "issuer_url": provider.url,
            "client_id": "x",
            "client_secret": "y",
            "email_domains": "long.example",
            "enabled": "on",
        },
    )
    print(r.status_code)
