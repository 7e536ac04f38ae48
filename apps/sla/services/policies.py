"""SLA policies: versions (frozen once a clock uses one), contract assignments,
and which version applies to an org."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.billing.models import PlanFeature
from apps.catalog.models import Repository
from apps.entitlements.models import Feature, FeatureKey
from apps.entitlements.selectors import (
    feature_quantity,
    has_feature,
)
from apps.orgs.models import Organization

from .. import clock as arithmetic
from .. import triggers as sla_triggers
from ..models import (
    DayKind,
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    StartEvent,
)

Action = AuditEvent.Action
State = SlaClock.State

# The fields of a version a person sets; the rest is bookkeeping.
VERSION_FIELDS = (
    "critical_days",
    "high_days",
    "medium_days",
    "low_days",
    "day_kind",
    "holiday_country",
    "holiday_subdivision",
    "time_zone",
    "start_event",
    "at_risk_percent",
    "kev_caps",
    "credit_percent_per_breach",
    "credit_cap_percent",
)


# --- validation -----------------------------------------------------------


def _require_staff(actor: Any, what: str) -> None:
    if actor is None or not getattr(actor, "is_staff", False):
        raise ValidationError({"actor": f"Only publisher staff {what}."})


def _aware(value: datetime | None, field: str) -> None:
    if value is not None and timezone.is_naive(value):
        raise ValidationError({field: "Times must carry a time zone."})


def _version_terms(fields: dict[str, Any]) -> dict[str, Any]:
    """Check a version's terms; return them cleaned. Every problem at once."""
    unknown = sorted(set(fields) - set(VERSION_FIELDS))
    if unknown:
        raise ValidationError(
            {"fields": f"Unknown policy terms: {', '.join(unknown)}."}
        )
    errors: dict[str, str] = {}
    for severity in ("critical", "high", "medium", "low"):
        days = fields.get(f"{severity}_days")
        if days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or days < 1
        ):
            errors[f"{severity}_days"] = "Days are a whole number from 1 (or empty)."
    if fields.get("day_kind") not in DayKind.values:
        errors["day_kind"] = "Choose calendar or business days."
    if fields.get("start_event") not in StartEvent.values:
        errors["start_event"] = "Choose upstream_fix, disclosure, detection or release."
    percent = fields.get("at_risk_percent")
    if (
        not isinstance(percent, int)
        or isinstance(percent, bool)
        or not 1 <= percent <= 99
    ):
        errors["at_risk_percent"] = "The at-risk threshold is from 1 to 99 %."
    for name in ("credit_percent_per_breach", "credit_cap_percent"):
        value = fields.get(name)
        if value is not None and (
            not isinstance(value, int)
            or isinstance(value, bool)
            or not 0 <= value <= 100
        ):
            errors[name] = "A percentage from 0 to 100 (or empty)."
    try:
        arithmetic.zone(fields.get("time_zone") or "")
    except arithmetic.ClockError as exc:
        errors["time_zone"] = str(exc)
    country = (fields.get("holiday_country") or "").strip()
    subdivision = (fields.get("holiday_subdivision") or "").strip()
    fields["holiday_country"], fields["holiday_subdivision"] = country, subdivision
    try:
        if country:
            arithmetic.holiday_calendar(country, subdivision)
        elif subdivision:
            raise arithmetic.ClockError("A subdivision needs its country.")
    except arithmetic.ClockError as exc:
        errors["holiday_country"] = str(exc)
    if errors:
        raise ValidationError(errors)
    fields["kev_caps"] = bool(fields.get("kev_caps"))
    return fields


def _defaults() -> dict[str, Any]:
    fields = {f.name: f for f in SlaPolicyVersion._meta.concrete_fields}
    return {name: fields[name].get_default() for name in VERSION_FIELDS}


def _terms_of(version: SlaPolicyVersion) -> dict[str, Any]:
    return {name: getattr(version, name) for name in VERSION_FIELDS}


# --- policies ---------------------------------------------------------------


@transaction.atomic
def sla_policy_create(
    *,
    key: str,
    name: str,
    actor: Any,
    org: Organization | None = None,
    description: str = "",
    **terms: Any,
) -> SlaPolicyVersion:
    """A contract policy and its first version. Plans' default policies are
    data (defaults.py), loaded by migration."""
    _require_staff(actor, "write SLA policies")
    key, name = key.strip(), name.strip()
    errors = {}
    if not key:
        errors["key"] = "Give the policy a key."
    elif SlaPolicy.objects.filter(key=key).exists():
        errors["key"] = "A policy with this key exists."
    if not name:
        errors["name"] = "Give the policy a name."
    if errors:
        raise ValidationError(errors)
    cleaned = _version_terms({**_defaults(), **terms})
    policy = SlaPolicy.objects.create(
        key=key, name=name, description=description, org=org
    )
    version = SlaPolicyVersion.objects.create(
        policy=policy, version=1, created_by=actor, **cleaned
    )
    audit_record(
        action=Action.SLA_POLICY_CREATED,
        actor=actor,
        org=org,
        target=policy,
        details={"key": key, "version": 1, "terms": cleaned},
    )
    return version


@transaction.atomic
def sla_policy_version_create(
    *, policy: SlaPolicy, actor: Any, **changes: Any
) -> SlaPolicyVersion:
    """Change a policy: a new version with the latest one's terms and the
    changes. Clocks already opened keep the version they were opened with."""
    _require_staff(actor, "write SLA policies")
    # The policy row is the lock that keeps version numbers from colliding.
    policy = SlaPolicy.objects.select_for_update().get(pk=policy.pk)
    latest = policy.versions.order_by("-version").first()
    base = _terms_of(latest) if latest else _defaults()
    cleaned = _version_terms({**base, **changes})
    number = (latest.version if latest else 0) + 1
    version = SlaPolicyVersion.objects.create(
        policy=policy, version=number, created_by=actor, **cleaned
    )
    audit_record(
        action=Action.SLA_POLICY_VERSIONED,
        actor=actor,
        org=policy.org,
        target=version,
        details={"policy": policy.key, "version": number, "changes": changes},
    )
    # A new version may bring findings into scope (a severity given days).
    sla_triggers.policy_changed(org_id=policy.org_id)
    return version


@transaction.atomic
def sla_policy_version_update(
    *, version: SlaPolicyVersion, actor: Any, **changes: Any
) -> SlaPolicyVersion:
    """Correct a version no clock has used yet. A frozen version refuses: its
    terms are what existing clocks were measured by; make a new version."""
    _require_staff(actor, "write SLA policies")
    version = SlaPolicyVersion.objects.select_for_update().get(pk=version.pk)
    if version.frozen_at is not None or version.clocks.exists():
        raise ValidationError(
            {"version": "This version is in use by clocks; create a new version."}
        )
    cleaned = _version_terms({**_terms_of(version), **changes})
    for name, value in cleaned.items():
        setattr(version, name, value)
    version.save(update_fields=list(cleaned))
    audit_record(
        action=Action.SLA_POLICY_VERSIONED,
        actor=actor,
        org=version.policy.org,
        target=version,
        details={"version": version.version, "corrected": changes},
    )
    sla_triggers.policy_changed(org_id=version.policy.org_id)
    return version


@transaction.atomic
def sla_policy_assign(
    *,
    org: Organization,
    policy: SlaPolicy,
    effective_from: datetime,
    effective_to: datetime | None = None,
    actor: Any,
    monthly_fee_cents: int | None = None,
) -> SlaPolicyAssignment:
    """Put a contract policy in effect for an organization over a period. It
    applies to clocks opened in that period; earlier clocks keep theirs."""
    _require_staff(actor, "assign SLA policies")
    _aware(effective_from, "effective_from")
    _aware(effective_to, "effective_to")
    if effective_to is not None and effective_to <= effective_from:
        raise ValidationError({"effective_to": "The end must come after the start."})
    if policy.org_id is not None and policy.org_id != org.pk:
        raise ValidationError(
            {"policy": "This policy was written for another customer."}
        )
    if not policy.versions.exists():
        raise ValidationError({"policy": "This policy has no version yet."})
    if monthly_fee_cents is not None and monthly_fee_cents < 0:
        raise ValidationError({"monthly_fee_cents": "A fee is not negative."})
    assignment = SlaPolicyAssignment.objects.create(
        org=org,
        policy=policy,
        effective_from=effective_from,
        effective_to=effective_to,
        monthly_fee_cents=monthly_fee_cents,
        created_by=actor,
    )
    audit_record(
        action=Action.SLA_POLICY_ASSIGNED,
        actor=actor,
        org=org,
        target=assignment,
        details={
            "policy": policy.key,
            "effective_from": effective_from.isoformat(),
            "effective_to": effective_to.isoformat() if effective_to else None,
            "monthly_fee_cents": monthly_fee_cents,
        },
    )
    sla_triggers.policy_changed(org_id=org.pk)
    return assignment


def assignment_in_effect(
    *, org: Organization, at: datetime
) -> SlaPolicyAssignment | None:
    """The latest-starting assignment in effect at ``at``."""
    return (
        SlaPolicyAssignment.objects.for_org(org)
        .filter(effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .select_related("policy")
        .order_by("-effective_from", "-id")
        .first()
    )


def _holds_plan(
    org: Organization, grants: list[Any], repository: Any, at: datetime
) -> bool:
    """Every grant of the plan is live for the org, counted ones in at least
    the plan's quantity (None: unlimited)."""
    for grant in grants:
        key = grant.feature.key
        if not has_feature(org=org, feature=key, repository=repository, at=at):
            return False
        if grant.feature.kind == Feature.Kind.COUNTED:
            held = feature_quantity(org=org, feature=key, repository=repository, at=at)
            if held is not None and (grant.quantity is None or held < grant.quantity):
                return False
    return True


def _plan_defaults() -> list[SlaPolicy]:
    """The plans' default policies, highest plan first, each with its plan's
    grants and their features (two queries)."""
    return list(
        SlaPolicy.objects.filter(plan__isnull=False, org__isnull=True)
        .select_related("plan")
        .prefetch_related(
            Prefetch(
                "plan__grants", queryset=PlanFeature.objects.select_related("feature")
            )
        )
        .order_by("-plan__position", "plan__key")
    )


def default_policy(
    *,
    org: Organization,
    repository: Repository | None = None,
    at: datetime,
    defaults: list[SlaPolicy] | None = None,
) -> SlaPolicy | None:
    """The default policy of the highest plan whose grants the org holds."""
    for policy in _plan_defaults() if defaults is None else defaults:
        plan = policy.plan
        grants = list(plan.grants.all()) if plan is not None else []
        if grants and _holds_plan(org, grants, repository, at):
            return policy
    return None


@dataclass(frozen=True)
class PolicyResolution:
    """Which policy version governs new clocks for an org, and why."""

    version: SlaPolicyVersion | None
    # "contract", "plan" (the org holds a whole plan), "feature" (the org
    # holds `sla` without a whole plan: the plan granting it governs), or
    # "" when nothing applies.
    source: str
    explanation: str


def _feature_default(
    *,
    org: Organization,
    repository: Repository | None,
    at: datetime,
    defaults: list[SlaPolicy],
) -> SlaPolicy | None:
    """An org holding `sla` by contract or trial without a whole plan: the
    default policy of the lowest plan that grants `sla` (the tier the
    feature belongs to), so an entitled org is never without a policy."""
    if not has_feature(org=org, feature=FeatureKey.SLA, repository=repository, at=at):
        return None
    granting = [
        (policy.plan.position, policy.plan.key, policy)
        for policy in defaults
        if policy.plan is not None
        and any(g.feature.key == FeatureKey.SLA for g in policy.plan.grants.all())
    ]
    return min(granting, key=lambda row: row[:2], default=(0, "", None))[2]


def policy_resolution(
    *, org: Organization, repository: Repository | None = None, at: datetime
) -> PolicyResolution:
    """The contract policy assigned at ``at``; else the default policy of the
    highest plan whose grants the org holds; else, for an org holding `sla`
    alone (a contract or trial entitlement), the default policy of the lowest
    plan granting `sla`. Nothing only when the org does not hold `sla` or no
    default policy exists at all."""
    assignment = assignment_in_effect(org=org, at=at)
    policy: SlaPolicy | None
    if assignment is not None:
        policy, source = assignment.policy, "contract"
        since = f"{assignment.effective_from:%Y-%m-%d}"
        why = f"contract policy {policy.name}, assigned from {since}"
    else:
        defaults = _plan_defaults()
        policy = default_policy(
            org=org, repository=repository, at=at, defaults=defaults
        )
        source = "plan"
        why = f"default policy of the {policy.plan} plan" if policy else ""
        if policy is None:
            policy = _feature_default(
                org=org, repository=repository, at=at, defaults=defaults
            )
            source = "feature"
            why = (
                f"no contract policy: the SLA entitlement takes the default "
                f"policy of the {policy.plan} plan, the lowest that grants it"
                if policy
                else ""
            )
    version = policy.versions.order_by("-version").first() if policy else None
    if version is None:
        return PolicyResolution(None, "", "no contract policy and no default policy")
    return PolicyResolution(version, source, why)


def policy_version_in_effect(
    *, org: Organization, repository: Repository | None = None, at: datetime
) -> SlaPolicyVersion | None:
    """The version new clocks take (see policy_resolution)."""
    return policy_resolution(org=org, repository=repository, at=at).version
