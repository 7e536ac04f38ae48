"""Writes about people's credentials: API tokens and per-organization SSO."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from allauth.socialaccount.models import SocialApp
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core import outbound
from apps.core.tokens import new_secret, secret_hash
from apps.entitlements.selectors import has_feature
from apps.orgs.models import Organization

from .models import ApiToken, OrgSsoConnection

Action = AuditEvent.Action
TOKEN_PREFIX = "hip"
_TOKEN_RE = re.compile(rf"^{TOKEN_PREFIX}_([A-Za-z0-9]{{12}})_([A-Za-z0-9_-]{{43}})$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


@transaction.atomic
def api_token_create(
    *,
    org: Organization,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    actor,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its secret, which is never stored."""
    now = now or timezone.now()
    errors = {}
    name = name.strip()
    if not name:
        errors["name"] = "Name the token after what will use it."
    unknown = sorted(set(scopes) - set(ApiToken.Scope.values))
    if unknown:
        errors["scopes"] = f"Unknown scopes: {', '.join(unknown)}."
    elif not scopes:
        errors["scopes"] = "Choose at least one scope."
    elif ApiToken.Scope.CATALOG_WRITE in scopes and not actor.is_staff:
        errors["scopes"] = "Only publisher staff may load catalog evidence."
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    if errors:
        raise ValidationError(errors)
    prefix = "".join(c for c in new_secret(16) if c.isalnum())[:12]
    secret = new_secret(32)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secret}"
    token = ApiToken.objects.create(
        org=org,
        name=name,
        prefix=prefix,
        token_hash=secret_hash(raw),
        scopes=sorted(set(scopes)),
        created_by=actor,
        created_at=now,
        expires_at=expires_at,
    )
    audit_record(
        action=Action.TOKEN_CREATED,
        actor=actor,
        org=org,
        target=token,
        request=request,
        details={
            "name": name,
            "scopes": token.scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, raw


@transaction.atomic
def api_token_cache_key(token_hash: str) -> str:
    """Where a reader may keep what it derived from a token (for less than a
    token lifetime); revoking the token deletes it at once."""
    return f"api-token:{token_hash}"


def api_token_revoke(
    *, token: ApiToken, actor, request: HttpRequest | None = None
) -> ApiToken:
    if token.revoked_at is not None:
        raise ValidationError("This token is already revoked.")
    token.revoked_at = timezone.now()
    token.revoked_by = actor
    token.save(update_fields=["revoked_at", "revoked_by"])
    key = api_token_cache_key(token.token_hash)
    cache.delete(key)
    # Again after commit: a reader between the two saw the token unrevoked.
    transaction.on_commit(lambda: cache.delete(key), robust=True)
    audit_record(
        action=Action.TOKEN_REVOKED,
        actor=actor,
        org=token.org,
        target=token,
        request=request,
        details={"name": token.name},
    )
    return token


def api_token_revoke_all_by(
    *, org: Organization, user, actor, request: HttpRequest | None = None
) -> int:
    """Revoke what a person created when they leave, so nothing outlives them."""
    tokens = list(
        ApiToken.objects.for_org(org).filter(created_by=user, revoked_at__isnull=True)
    )
    for token in tokens:
        api_token_revoke(token=token, actor=actor, request=request)
    return len(tokens)


def api_token_authenticate(*, raw: str, now: datetime | None = None) -> ApiToken | None:
    """The active token this secret belongs to, or None."""
    now = now or timezone.now()
    match = _TOKEN_RE.match(raw or "")
    if not match:
        return None
    token = (
        ApiToken.objects.select_related("org", "created_by")
        .filter(prefix=match.group(1), token_hash=secret_hash(raw))
        .first()
    )
    if token is None or not token.is_active_at(now):
        return None
    if not token.created_by.is_active:
        # A deactivated person's tokens stop with them.
        return None
    resolution = timedelta(seconds=settings.API_TOKEN_LAST_USED_RESOLUTION_SECONDS)
    if token.last_used_at is None or now - token.last_used_at >= resolution:
        # One write a minute at most per token, not one per request.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _clean_domains(domains: list[str]) -> list[str]:
    cleaned = sorted({d.strip().lower() for d in domains if d.strip()})
    bad = [d for d in cleaned if not _DOMAIN_RE.match(d)]
    if bad:
        raise ValidationError({"email_domains": f"Not a domain: {', '.join(bad)}."})
    if not cleaned:
        raise ValidationError({"email_domains": "Give at least one email domain."})
    return cleaned


@transaction.atomic
def org_sso_configure(
    *,
    org: Organization,
    issuer_url: str,
    client_id: str,
    client_secret: str,
    email_domains: list[str],
    enabled: bool,
    actor,
    request: HttpRequest | None = None,
) -> OrgSsoConnection:
    """Point the organization at its OpenID Connect provider."""
    # Turning SSO off stays possible after the entitlement lapses.
    if enabled and not has_feature(org=org, feature="sso"):
        raise ValidationError(
            "Single sign-on is not part of your plan; upgrade to configure it."
        )
    issuer_url = issuer_url.strip().rstrip("/")
    errors, domains = _sso_settings_errors(
        org=org, issuer_url=issuer_url, client_id=client_id, email_domains=email_domains
    )
    existing = (
        OrgSsoConnection.objects.filter(org=org).select_related("social_app").first()
    )
    if not client_secret and existing is None:
        errors["client_secret"] = "The client secret is required."
    if errors:
        raise ValidationError(errors)
    connection = _sso_connection_write(
        org=org,
        existing=existing,
        issuer_url=issuer_url,
        client_id=client_id.strip(),
        client_secret=client_secret,
        domains=domains,
        enabled=enabled,
    )
    audit_record(
        action=Action.SSO_CONFIGURED,
        actor=actor,
        org=org,
        target=connection,
        request=request,
        details={
            "issuer_url": issuer_url,
            "client_id": client_id.strip(),
            "email_domains": domains,
            "enabled": enabled,
            "secret_changed": bool(client_secret),
        },
    )
    return connection


def _sso_settings_errors(
    *, org: Organization, issuer_url: str, client_id: str, email_domains: list[str]
) -> tuple[dict[str, Any], list[str]]:
    """What is wrong with the issuer, client id and domains (a domain another
    organization's enabled SSO claims included), and the cleaned domains."""
    errors: dict[str, Any] = {}
    if not issuer_url.startswith(("https://", "http://")):
        errors["issuer_url"] = "The issuer must be an http(s) URL."
    elif refusal := _issuer_refusal(issuer_url):
        errors["issuer_url"] = refusal
    if not client_id.strip():
        errors["client_id"] = "The client id is required."
    try:
        domains = _clean_domains(email_domains)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        domains = []
    taken = (
        OrgSsoConnection.objects.exclude(org=org)
        .filter(enabled=True)
        .values_list("email_domains", flat=True)
    )
    clash = sorted({d for row in taken for d in row} & set(domains))
    if clash:
        errors["email_domains"] = (
            f"Already claimed by another organization: {', '.join(clash)}."
        )
    return errors, domains


def _issuer_refusal(issuer_url: str) -> str:
    """Why the portal may not fetch this issuer's discovery document ("" if
    it may); checked again, pinned, when it is fetched."""
    try:
        outbound.check_url(issuer_url)
    except outbound.RefusedDestination as exc:
        if exc.code == "scheme":
            return "The issuer must use https."
        return f"The portal cannot use this issuer: {exc}"
    return ""


def _sso_connection_write(
    *,
    org: Organization,
    existing: OrgSsoConnection | None,
    issuer_url: str,
    client_id: str,
    client_secret: str,
    domains: list[str],
    enabled: bool,
) -> OrgSsoConnection:
    """Create the org's SocialApp and connection, or update them (an empty
    secret keeps the one stored)."""
    # SocialApp.name is 40 characters; an organization's name may be 100.
    app_name = f"{org.name[: SocialApp._meta.get_field('name').max_length - 4]} SSO"
    if existing is None:
        app = SocialApp.objects.create(
            provider="openid_connect",
            provider_id=f"org-{org.slug}",
            name=app_name,
            client_id=client_id,
            secret=client_secret,
            settings={"server_url": issuer_url},
        )
        return OrgSsoConnection.objects.create(
            org=org, social_app=app, email_domains=domains, enabled=enabled
        )
    connection = existing
    app = connection.social_app
    app.name = app_name
    app.client_id = client_id
    if client_secret:
        app.secret = client_secret
    app.settings = {**app.settings, "server_url": issuer_url}
    app.save()
    connection.email_domains = domains
    # A domain keeps its verification only while it stays claimed.
    connection.verified_domains = [
        d for d in connection.verified_domains if d in domains
    ]
    connection.enabled = enabled
    connection.save()
    return connection


@transaction.atomic
def org_sso_verify_domains(
    *,
    connection: OrgSsoConnection,
    domains: list[str],
    actor,
    request: HttpRequest | None = None,
) -> OrgSsoConnection:
    """Publisher staff confirm the organization owns these claimed domains.

    Until then the organization's provider is trusted for no address: otherwise
    any organization could claim a domain it does not own and mint accounts in
    it (for example the address another organization granted auditor access).
    """
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only publisher staff verify SSO domains.")
    domains = sorted({d.strip().lower() for d in domains})
    unclaimed = [d for d in domains if d not in connection.email_domains]
    if unclaimed or not domains:
        raise ValidationError(
            {"domains": f"Not claimed by {connection.org}: {', '.join(unclaimed)}."}
            if unclaimed
            else {"domains": "Choose at least one claimed domain."}
        )
    connection.verified_domains = sorted(
        set(connection.verified_domains) | set(domains)
    )
    connection.save(update_fields=["verified_domains", "updated_at"])
    audit_record(
        action=Action.SSO_DOMAINS_VERIFIED,
        actor=actor,
        org=connection.org,
        target=connection,
        request=request,
        details={"domains": domains},
    )
    return connection


def org_sso_for_email(*, email: str) -> OrgSsoConnection | None:
    """The connection whose provider is trusted for this address, if any."""
    domain = email.rpartition("@")[2].strip().lower()
    if not domain:
        return None
    for connection in OrgSsoConnection.objects.filter(enabled=True).select_related(
        "org", "social_app"
    ):
        if connection.vouches_for(domain):
            return connection
    return None


@transaction.atomic
def org_sso_join(*, user, provider_id: str, request: HttpRequest | None = None):
    """Make a person who signed in through an organization's SSO its member."""
    from apps.orgs.models import Membership, Role

    connection = (
        OrgSsoConnection.objects.filter(social_app__provider_id=provider_id)
        .select_related("org")
        .first()
    )
    if connection is None:
        return None
    membership, created = Membership.objects.get_or_create(
        org=connection.org, user=user, defaults={"role": Role.MEMBER}
    )
    audit_record(
        action=Action.SSO_LOGIN,
        actor=user,
        org=connection.org,
        target=membership,
        request=request,
        details={"provider_id": provider_id, "joined": created},
    )
    if created:
        audit_record(
            action=Action.MEMBER_JOINED,
            actor=user,
            org=connection.org,
            target=membership,
            request=request,
            details={"role": membership.role, "via": "sso"},
        )
    return membership
