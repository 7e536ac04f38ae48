"""Writes about entitlements and mirrors. Every one is audit-logged.

Contracts (enterprise deals outside Stripe) and trials are granted and ended
by publisher staff only. Subscription entitlements are the Stripe side's to
write; ending works the same for all sources.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.catalog.models import Repository, Series, Variant
from apps.sla import triggers as sla_triggers

from .models import Entitlement, Feature, FeatureKey, Mirror
from .selectors import entitlements_for, entitlements_forget

Action = AuditEvent.Action
Source = Entitlement.Source


def _require_staff(actor) -> None:
    if actor is None or not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only publisher staff grant or end entitlements.")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _grant(
    *,
    org,
    feature: str,
    repository: Repository | None,
    quantity: int | None,
    starts_at: datetime,
    ends_at: datetime | None,
    source: str,
    reference: str,
    actor,
    request: HttpRequest | None,
    recheck: bool = True,
) -> Entitlement:
    errors: dict[str, Any] = {}
    found = Feature.objects.filter(key=feature).first()
    if found is None:
        errors["feature"] = f"There is no feature {feature!r}."
    elif quantity is not None and found.kind != Feature.Kind.COUNTED:
        errors["quantity"] = f"{found.name} is on or off; it takes no quantity."
    if repository is not None and not (
        isinstance(repository, Repository)
        and Repository.objects.filter(pk=repository.pk).exists()
    ):
        errors["repository"] = "Choose a repository of the catalog."
    reference = reference.strip()
    if not reference:
        errors["reference"] = "Give a reference (contract number or reason)."
    if timezone.is_naive(starts_at) or (ends_at and timezone.is_naive(ends_at)):
        errors["starts_at"] = "Times must carry a time zone."
    elif ends_at is not None and ends_at <= starts_at:
        errors["ends_at"] = "The end must come after the start."
    if errors or found is None:
        raise ValidationError(errors)
    entitlement = Entitlement.objects.create(
        org=org,
        feature=found,
        repository=repository,
        quantity=quantity,
        starts_at=starts_at,
        ends_at=ends_at,
        source=source,
        reference=reference,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        action=Action.ENTITLEMENT_GRANTED,
        actor=actor,
        org=org,
        target=entitlement,
        request=request,
        details={
            "feature": feature,
            "repository": repository.name if repository else None,
            "quantity": quantity,
            "starts_at": _iso(starts_at),
            "ends_at": _iso(ends_at),
            "source": source,
            "reference": reference,
        },
    )
    entitlements_forget(org=org)
    if recheck:
        mirrors_recheck(org=org, actor=actor, request=request)
    if found.key == FeatureKey.SLA:
        sla_triggers.sla_entitlement_started(org_id=org.pk)
    return entitlement


@transaction.atomic
def entitlement_grant_contract(
    *,
    org,
    feature: str,
    repository: Repository | None = None,
    reference: str,
    starts_at: datetime,
    ends_at: datetime | None,
    actor,
    quantity: int | None = None,
    request: HttpRequest | None = None,
) -> Entitlement:
    """An enterprise deal outside Stripe: contract reference, start, end."""
    _require_staff(actor)
    return _grant(
        org=org,
        feature=feature,
        repository=repository,
        quantity=quantity,
        starts_at=starts_at,
        ends_at=ends_at,
        source=Source.CONTRACT,
        reference=reference,
        actor=actor,
        request=request,
    )


@transaction.atomic
def entitlement_grant_trial(
    *,
    org,
    feature: str,
    ends_at: datetime,
    actor,
    repository: Repository | None = None,
    quantity: int | None = None,
    reference: str = "Trial",
    starts_at: datetime | None = None,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> Entitlement:
    """A trial starts now (or at ``starts_at``) and always has an end."""
    _require_staff(actor)
    now = now or timezone.now()
    if ends_at is None or (timezone.is_aware(ends_at) and ends_at <= now):
        raise ValidationError({"ends_at": "A trial ends in the future."})
    return _grant(
        org=org,
        feature=feature,
        repository=repository,
        quantity=quantity,
        starts_at=starts_at or now,
        ends_at=ends_at,
        source=Source.TRIAL,
        reference=reference,
        actor=actor,
        request=request,
    )


@transaction.atomic
def entitlement_end(
    *,
    entitlement: Entitlement,
    at: datetime,
    actor,
    reason: str,
    request: HttpRequest | None = None,
    recheck: bool = True,
) -> Entitlement:
    """Set the end; the row stays as evidence. Ending only ever shortens.

    Staff end contracts and trials; a subscription's rows are also ended by the
    system (actor None: the Stripe worker), never by a customer.
    """
    entitlement = Entitlement.objects.select_for_update().get(pk=entitlement.pk)
    if not (entitlement.source == Source.SUBSCRIPTION and actor is None):
        _require_staff(actor)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": "Say why the entitlement ends."})
    if timezone.is_naive(at):
        raise ValidationError({"at": "The time must carry a time zone."})
    if entitlement.ends_at is not None and entitlement.ends_at <= at:
        raise ValidationError({"at": "The entitlement already ends by then."})
    if at <= entitlement.starts_at:
        raise ValidationError({"at": "The end must come after the start."})
    previous = entitlement.ends_at
    entitlement.ends_at = at
    entitlement.ended_by = actor
    entitlement.end_reason = reason
    entitlement.save(update_fields=["ends_at", "ended_by", "end_reason"])
    audit_record(
        action=Action.ENTITLEMENT_ENDED,
        actor=actor,
        org=entitlement.org,
        target=entitlement,
        request=request,
        details={
            "feature": entitlement.feature.key,
            "ends_at": _iso(at),
            "previous_ends_at": _iso(previous),
            "reason": reason,
        },
    )
    entitlements_forget(org=entitlement.org)
    if recheck:
        mirrors_recheck(org=entitlement.org, actor=actor, request=request)
    return entitlement


@transaction.atomic
def entitlements_grant_plan(
    *,
    org,
    grants: Iterable[tuple[str, int | None]],
    starts_at: datetime,
    ends_at: datetime | None,
    reference: str,
    actor=None,
    request: HttpRequest | None = None,
) -> list[Entitlement]:
    """One subscription row per feature a plan grants (``grants``: feature key
    and quantity pairs, read from the plan by billing), with its quantity.

    For the Stripe side: a subscription (or add-on) that becomes active calls
    this with the subscription item id as ``reference``; a cancellation ends
    the rows with entitlement_end(actor=None). Customers never call it.
    """
    if actor is not None:
        _require_staff(actor)
    rows = [
        _grant(
            org=org,
            feature=feature,
            repository=None,
            quantity=quantity,
            starts_at=starts_at,
            ends_at=ends_at,
            source=Source.SUBSCRIPTION,
            reference=reference,
            actor=actor,
            request=request,
            recheck=False,
        )
        for feature, quantity in grants
    ]
    # Once for the whole plan, not once per feature.
    mirrors_recheck(org=org, actor=actor, request=request)
    return rows


# --------------------------------------------------------------------------
# Mirrors
# --------------------------------------------------------------------------

# Flag -> (feature key, what the repository must have for the flag to mean
# anything, the name in messages).
_FLAGS = {
    "include_fips": ("fips", "FIPS"),
    "include_stig": ("stig", "STIG"),
    "include_els": ("els", "ELS"),
}


def _has_content(repository: Repository, flag: str) -> bool:
    variants = Variant.objects.filter(series__repository=repository)
    if flag == "include_fips":
        return variants.filter(fips=True).exists()
    if flag == "include_stig":
        return variants.filter(stig=True).exists()
    return Series.objects.filter(repository=repository, els_end__isnull=False).exists()


def _missing(mirror_flags: dict[str, bool], org, repository, at) -> list[str]:
    ents = entitlements_for(org=org)
    return [
        label
        for flag, (feature, label) in _FLAGS.items()
        if mirror_flags.get(flag)
        and not ents.has(feature, repository=repository, at=at)
    ]


@transaction.atomic
def mirror_add(
    *,
    org,
    repository: Repository,
    actor,
    include_fips: bool = False,
    include_stig: bool = False,
    include_els: bool = False,
    request: HttpRequest | None = None,
) -> Mirror:
    """Mirroring a repository is free; its FIPS, STIG or ELS content is not."""
    flags = {
        "include_fips": include_fips,
        "include_stig": include_stig,
        "include_els": include_els,
    }
    errors: dict[str, Any] = {}
    if Mirror.objects.for_org(org).filter(repository=repository).exists():
        errors["repository"] = f"{repository.name} is already mirrored."
    for flag, (_, label) in _FLAGS.items():
        if flags[flag] and not _has_content(repository, flag):
            errors[flag] = f"{repository.name} has no {label} content."
    if errors:
        raise ValidationError(errors)
    missing = _missing(flags, org, repository, timezone.now())
    if missing:
        raise ValidationError(
            f"Your plan does not include {' and '.join(missing)} for "
            f"{repository.name}. Mirror it without them, or upgrade."
        )
    mirror = Mirror.objects.create(
        org=org, repository=repository, created_by=actor, **flags
    )
    sla_triggers.mirror_added(mirror_id=mirror.pk)
    audit_record(
        action=Action.MIRROR_ADDED,
        actor=actor,
        org=org,
        target=mirror,
        request=request,
        details={"repository": repository.name, **flags},
    )
    return mirror


@transaction.atomic
def mirror_remove(*, mirror: Mirror, actor, request: HttpRequest | None = None) -> None:
    audit_record(
        action=Action.MIRROR_REMOVED,
        actor=actor,
        org=mirror.org,
        target=mirror,
        request=request,
        details={"repository": mirror.repository.name, "status": mirror.status},
    )
    org_id, repository_id = mirror.org_id, mirror.repository_id
    mirror.delete()
    # Its clocks stop (kept as history) and resume if it is mirrored again.
    sla_triggers.mirror_removed(org_id=org_id, repository_id=repository_id)


@transaction.atomic
def mirrors_recheck(
    *,
    org,
    at: datetime | None = None,
    actor=None,
    request: HttpRequest | None = None,
) -> list[Mirror]:
    """Mark mirrors whose entitlement lapsed, and restore those it came back for.

    A lapsed mirror is kept (the customer still has it) and shown as such.
    Returns the mirrors whose status changed.
    """
    at = at or timezone.now()
    changed = []
    mirrors = Mirror.objects.for_org(org).select_related("repository")
    for mirror in mirrors.select_for_update(of=("self",)):
        flags = {flag: getattr(mirror, flag) for flag in _FLAGS}
        missing = _missing(flags, org, mirror.repository, at)
        if missing and mirror.status == Mirror.Status.ACTIVE:
            mirror.status = Mirror.Status.ENTITLEMENT_LOST
            mirror.lost_at = at
            mirror.lost_reason = f"No {' or '.join(missing)} entitlement."
            action = Action.MIRROR_ENTITLEMENT_LOST
        elif not missing and mirror.status == Mirror.Status.ENTITLEMENT_LOST:
            mirror.status = Mirror.Status.ACTIVE
            mirror.lost_at = None
            mirror.lost_reason = ""
            action = Action.MIRROR_ENTITLEMENT_RESTORED
        else:
            continue
        mirror.save(update_fields=["status", "lost_at", "lost_reason"])
        audit_record(
            action=action,
            actor=actor,
            org=org,
            target=mirror,
            request=request,
            details={"repository": mirror.repository.name, "missing": missing},
        )
        changed.append(mirror)
    return changed
