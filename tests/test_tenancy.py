import pytest
from apps.accounts.services import api_token_create
from apps.accounts.models import ApiToken
from tests.factories import UserFactory, AuditorGrantFactory


@pytest.mark.django_db
def test_probe(client, owner, org, client_for):
    tok, raw = api_token_create(
        org=org, name="x", scopes=["members:read"], expires_at=None, actor=owner.user
    )
    h = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    for m, url in [
        ("get", "/api/v1/auditor-grants/1/revoke/"),
        ("post", "/api/v1/members/"),
        ("get", "/api/v1/members/"),
        ("options", "/api/v1/members/"),
        ("post", "/api/v1/schema/"),
        ("get", "/api/v1/members.json"),
        ("get", "/api/v1/members/abc/"),
    ]:
        r = getattr(client, m)(url, **h)
        print(m, url, r.status_code, r.content[:200])
    r = client.get("/api/v1/members/")
    print("anon", r.status_code, r.headers.get("WWW-Authenticate"), r.content)
    c = client_for(owner.user)
    r = c.get("/api/v1/members/")
    print("session", r.status_code, r.content)
    staff = UserFactory(is_staff=True)
    for u in [None, owner.user, staff]:
        cl = client_for(u) if u else client
        for url in [
            "/admin/",
            "/admin/orgs/organization/",
            "/admin/jsi18n/",
            "/admin/r/1/1/",
            "/admin/nonexistent/",
            "/admin/logout/",
            "/admin/login/",
            "/admin/accounts/user/1/password/",
            "/admin/orgs/",
        ]:
            r = cl.get(url)
            print(u, url, r.status_code, r.get("Location"))
