"""Opening clocks (idempotent, for what an org mirrors while it holds `sla`)
and exempting them by VEX."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.entitlements.models import Entitlement, FeatureKey, Mirror
from apps.entitlements.selectors import (
    entitlement_cache,
    has_feature,
)
from apps.orgs.models import Organization
from apps.vulns.models import Finding, VexStatement

from .. import clock as arithmetic
from ..models import (
    SlaClock,
    SlaPolicyVersion,
)
from .policies import policy_version_in_effect
from .transitions import resumed_fields

Action = AuditEvent.Action
State = SlaClock.State

BATCH = 2000

# --- opening clocks -----------------------------------------------------------


def _coverage_start(org: Organization, repository_id: int, at: datetime) -> datetime:
    """When the org's coverage of the repository began: the earliest live sla
    entitlement row for it. Not when a mirror was (re-)added: a clock's start
    comes from the policy's event and the evidence; the entitlement only
    bounds it (the org was not promised anything before it held `sla`)."""
    entitled_since = (
        Entitlement.objects.for_org(org)
        .live(at=at)
        .filter(feature__key=FeatureKey.SLA)
        .filter(Q(repository__isnull=True) | Q(repository_id=repository_id))
        .aggregate(since=Min("starts_at"))["since"]
    )
    return entitled_since or at


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
        at_risk_at = arithmetic.at_risk(
            started_at, due_at, self.version.at_risk_percent
        )
        # A clock opened late (its start lies in the past) is born in the
        # state its own times give, not open until the next transition run.
        if due_at <= self.now:
            state = State.BREACHED
        elif at_risk_at <= self.now:
            state = State.AT_RISK
        else:
            state = State.OPEN
        return SlaClock(
            org=self.org,
            finding=finding,
            state=state,
            policy_version=self.version,
            severity=finding.severity,
            start_event=event,
            started_at=started_at,
            due_at=due_at,
            at_risk_at=at_risk_at,
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
    opener = _Opener(org, version, _coverage_start(org, mirror.repository_id, now), now)
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
    _exempt_by_standing_vex(
        SlaClock.objects.filter(finding=finding), repository_id, now
    )
    return offered


@transaction.atomic
def sla_clocks_open_for_mirror(*, mirror: Mirror, now: datetime | None = None) -> int:
    """An org started mirroring: clocks on the repository's affected findings."""
    now = now or timezone.now()
    _resume(mirror.org, mirror.repository_id, now)
    findings = _affected(
        Finding.objects.filter(digest__variant__series__repository=mirror.repository_id)
    ).order_by("pk")
    offered = _open(
        org=mirror.org, mirror=mirror, findings=findings.iterator(BATCH), now=now
    )
    _exempt_by_standing_vex(
        _repository_clocks(mirror.org, mirror.repository_id),
        mirror.repository_id,
        now,
    )
    return offered


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


def _exempt_by_standing_vex(
    clocks: QuerySet[SlaClock], repository_id: int, now: datetime
) -> int:
    """Clocks opened (or resumed) on findings a not_affected statement in force
    already covers stop at once, as the statement stopped those it found at
    import: a VEX loaded before the build's SBOM exempts the clocks its
    findings open."""
    statements = VexStatement.objects.in_force().filter(
        status=VexStatement.Status.NOT_AFFECTED, repository_id=repository_id
    )
    vulnerabilities = set(
        clocks.filter(
            state__in=SlaClock.RUNNING,
            finding__vulnerability_id__in=statements.values("vulnerability_id"),
        ).values_list("finding__vulnerability_id", flat=True)
    )
    if not vulnerabilities:
        return 0
    return sum(
        sla_clocks_exempt_by_vex(statement=statement, now=now)
        for statement in statements.filter(
            vulnerability_id__in=vulnerabilities
        ).order_by("pk")
    )


@transaction.atomic
def sla_clocks_resume_for_vex(
    *,
    statement_ids: list[int],
    reason: str,
    actor: Any = None,
    now: datetime | None = None,
) -> int:
    """Statements left force (their document was superseded or withdrawn): the
    clocks they stopped run again, each in the state its own deadline gives
    (the deadline never moved), unless a statement still in force covers
    them. One audit event per organization."""
    now = now or timezone.now()
    if not statement_ids:
        return 0
    stopped = SlaClock.objects.filter(
        state=State.EXEMPT,
        stop_reason=SlaClock.StopReason.VEX,
        vex_statement_id__in=statement_ids,
    )
    rows = list(
        stopped.values_list(
            "pk", "org_id", "finding__digest__variant__series__repository_id"
        )
    )
    if not rows:
        return 0
    ids = [pk for pk, _, _ in rows]
    count = SlaClock.objects.filter(
        pk__in=ids, state=State.EXEMPT, stop_reason=SlaClock.StopReason.VEX
    ).update(**resumed_fields(now), vex_statement=None)
    by_org: dict[int, list[int]] = {}
    for pk, org_id, _ in rows:
        by_org.setdefault(org_id, []).append(pk)
    orgs = Organization.objects.in_bulk(by_org)
    for org_id, clock_ids in sorted(by_org.items()):
        audit_record(
            action=Action.SLA_CLOCKS_VEX_RESUMED,
            actor=actor,
            org=orgs[org_id],
            details={"clocks": clock_ids, "reason": reason},
        )
    for repository_id in sorted({r for _, _, r in rows}):
        _exempt_by_standing_vex(SlaClock.objects.filter(pk__in=ids), repository_id, now)
    return count


# --- mirrors removed and added again ---------------------------------------------


def _repository_clocks(org: Organization, repository_id: int) -> QuerySet[SlaClock]:
    return SlaClock.objects.for_org(org).filter(
        finding__digest__variant__series__repository_id=repository_id
    )


@transaction.atomic
def sla_clocks_stop_for_unmirrored(
    *,
    org: Organization,
    repository_id: int,
    actor: Any = None,
    now: datetime | None = None,
) -> int:
    """The org stopped mirroring a repository: its running clocks there stop
    as exempt with that reason (kept, never deleted). Mirrored again, they
    resume (sla_clocks_resume_for_mirror). A no-op while it is mirrored."""
    now = now or timezone.now()
    if Mirror.objects.for_org(org).filter(repository_id=repository_id).exists():
        return 0
    ids = list(
        _repository_clocks(org, repository_id)
        .filter(state__in=SlaClock.RUNNING)
        .values_list("pk", flat=True)
    )
    count = SlaClock.objects.filter(pk__in=ids, state__in=SlaClock.RUNNING).update(
        state=State.EXEMPT,
        stopped_at=now,
        stop_reason=SlaClock.StopReason.UNMIRRORED,
        exempt_reason="The repository is no longer mirrored.",
    )
    if count:
        audit_record(
            action=Action.SLA_CLOCKS_UNMIRRORED,
            actor=actor,
            org=org,
            details={"repository": repository_id, "clocks": count},
        )
    return count


def _resume(org: Organization, repository_id: int, now: datetime) -> int:
    """Clocks stopped because the repository was unmirrored run again, in the
    state their own deadline gives (the deadline never moves)."""
    ids = list(
        _repository_clocks(org, repository_id)
        .filter(state=State.EXEMPT, stop_reason=SlaClock.StopReason.UNMIRRORED)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    count = SlaClock.objects.filter(
        pk__in=ids, state=State.EXEMPT, stop_reason=SlaClock.StopReason.UNMIRRORED
    ).update(**resumed_fields(now))
    audit_record(
        action=Action.SLA_CLOCKS_RESUMED,
        org=org,
        details={"repository": repository_id, "clocks": count},
    )
    return count
