"""The registry of trusted signers: who may sign the publisher's evidence.

Publisher staff register a public key (PEM) or a keyless identity policy
(OIDC issuer and certificate subject or subject pattern), each with a validity
window; rotate a key (the new one starts, the old one's window ends, and it
keeps vouching for what it signed inside it); and revoke one (what it signed
is no longer trusted, whenever it signed). Every change is audited. Signers
are never deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record

from .formats.keys import public_key_load
from .formats.verdict import CHECK_REVOKED, Signer
from .models import Attestation, TrustedSigner

NAME_MAX = 200
TEXT_MAX = 500
REASON_MAX = 2000


@dataclass(frozen=True)
class Window:
    not_before: datetime
    not_after: datetime | None


def _text(value: str, field: str, *, limit: int = TEXT_MAX, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: "Required."})
    if len(value) > limit:
        raise ValidationError({field: f"At most {limit} characters."})
    if any(ord(c) < 32 for c in value):
        raise ValidationError({field: "No control characters."})
    return value


def _window(not_before: datetime | None, not_after: datetime | None, now) -> Window:
    start = not_before or now
    for field, moment in (("not_before", start), ("not_after", not_after)):
        if moment is not None and timezone.is_naive(moment):
            raise ValidationError({field: "A time with its time zone."})
    if not_after is not None and not_after <= start:
        raise ValidationError(
            {"not_after": "The window ends after it starts (not_after > not_before)."}
        )
    return Window(not_before=start, not_after=not_after)


def signer_pattern_check(pattern: str) -> str:
    """A subject pattern: a regular expression the whole identity must match."""
    pattern = _text(pattern, "subject_pattern", required=True)
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValidationError(
            {"subject_pattern": f"Not a regular expression: {exc}."}
        ) from None
    if re.fullmatch(pattern, ""):
        raise ValidationError(
            {"subject_pattern": "The pattern matches an empty identity: too wide."}
        )
    return pattern


def _audit(action: str, signer: TrustedSigner, actor, request, **details) -> None:
    audit_record(
        action=action,
        actor=actor,
        target=signer,
        request=request,
        details={
            "signer": signer.name,
            "kind": signer.kind,
            **(
                {"fingerprint": signer.fingerprint, "algorithm": signer.key_algorithm}
                if signer.kind == TrustedSigner.Kind.PUBLIC_KEY
                else {
                    "issuer": signer.issuer,
                    "subject": signer.subject,
                    "subject_pattern": signer.subject_pattern,
                }
            ),
            "not_before": signer.not_before.isoformat(),
            "not_after": signer.not_after.isoformat() if signer.not_after else None,
            **details,
        },
    )


def _save(signer: TrustedSigner) -> TrustedSigner:
    try:
        with transaction.atomic():
            signer.full_clean()
            signer.save()
    except IntegrityError:
        raise ValidationError(
            {"public_key_pem": "This key is already registered."}
        ) from None
    return signer


@transaction.atomic
def signer_key_register(
    *,
    name: str,
    public_key_pem: str,
    key_id: str = "",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    actor,
    request: HttpRequest | None = None,
    replaces: TrustedSigner | None = None,
    now: datetime | None = None,
) -> TrustedSigner:
    """Register a public key (ECDSA P-256, Ed25519 or RSA, PEM) by name."""
    now = now or timezone.now()
    name = _text(name, "name", limit=NAME_MAX, required=True)
    key_id = _text(key_id, "key_id", limit=255, required=False)
    try:
        key = public_key_load(public_key_pem or "")
    except ValidationError as exc:
        raise ValidationError({"public_key_pem": exc.messages}) from None
    if TrustedSigner.objects.filter(fingerprint=key.fingerprint).exists():
        raise ValidationError({"public_key_pem": "This key is already registered."})
    window = _window(not_before, not_after, now)
    signer = _save(
        TrustedSigner(
            name=name,
            kind=TrustedSigner.Kind.PUBLIC_KEY,
            public_key_pem=key.pem,
            key_algorithm=key.algorithm,
            fingerprint=key.fingerprint,
            key_id=key_id,
            not_before=window.not_before,
            not_after=window.not_after,
            replaces=replaces,
            created_by=actor,
            created_at=now,
        )
    )
    if replaces is None:
        _audit(AuditEvent.Action.SIGNER_REGISTERED, signer, actor, request)
    return signer


@transaction.atomic
def signer_identity_register(
    *,
    name: str,
    issuer: str,
    subject: str = "",
    subject_pattern: str = "",
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    actor,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> TrustedSigner:
    """Register a keyless identity: Sigstore certificates from this OIDC
    issuer whose identity is ``subject``, or matches ``subject_pattern``."""
    now = now or timezone.now()
    name = _text(name, "name", limit=NAME_MAX, required=True)
    issuer = _text(issuer, "issuer", required=True)
    if not issuer.startswith("https://"):
        raise ValidationError(
            {"issuer": "An OIDC issuer URL (https://...), as the certificate names it."}
        )
    subject = _text(subject, "subject", required=False)
    if bool(subject) == bool((subject_pattern or "").strip()):
        raise ValidationError(
            {"subject": "Give the identity exactly, or a pattern for it: one of two."}
        )
    pattern = signer_pattern_check(subject_pattern) if not subject else ""
    window = _window(not_before, not_after, now)
    signer = _save(
        TrustedSigner(
            name=name,
            kind=TrustedSigner.Kind.IDENTITY,
            issuer=issuer,
            subject=subject,
            subject_pattern=pattern,
            not_before=window.not_before,
            not_after=window.not_after,
            created_by=actor,
            created_at=now,
        )
    )
    _audit(AuditEvent.Action.SIGNER_REGISTERED, signer, actor, request)
    return signer


@transaction.atomic
def signer_rotate(
    *,
    signer: TrustedSigner,
    public_key_pem: str,
    key_id: str = "",
    name: str = "",
    actor,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> TrustedSigner:
    """Replace a key with a new one from now on. The old key's window ends now:
    it still vouches for what it signed before, and for nothing signed later."""
    now = now or timezone.now()
    old = TrustedSigner.objects.select_for_update().get(pk=signer.pk)
    if old.kind != TrustedSigner.Kind.PUBLIC_KEY:
        raise ValidationError(
            "An identity is not rotated: register the new identity, and end or "
            "revoke this one."
        )
    if old.revoked_at is not None:
        raise ValidationError("A revoked key is not rotated: register a new key.")
    if TrustedSigner.objects.filter(replaces=old).exists():
        raise ValidationError("This key was already rotated.")
    if old.not_after is not None and old.not_after <= now:
        raise ValidationError("This key's window has already ended.")
    if old.not_before >= now:
        raise ValidationError(
            "This key's window has not started yet: revoke it and register the "
            "new key instead."
        )
    new = signer_key_register(
        name=name or old.name,
        public_key_pem=public_key_pem,
        key_id=key_id,
        not_before=now,
        actor=actor,
        request=request,
        replaces=old,
        now=now,
    )
    old.not_after = now
    old.save(update_fields=["not_after"])
    _audit(
        AuditEvent.Action.SIGNER_ROTATED,
        new,
        actor,
        request,
        replaces=old.name,
        replaced_fingerprint=old.fingerprint,
        replaced_until=now.isoformat(),
    )
    return new


@transaction.atomic
def signer_revoke(
    *,
    signer: TrustedSigner,
    reason: str,
    actor,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> int:
    """Revoke a signer: nothing it signed is trusted any more. The attestations
    it verified turn Untrusted, saying so; returns how many."""
    now = now or timezone.now()
    reason = _text(reason, "reason", limit=REASON_MAX, required=True)
    signer = TrustedSigner.objects.select_for_update().get(pk=signer.pk)
    if signer.revoked_at is not None:
        raise ValidationError(f"{signer.name} was already revoked.")
    signer.revoked_at = now
    signer.revocation_reason = reason
    signer.revoked_by = actor
    signer.save(update_fields=["revoked_at", "revocation_reason", "revoked_by"])
    message = (
        f"Signature no longer trusted: {signer.name} was revoked on "
        f"{now:%Y-%m-%d %H:%M UTC}: {reason}."
    )
    turned = Attestation.objects.filter(
        signature_signer=signer,
        signature_status=Attestation.SignatureStatus.VERIFIED,
    ).update(
        signature_status=Attestation.SignatureStatus.UNTRUSTED,
        signature_check=CHECK_REVOKED,
        signature_message=message,
        signature_checked_at=now,
    )
    _audit(
        AuditEvent.Action.SIGNER_REVOKED,
        signer,
        actor,
        request,
        reason=reason,
        attestations_untrusted=turned,
    )
    return turned


def signer_of(row: TrustedSigner) -> Signer:
    """A registered signer as the verifier takes it."""
    return Signer(
        id=row.pk,
        name=row.name,
        public_key=public_key_load(row.public_key_pem) if row.public_key_pem else None,
        key_id=row.key_id,
        issuer=row.issuer,
        subject=row.subject,
        subject_pattern=row.subject_pattern,
        not_before=row.not_before,
        not_after=row.not_after,
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
    )


def signers_for_verification() -> list[Signer]:
    """Every registered signer, revoked and ended ones too: a signature by one
    of them is told apart from a signature by nobody the portal knows."""
    return [signer_of(row) for row in TrustedSigner.objects.order_by("pk")]


def signer_list():
    """Signers for the staff page, newest window first within a name."""
    return TrustedSigner.objects.select_related(
        "created_by", "revoked_by", "replaces"
    ).order_by("name", "-not_before", "-pk")
