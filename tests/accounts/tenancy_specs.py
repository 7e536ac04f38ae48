"""Tenancy walker specs for accounts: API tokens, SSO (tests/test_tenancy.py)."""

from apps.accounts.models import ApiToken, OrgSsoConnection
from apps.audit.models import AuditEvent
from tests.walker import (
    MANAGERS,
    ApiOp,
    ApiRoute,
    Expect,
    OrgRoute,
    Outcome,
    Post,
    SiteRoute,
    ids,
    url,
)

Scope = ApiToken.Scope


def _token_created(o: Outcome) -> None:
    token = ApiToken.objects.for_org(o.world.org).get(name="walker token")
    assert f"hip_{token.prefix}_" in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.TOKEN_CREATED)


def _token_revoked(o: Outcome) -> None:
    assert ApiToken.objects.get(pk=o.world.refs["token_pk"]).revoked_at
    assert o.new_events(AuditEvent.Action.TOKEN_REVOKED)


def _sso_configured(o: Outcome) -> None:
    assert OrgSsoConnection.objects.for_org(o.world.org).exists()
    assert o.new_events(AuditEvent.Action.SSO_CONFIGURED)


SPECS = [
    OrgRoute(
        "accounts:tokens",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {"name": "walker token", "scopes": [Scope.MEMBERS_READ]},
            status=201,  # the secret is shown once, in this response
            effect=_token_created,
        ),
    ),
    OrgRoute(
        "accounts:token_revoke",
        kwargs={"org_slug": "org_slug", "pk": "token_pk"},
        post=Post(MANAGERS, location=url("accounts:tokens"), effect=_token_revoked),
    ),
    OrgRoute(
        "accounts:sso",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {
                "issuer_url": "https://idp.acme.example",
                "client_id": "portal",
                "client_secret": "s3cret",
                "email_domains": "acme.example",
                "enabled": "on",
            },
            location=url("accounts:sso"),
            effect=_sso_configured,
        ),
    ),
    SiteRoute(
        "sso_login",
        get=lambda p: Expect(200),
        # An address no organization claims: the form says so, nothing else.
        post=lambda p: Expect(400),
        requires_login=False,
        data=lambda r: {"email": "someone@unclaimed.example"},
    ),
    ApiRoute(
        "api:token-list",
        get=ApiOp(Scope.TOKENS_READ, other="list"),
        rows=ids(ApiToken),
    ),
    ApiRoute(
        "api:token-detail",
        kwargs={"pk": "token_pk"},
        get=ApiOp(Scope.TOKENS_READ),
    ),
]
