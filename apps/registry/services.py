"""Issuing registry tokens: who asks, what they may have, the log, the JWT.

``registry_token_issue`` is the one writer: it decides every requested scope
with ``mapping.access_decide``, records each decision in the pull log (in one
INSERT, before the token leaves) and signs a token that grants exactly
what was decided.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.cache import cache
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import (
    TOKEN_PREFIX,
    api_token_authenticate,
    api_token_cache_key,
)
from apps.accounts.standing import token_suspension
from apps.core.mixins import staff_in_standing
from apps.core.tokens import secret_hash
from apps.orgs.selectors import user_memberships

from .formats.scope import Scope
from .keys import token_key
from .mapping import PULL, Principal, access_decide
from .models import PullLogEntry

MAX_AUTHORIZATION_LENGTH = 1024
MAX_ACCOUNT_LENGTH = 254
Scopes = ApiToken.Scope


class CredentialsRefused(Exception):
    """The request is refused before any scope is decided."""

    def __init__(self, status: int, code: str, message: str, *, account: str = ""):
        super().__init__(message)
        self.status, self.code, self.message, self.account = (
            status,
            code,
            message,
            account,
        )


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(account, secret)`` from an ``Authorization: Basic`` header, None
    without one; CredentialsRefused when it cannot be read."""
    if not header:
        return None
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise CredentialsRefused(
            400, "UNSUPPORTED", "The Authorization header is too long."
        )
    kind, _, value = header.partition(" ")
    if kind.lower() != "basic":
        raise CredentialsRefused(401, "UNAUTHORIZED", "Use HTTP Basic credentials.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsRefused(
            401, "UNAUTHORIZED", "The Basic credentials are not base64 of UTF-8."
        ) from None
    account, colon, secret = decoded.partition(":")
    if not colon or not secret or "\x00" in decoded:
        raise CredentialsRefused(
            401, "UNAUTHORIZED", "The Basic credentials are not account:secret."
        )
    return account[:MAX_ACCOUNT_LENGTH], secret


# How long the token service keeps what it read of a pull token (the token,
# its suspension, whether it may push). Revoking the token drops it at once;
# a change of its creator's role or standing shows within this time, shorter
# than a registry token's lifetime.
PRINCIPAL_CACHE_SECONDS = 60


@dataclass(frozen=True)
class _TokenFacts:
    token: ApiToken
    suspension: str | None
    can_push: bool


def _token_facts(raw: str, now: datetime) -> _TokenFacts | None:
    key = api_token_cache_key(secret_hash(raw))
    facts = cache.get(key)
    if facts is not None and facts.token.is_active_at(now):
        return facts
    token = api_token_authenticate(raw=raw, now=now)
    if token is None:
        return None
    facts = _TokenFacts(
        token=token,
        suspension=token_suspension(token),
        can_push=token.has_scope(Scopes.REGISTRY_PUSH)
        and staff_in_standing(token.created_by),
    )
    cache.set(
        key,
        facts,
        timeout=min(PRINCIPAL_CACHE_SECONDS, settings.REGISTRY_TOKEN_TTL_SECONDS),
    )
    return facts


def _token_principal(account: str, raw: str, now: datetime) -> Principal:
    facts = _token_facts(raw, now)
    if facts is None:
        raise CredentialsRefused(
            401, "UNAUTHORIZED", "Unknown, expired or revoked token.", account=account
        )
    token = facts.token
    if facts.suspension is not None:
        raise CredentialsRefused(
            401,
            "DENIED",
            f"The token is suspended: {facts.suspension}.",
            account=account,
        )
    if not facts.can_push and not token.has_scope(Scopes.REGISTRY_PULL):
        raise CredentialsRefused(
            401, "DENIED", "The token has no registry:pull scope.", account=account
        )
    return Principal(
        kind="token",
        orgs=(token.org,),
        user=token.created_by,
        token=token,
        can_push=facts.can_push,
        account=token.prefix,
    )


# Failed password sign-ins allowed per email and per client address in a
# window (seconds), as the sign-in page allows them.
FAILED_SIGN_IN_LIMITS = (("email", 5, 300), ("ip", 20, 60))


def _failure_keys(account: str, ip: str) -> list[tuple[str, int, int]]:
    now = int(time.time())
    keys = []
    for kind, limit, window in FAILED_SIGN_IN_LIMITS:
        value = account.lower() if kind == "email" else ip
        digest = hashlib.sha256(value.encode()).hexdigest()[:32]
        keys.append(
            (f"registry:sign-in-failed:{kind}:{digest}:{now // window}", limit, window)
        )
    return keys


def _too_many_failures(account: str, ip: str) -> bool:
    return any(
        (cache.get(key) or 0) >= limit for key, limit, _ in _failure_keys(account, ip)
    )


def _failure_record(account: str, ip: str) -> None:
    for key, _, window in _failure_keys(account, ip):
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:
            # Expired between add and incr: the window has just turned.
            cache.add(key, 1, timeout=window)


def _password_principal(request, account: str, password: str) -> Principal:
    ip = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    if _too_many_failures(account, ip):
        raise CredentialsRefused(
            429,
            "TOOMANYREQUESTS",
            "Too many failed sign-ins: wait, or use an API token.",
            account=account,
        )
    user = authenticate(request, email=account, password=password)
    if user is None:
        _failure_record(account, ip)
    if user is None or not user.is_active:
        raise CredentialsRefused(
            401, "UNAUTHORIZED", "Wrong email or password.", account=account
        )
    if not EmailAddress.objects.filter(user=user, verified=True).exists():
        # The sign-in page lets no one in before the address is confirmed.
        raise CredentialsRefused(
            401, "DENIED", "Confirm your email address first.", account=account
        )
    orgs = tuple(m.org for m in user_memberships(user=user))
    strict = [org.name for org in orgs if org.require_mfa]
    if strict:
        raise CredentialsRefused(
            401,
            "DENIED",
            f"{', '.join(strict)} requires two-factor authentication: sign in "
            "to the registry with an API token (scope registry:pull), not a "
            "password.",
            account=account,
        )
    return Principal(kind="user", orgs=orgs, user=user, account=account)


def principal_from(
    credentials: tuple[str, str] | None, *, request=None, now: datetime
) -> Principal:
    """Who the credentials name; CredentialsRefused when they name no one
    who may use the registry."""
    if credentials is None:
        return Principal(kind="anonymous")
    account, secret = credentials
    if secret.startswith(f"{TOKEN_PREFIX}_"):
        return _token_principal(account, secret, now)
    return _password_principal(request, account, secret)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: datetime
    access: list[dict]
    # Set (and no token signed) when nothing was granted and a pull was
    # refused for a missing entitlement: the person is told why, by the
    # token endpoint, instead of the registry's bare "denied".
    refusal: str = ""


def _log(principal: Principal, scope: Scope, decision, *, ip: str | None, now):
    return PullLogEntry(
        org=decision.org or (principal.orgs[0] if len(principal.orgs) == 1 else None),
        user=principal.user,
        token=principal.token,
        account=principal.account,
        repository=scope.name,
        requested=list(scope.actions),
        granted=list(decision.granted),
        reason=decision.reason[:500],
        missing_features=list(decision.missing),
        ip=ip,
        created_at=now,
    )


def refusal_log(
    *, account: str, scopes: list[Scope], reason: str, ip: str | None, now=None
) -> None:
    """Record credentials refused on each scope they asked for."""
    now = now or timezone.now()
    PullLogEntry.objects.bulk_create(
        PullLogEntry(
            account=account,
            repository=scope.name,
            requested=list(scope.actions),
            granted=[],
            reason=reason[:500],
            ip=ip,
            created_at=now,
        )
        for scope in scopes
    )


def _sign(principal: Principal, access: list[dict], *, service: str, now) -> str:
    key = token_key()
    ttl = timedelta(seconds=settings.REGISTRY_TOKEN_TTL_SECONDS)
    claims = {
        "iss": settings.REGISTRY_TOKEN_ISSUER,
        "sub": principal.account,
        "aud": service,
        "exp": int((now + ttl).timestamp()),
        "nbf": int(now.timestamp()) - 1,
        "iat": int(now.timestamp()),
        "jti": secrets.token_urlsafe(18),
        "access": access,
    }
    headers = {"kid": key.kid, "x5c": key.x5c, "typ": "JWT"}
    return jwt.encode(claims, key.key, algorithm="ES256", headers=headers)


def registry_token_issue(
    *,
    principal: Principal,
    scopes: list[Scope],
    service: str,
    ip: str | None,
    now: datetime | None = None,
) -> IssuedToken:
    """Decide each scope, log each decision (one INSERT, before the answer
    leaves), and sign what was granted."""
    now = now or timezone.now()
    access, entries, entitlement_refusals = [], [], []
    for scope in scopes:
        decision = access_decide(principal=principal, scope=scope, at=now)
        entries.append(_log(principal, scope, decision, ip=ip, now=now))
        if decision.missing and PULL not in decision.granted:
            entitlement_refusals.append(decision.reason)
        if scope.type == "repository":
            access.append(
                {
                    "type": scope.type,
                    "name": scope.name,
                    "actions": list(decision.granted),
                }
            )
    PullLogEntry.objects.bulk_create(entries)
    if entitlement_refusals and not any(a["actions"] for a in access):
        return IssuedToken(
            token="",
            expires_in=0,
            issued_at=now,
            access=access,
            refusal="; ".join(entitlement_refusals),
        )
    token = _sign(principal, access, service=service, now=now)
    return IssuedToken(
        token=token,
        expires_in=settings.REGISTRY_TOKEN_TTL_SECONDS,
        issued_at=now,
        access=access,
    )
