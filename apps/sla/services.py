"""Writes to the SLA ledger: policies and their versions, assignments, clocks,
exemptions, waivers and the periodic transitions.

What a person does (policy edits, assignments, waivers, VEX exemptions) is
audit-logged. Opening clocks and the transitions are the system's bookkeeping:
their inputs (findings, mirrors, entitlements) carry their own audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, Exists, Min, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.billing.models import Feature, FeatureKey
from apps.catalog.models import Repository
from apps.entitlements.models import Entitlement, Mirror
from apps.entitlements.selectors import (
    entitlement_cache,
    feature_quantity,
    has_feature,
)
from apps.orgs.models import Organization
from apps.vulns.models import Finding, VexStatement

from . import clock as arithmetic
from .models import (
    DayKind,
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
    StartEvent,
)

Action = AuditEvent.Action
State = SlaClock.State
BATCH = 2000

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


def default_policy(
    *, org: Organization, repository: Repository | None = None, at: datetime
) -> SlaPolicy | None:
    """The default policy of the highest plan whose grants the org holds."""
    policies = (
        SlaPolicy.objects.filter(plan__isnull=False, org__isnull=True)
        .select_related("plan")
        .prefetch_related("plan__grants__feature")
        .order_by("-plan__position", "plan__key")
    )
    for policy in policies:
        plan = policy.plan
        grants = list(plan.grants.all()) if plan is not None else []
        if grants and _holds_plan(org, grants, repository, at):
            return policy
    return None


def policy_version_in_effect(
    *, org: Organization, repository: Repository | None = None, at: datetime
) -> SlaPolicyVersion | None:
    """The latest version of the contract policy assigned at ``at``, else of
    the default policy of the org's plan; None when neither applies."""
    assignment = assignment_in_effect(org=org, at=at)
    policy = assignment.policy if assignment else None
    if policy is None:
        policy = default_policy(org=org, repository=repository, at=at)
    if policy is None:
        return None
    return policy.versions.order_by("-version").first()


# --- opening clocks -----------------------------------------------------------


def _coverage_start(org: Organization, mirror: Mirror, at: datetime) -> datetime:
    """When the org's coverage of the mirror's repository began: the later of
    the mirror's creation and the earliest live sla entitlement row for it."""
    entitled_since = (
        Entitlement.objects.for_org(org)
        .live(at=at)
        .filter(feature__key=FeatureKey.SLA)
        .filter(Q(repository__isnull=True) | Q(repository_id=mirror.repository_id))
        .aggregate(since=Min("starts_at"))["since"]
    )
    return max(mirror.created_at, entitled_since or at)


@dataclass
class _Opener:
    """Builds unsaved clocks for one org and repository at one time."""

    org: Organization
    version: SlaPolicyVersion
    coverage_start: datetime
    now: datetime

    def build(self, finding: Finding) -> SlaClock | None:
        days = self.version.days_for(finding.severity)
        if days is None:
            return None
        events = arithmetic.Events(
            disclosed_at=finding.disclosed_at or finding.vulnerability.disclosed_at,
            upstream_fix_at=finding.upstream_fix_at,
            detected_at=finding.detected_at,
            released_at=finding.digest.built_at,
        )
        event, started_at = arithmetic.clock_start(events, self.version.start_event)
        if started_at < self.coverage_start:
            event, started_at = arithmetic.COVERAGE, self.coverage_start
        due_at, capped = arithmetic.due(
            started_at,
            days,
            self.version.calendar,
            kev_due_date=finding.vulnerability.kev_due_date,
            kev_caps=self.version.kev_caps,
        )
        return SlaClock(
            org=self.org,
            finding=finding,
            policy_version=self.version,
            severity=finding.severity,
            start_event=event,
            started_at=started_at,
            due_at=due_at,
            at_risk_at=arithmetic.at_risk(
                started_at, due_at, self.version.at_risk_percent
            ),
            kev_capped=capped,
            created_at=self.now,
        )


def _affected(findings: QuerySet[Finding]) -> QuerySet[Finding]:
    return findings.filter(status=Finding.Status.AFFECTED).select_related(
        "vulnerability", "digest"
    )


def _open(
    *, org: Organization, mirror: Mirror, findings: Iterable[Finding], now: datetime
) -> int:
    """Open clocks on ``findings`` for the org (idempotent); return how many
    rows were offered to the database (existing ones are skipped by it)."""
    with entitlement_cache():
        return _open_entitled(org=org, mirror=mirror, findings=findings, now=now)


def _open_entitled(
    *, org: Organization, mirror: Mirror, findings: Iterable[Finding], now: datetime
) -> int:
    repository = mirror.repository
    # Checked at the clock's creation: the entitlement is held now, and the
    # clock never starts before the coverage began (see _coverage_start), so
    # the org also held it at the clock's start.
    if not has_feature(org=org, feature=FeatureKey.SLA, repository=repository, at=now):
        return 0
    version = policy_version_in_effect(org=org, repository=repository, at=now)
    if version is None:
        return 0
    opener = _Opener(org, version, _coverage_start(org, mirror, now), now)
    offered = 0
    batch: list[SlaClock] = []
    for finding in findings:
        built = opener.build(finding)
        if built is not None:
            batch.append(built)
        if len(batch) >= BATCH:
            offered += _insert(batch, version, now)
            batch = []
    if batch:
        offered += _insert(batch, version, now)
    return offered


def _insert(batch: list[SlaClock], version: SlaPolicyVersion, now: datetime) -> int:
    SlaClock.objects.bulk_create(batch, ignore_conflicts=True)
    # A version is frozen the moment a clock may refer to it.
    SlaPolicyVersion.objects.filter(pk=version.pk, frozen_at__isnull=True).update(
        frozen_at=now
    )
    return len(batch)


@transaction.atomic
def sla_clocks_open_for_finding(
    *, finding: Finding, now: datetime | None = None
) -> int:
    """A finding appeared: a clock for each org mirroring its repository."""
    now = now or timezone.now()
    if finding.status != Finding.Status.AFFECTED:
        return 0
    finding = _affected(Finding.objects.filter(pk=finding.pk)).get()
    repository_id = finding.digest.variant.series.repository_id
    offered = 0
    for mirror in Mirror.objects.filter(repository_id=repository_id).select_related(
        "org", "repository"
    ):
        offered += _open(org=mirror.org, mirror=mirror, findings=[finding], now=now)
    return offered


@transaction.atomic
def sla_clocks_open_for_mirror(*, mirror: Mirror, now: datetime | None = None) -> int:
    """An org started mirroring: clocks on the repository's affected findings."""
    now = now or timezone.now()
    findings = _affected(
        Finding.objects.filter(digest__variant__series__repository=mirror.repository_id)
    ).order_by("pk")
    return _open(
        org=mirror.org, mirror=mirror, findings=findings.iterator(BATCH), now=now
    )


@transaction.atomic
def sla_clocks_open_for_repositories(
    *, digest_ids: list[int] | None, now: datetime | None = None
) -> int:
    """Findings were matched for these digests (None: the whole catalog):
    clocks for every org mirroring one of their repositories."""
    now = now or timezone.now()
    mirrors = Mirror.objects.select_related("org", "repository")
    if digest_ids is not None:
        mirrors = mirrors.filter(
            repository__series__variants__digests__pk__in=digest_ids
        ).distinct()
    return sum(
        sla_clocks_open_for_mirror(mirror=mirror, now=now)
        for mirror in mirrors.order_by("pk")
    )


@transaction.atomic
def sla_clocks_open_for_entitlement(
    *, org: Organization, now: datetime | None = None
) -> int:
    """An sla entitlement started: clocks on every mirrored repository."""
    now = now or timezone.now()
    return sum(
        sla_clocks_open_for_mirror(mirror=mirror, now=now)
        for mirror in Mirror.objects.for_org(org).select_related("org", "repository")
    )


# --- stopping clocks ------------------------------------------------------------


def _vex_matches(statement: VexStatement) -> Q:
    match = Q(finding__vulnerability_id=statement.vulnerability_id)
    if statement.digest_id is not None:
        match &= Q(finding__digest_id=statement.digest_id)
    elif statement.repository_id is not None:
        match &= Q(
            finding__digest__variant__series__repository_id=statement.repository_id
        )
    else:
        # A statement about no product the catalog knows exempts nothing.
        return Q(pk__in=[])
    if statement.subcomponent:
        match &= Q(finding__component__purl=statement.subcomponent)
    return match


@transaction.atomic
def sla_clocks_exempt_by_vex(
    *, statement: VexStatement, actor: Any = None, now: datetime | None = None
) -> int:
    """A not_affected statement stops the running clocks it covers as exempt,
    with its justification. Clocks already met or missed stay decided."""
    now = now or timezone.now()
    if statement.status != VexStatement.Status.NOT_AFFECTED:
        return 0
    reason = (
        statement.get_justification_display()
        if statement.justification
        else statement.impact_statement
    )
    # Resolve the ids first: an UPDATE cannot join, and the matches go
    # through the finding.
    ids = list(
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .filter(_vex_matches(statement))
        .values_list("pk", flat=True)
    )
    count = SlaClock.objects.filter(pk__in=ids, state__in=SlaClock.RUNNING).update(
        state=State.EXEMPT,
        stopped_at=now,
        stop_reason=SlaClock.StopReason.VEX,
        exempt_reason=reason,
        vex_statement=statement,
    )
    if count:
        audit_record(
            action=Action.SLA_CLOCK_EXEMPTED,
            actor=actor,
            target=statement,
            details={
                "vex_statement": statement.pk,
                "vulnerability": statement.vulnerability_id,
                "justification": statement.justification,
                "clocks": count,
            },
        )
    return count


@transaction.atomic
def sla_waiver_request(
    *,
    clock: SlaClock,
    actor: Any,
    reason: str,
    expires_at: datetime,
    now: datetime | None = None,
) -> SlaWaiver:
    """Staff ask to stop a running clock until ``expires_at``; another staff
    member decides."""
    now = now or timezone.now()
    _require_staff(actor, "request waivers")
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the clock should stop."
    if expires_at is None or timezone.is_naive(expires_at):
        errors["expires_at"] = "Give an expiry with a time zone."
    elif expires_at <= now:
        errors["expires_at"] = "The expiry must be in the future."
    clock = SlaClock.objects.select_for_update().get(pk=clock.pk)
    if clock.state not in SlaClock.RUNNING:
        errors["clock"] = "Only a running clock can be waived."
    elif clock.waivers.filter(
        state__in=[SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED]
    ).exists():
        errors["clock"] = "This clock already has a waiver pending."
    if errors:
        raise ValidationError(errors)
    waiver = SlaWaiver.objects.create(
        clock=clock,
        requested_by=actor,
        reason=reason,
        expires_at=expires_at,
        created_at=now,
    )
    audit_record(
        action=Action.SLA_WAIVER_REQUESTED,
        actor=actor,
        org=clock.org,
        target=waiver,
        details={
            "clock": clock.pk,
            "reason": reason,
            "expires_at": expires_at.isoformat(),
        },
    )
    return waiver


def _pending(waiver: SlaWaiver) -> SlaWaiver:
    waiver = (
        SlaWaiver.objects.select_for_update().select_related("clock").get(pk=waiver.pk)
    )
    if waiver.state != SlaWaiver.State.REQUESTED:
        raise ValidationError({"waiver": f"This waiver is already {waiver.state}."})
    return waiver


@transaction.atomic
def sla_waiver_approve(
    *, waiver: SlaWaiver, actor: Any, now: datetime | None = None
) -> SlaWaiver:
    """A second staff member approves: the clock stops as exempt until the
    waiver expires."""
    now = now or timezone.now()
    _require_staff(actor, "approve waivers")
    waiver = _pending(waiver)
    if waiver.requested_by_id == actor.pk:
        raise ValidationError(
            {"actor": "A waiver is approved by someone other than who requested it."}
        )
    if waiver.expires_at <= now:
        raise ValidationError({"waiver": "This waiver has expired; request a new one."})
    clock = SlaClock.objects.select_for_update().get(pk=waiver.clock_id)
    if clock.state not in SlaClock.RUNNING:
        raise ValidationError({"clock": f"The clock is already {clock.state}."})
    waiver.state = SlaWaiver.State.APPROVED
    waiver.approved_by = actor
    waiver.approved_at = now
    waiver.save(update_fields=["state", "approved_by", "approved_at"])
    clock.state = State.EXEMPT
    clock.stopped_at = now
    clock.stop_reason = SlaClock.StopReason.WAIVER
    clock.exempt_reason = waiver.reason
    clock.waiver = waiver
    clock.save(
        update_fields=["state", "stopped_at", "stop_reason", "exempt_reason", "waiver"]
    )
    audit_record(
        action=Action.SLA_WAIVER_APPROVED,
        actor=actor,
        org=clock.org,
        target=waiver,
        details={"clock": clock.pk, "expires_at": waiver.expires_at.isoformat()},
    )
    return waiver


@transaction.atomic
def sla_waiver_reject(
    *, waiver: SlaWaiver, actor: Any, reason: str = "", now: datetime | None = None
) -> SlaWaiver:
    """Staff refuse (or the requester withdraws) a waiver; the clock runs on."""
    now = now or timezone.now()
    _require_staff(actor, "decide waivers")
    waiver = _pending(waiver)
    waiver.state = SlaWaiver.State.REJECTED
    waiver.rejected_by = actor
    waiver.rejected_at = now
    waiver.rejection_reason = (reason or "").strip()
    waiver.save(
        update_fields=["state", "rejected_by", "rejected_at", "rejection_reason"]
    )
    audit_record(
        action=Action.SLA_WAIVER_REJECTED,
        actor=actor,
        org=waiver.clock.org,
        target=waiver,
        details={"clock": waiver.clock_id, "reason": waiver.rejection_reason},
    )
    return waiver


# --- transitions -----------------------------------------------------------------


def _expire_waivers(now: datetime) -> tuple[int, int]:
    """Resume the clocks whose waiver expired; mark the waivers expired.

    The deadline stays where it was: it is the contract's, and the issue gives
    a waiver an expiry "after which the clock resumes", not a new deadline. A
    clock whose deadline passed while waived resumes breached.
    """
    expired = SlaWaiver.objects.filter(
        state__in=[SlaWaiver.State.REQUESTED, SlaWaiver.State.APPROVED],
        expires_at__lte=now,
    )
    approved = expired.filter(state=SlaWaiver.State.APPROVED)
    resumed = SlaClock.objects.filter(
        state=State.EXEMPT,
        stop_reason=SlaClock.StopReason.WAIVER,
        waiver__in=approved.values("pk"),
    ).update(
        state=Case(
            When(due_at__lte=now, then=Value(State.BREACHED)),
            When(at_risk_at__lte=now, then=Value(State.AT_RISK)),
            default=Value(State.OPEN),
        ),
        stopped_at=None,
        stop_reason="",
        exempt_reason="",
    )
    rows = list(expired.select_related("clock__org").order_by("pk"))
    if not rows:
        return 0, resumed
    SlaWaiver.objects.filter(pk__in=[w.pk for w in rows]).update(
        state=SlaWaiver.State.EXPIRED, expired_at=now
    )
    # One event per waiver: few expire per run, and each is a decision
    # someone made whose end belongs in the record.
    for waiver in rows:
        audit_record(
            action=Action.SLA_WAIVER_EXPIRED,
            org=waiver.clock.org,
            target=waiver,
            details={
                "clock": waiver.clock_id,
                "was": waiver.state,
                "expires_at": waiver.expires_at.isoformat(),
            },
        )
    return len(rows), resumed


# One pass over the running clocks whose finding has shipped a fix: met when
# the fix came by the deadline, missed when after. On PostgreSQL a single
# UPDATE ... FROM joins the finding once per clock.
_STOP_FIXED_SQL = """
WITH moved AS (
    UPDATE sla_slaclock AS c
    SET state = CASE WHEN f.fixed_published_at <= c.due_at
                     THEN %(met)s ELSE %(missed)s END,
        stopped_at = f.fixed_published_at,
        stop_reason = %(reason)s
    FROM vulns_finding AS f
    WHERE f.id = c.finding_id
      AND f.fixed_published_at IS NOT NULL
      AND c.state = ANY(%(running)s)
    RETURNING c.state
)
SELECT state, count(*) FROM moved GROUP BY state
"""


def _stop_fixed() -> tuple[int, int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _STOP_FIXED_SQL,
                {
                    "met": State.MET,
                    "missed": State.MISSED,
                    "reason": SlaClock.StopReason.FIXED,
                    "running": [str(s) for s in SlaClock.RUNNING],
                },
            )
            counts = dict(cursor.fetchall())
        return counts.get(State.MET, 0), counts.get(State.MISSED, 0)
    fixed = Finding.objects.filter(
        pk=OuterRef("finding_id"), fixed_published_at__isnull=False
    )
    on_time = fixed.filter(fixed_published_at__lte=OuterRef("due_at"))
    fixed_at = fixed.values("fixed_published_at")[:1]
    stop = {"stopped_at": fixed_at, "stop_reason": SlaClock.StopReason.FIXED}
    met = (
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .filter(Exists(on_time))
        .update(state=State.MET, **stop)
    )
    # What is still running and fixed was fixed after its deadline.
    missed = (
        SlaClock.objects.filter(state__in=SlaClock.RUNNING)
        .filter(Exists(fixed))
        .update(state=State.MISSED, **stop)
    )
    return met, missed


@transaction.atomic
def sla_transitions_run(*, now: datetime | None = None) -> dict[str, int]:
    """Move every clock to its state as of ``now`` in a few bulk UPDATEs.

    Order matters: a clock fixed on time is met even if this run comes after
    its deadline, so the fixes are applied before the breaches.
    """
    now = now or timezone.now()
    waivers_expired, resumed = _expire_waivers(now)
    met, missed = _stop_fixed()
    breached = SlaClock.objects.filter(
        state__in=[State.OPEN, State.AT_RISK], due_at__lte=now
    ).update(state=State.BREACHED)
    at_risk = SlaClock.objects.filter(state=State.OPEN, at_risk_at__lte=now).update(
        state=State.AT_RISK
    )
    return {
        "waivers_expired": waivers_expired,
        "resumed": resumed,
        "met": met,
        "missed": missed,
        "breached": breached,
        "at_risk": at_risk,
    }
