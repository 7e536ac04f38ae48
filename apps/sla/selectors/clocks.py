"""The customer's ledger: clock lists and their filters, one clock and its
timeline, whether the org holds the SLA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Count, F, Prefetch, Q, QuerySet

from apps.entitlements.selectors import (
    FEATURE_ACTIVE,
    FEATURE_LAPSED,
    FEATURE_NEVER,
    feature_state,
)
from apps.orgs.models import Organization
from apps.registry.selectors import digest_pulls
from apps.vulns.models import Finding

from ..models import SlaClock, SlaWaiver

State = SlaClock.State


SLA_ENTITLEMENT_ACTIVE = FEATURE_ACTIVE
SLA_ENTITLEMENT_LAPSED = FEATURE_LAPSED
SLA_ENTITLEMENT_NEVER = FEATURE_NEVER


def sla_entitlement_state(*, org: Organization, now: datetime) -> str:
    """Whether the org holds the sla entitlement now, held it once, or never."""
    return feature_state(org=org, feature="sla", now=now)


@dataclass(frozen=True)
class ClockFilter:
    state: str = ""
    severity: str = ""
    repository: str = ""
    kev: bool | None = None
    q: str = ""


_CLOCK_ROW = (
    "finding__vulnerability",
    "finding__digest__variant__series__repository",
    "policy_version__policy",
)


def _filtered(
    org: Organization, filters: ClockFilter, *, with_state: bool = True
) -> QuerySet[SlaClock]:
    clocks = SlaClock.objects.for_org(org)
    if with_state and filters.state:
        clocks = clocks.filter(state=filters.state)
    if filters.severity:
        clocks = clocks.filter(severity=filters.severity)
    if filters.repository:
        clocks = clocks.filter(
            finding__digest__variant__series__repository__name=filters.repository
        )
    if filters.kev is not None:
        clocks = clocks.filter(finding__vulnerability__kev=filters.kev)
    if filters.q:
        # Any id a customer may know it by: the CVE, a GHSA, PYSEC or distro id.
        clocks = clocks.filter(
            Q(finding__vulnerability__vuln_id__icontains=filters.q)
            | Q(finding__vulnerability__aliases__icontains=filters.q)
        )
    return clocks


def sla_clock_list(*, org: Organization, filters: ClockFilter) -> QuerySet[SlaClock]:
    """The org's clocks as filtered, with what a table row shows loaded:
    running clocks by deadline, then decided ones, most recently stopped
    first."""
    clocks = _filtered(org, filters).select_related(*_CLOCK_ROW)
    # Running clocks (no stop time) come first, by deadline.
    return clocks.order_by(F("stopped_at").desc(nulls_first=True), "due_at", "-id")


def sla_clock_state_counts(
    *, org: Organization, filters: ClockFilter
) -> dict[str, int]:
    """Clocks per state under every filter but the state, in one query."""
    rows = (
        _filtered(org, filters, with_state=False)
        .values("state")
        .annotate(n=Count("pk"))
        .order_by("state")
    )
    counts = dict.fromkeys(State.values, 0)
    for row in rows:
        counts[row["state"]] = row["n"]
    return counts


def sla_clock_repositories(*, org: Organization) -> list[str]:
    """Names of the repositories the org's clocks are on, for a filter."""
    return list(
        SlaClock.objects.for_org(org)
        .values_list("finding__digest__variant__series__repository__name", flat=True)
        .distinct()
        .order_by("finding__digest__variant__series__repository__name")
    )


def sla_clock_get(*, org: Organization, pk: int) -> SlaClock:
    """One clock of the org with everything its timeline names; another
    org's clock raises SlaClock.DoesNotExist."""
    return (
        SlaClock.objects.for_org(org)
        .select_related(
            *_CLOCK_ROW,
            "finding__component",
            "finding__fixed_in__variant__series",
            "finding__upstream_fix_revision__vulnerability",
            "vex_statement__document",
            "vex_statement__digest",
            "waiver__requested_by",
            "waiver__approved_by",
        )
        .prefetch_related(
            Prefetch(
                "waivers",
                queryset=SlaWaiver.objects.select_related(
                    "requested_by", "approved_by", "rejected_by"
                ).order_by("-created_at", "-id"),
            )
        )
        .get(pk=pk)
    )


_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class TimelineEntry:
    key: str
    label: str
    at: datetime | None
    note: str = ""


def upstream_fix_source(finding: Finding) -> str:
    """Where a finding's upstream fix time came from: the first advisory
    revision that named a fixed version, by its ``modified`` time, or by the
    import that brought it when that came first."""
    revision = finding.upstream_fix_revision
    if revision is None or finding.upstream_fix_at is None:
        return ""
    vuln_id = revision.vulnerability.vuln_id
    if revision.modified_at is not None and revision.modified_at == (
        finding.upstream_fix_at
    ):
        return (
            f"a fixed version first appeared in the {vuln_id} record of "
            f"{revision.modified_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
            "(its modified time)"
        )
    return (
        f"a fixed version first appeared in the {vuln_id} record imported "
        f"{revision.imported_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


def _pull_entries(clock: SlaClock) -> list[TimelineEntry]:
    """When the organization pulled the affected digest, as the registry
    reported it (one query)."""
    pulls = digest_pulls(org=clock.org, image_id=clock.finding.digest_id)
    if pulls is None:
        return [
            TimelineEntry(
                "pulled",
                "Pulled",
                None,
                "the registry has reported no pull of this digest by the organization",
            )
        ]
    entries = [
        TimelineEntry(
            "pulled",
            "First pulled",
            pulls.first_pulled_at,
            f"{pulls.pulls} pull{'s' if pulls.pulls != 1 else ''} of this digest "
            "reported by the registry",
        )
    ]
    if pulls.last_pulled_at != pulls.first_pulled_at:
        entries.append(
            TimelineEntry("pulled_last", "Last pulled", pulls.last_pulled_at)
        )
    return entries


def sla_clock_timeline(clock: SlaClock) -> list[TimelineEntry]:
    """The clock's events in time order (unknown times last), read from a
    clock loaded by ``sla_clock_get``."""
    finding = clock.finding
    vuln = finding.vulnerability
    version = clock.policy_version
    start_note = clock.get_start_event_display()
    if clock.start_fell_back:
        start_note += (
            f" (the policy starts from {version.get_start_event_display().lower()},"
            " which could not be used)"
        )
    due_note = f"{version.days_for(clock.severity)} {version.get_day_kind_display()}"
    due_note = due_note.lower()
    if clock.kev_capped:
        due_note += f"; capped by the CISA KEV due date {vuln.kev_due_date}"
    fixed_note = ""
    if finding.fixed_in is not None:
        fixed_note = f"in {finding.fixed_in.digest}"
    stop_note = ""
    if clock.stopped_at is not None:
        stop_note = clock.get_stop_reason_display()
        if clock.exempt_reason:
            stop_note += f": {clock.exempt_reason}"
    entries = [
        TimelineEntry(
            "disclosed", "Disclosed", finding.disclosed_at or vuln.disclosed_at
        ),
        TimelineEntry(
            "upstream_fix",
            "Upstream fix released",
            finding.upstream_fix_at,
            "; ".join(
                part
                for part in (
                    finding.fixed_version and f"version {finding.fixed_version}",
                    upstream_fix_source(finding),
                )
                if part
            ),
        ),
        TimelineEntry("released", "Affected digest released", finding.digest.built_at),
        TimelineEntry("detected", "Detected", finding.detected_at),
        TimelineEntry("started", "Clock started", clock.started_at, start_note),
        TimelineEntry(
            "at_risk",
            "At risk from",
            clock.at_risk_at,
            f"{version.at_risk_percent} % of the time to the deadline",
        ),
        TimelineEntry("due", "Due", clock.due_at, due_note),
        TimelineEntry(
            "fixed", "Fixed digest published", finding.fixed_published_at, fixed_note
        ),
        TimelineEntry("stopped", "Clock stopped", clock.stopped_at, stop_note),
        *_pull_entries(clock),
    ]
    known = [e for e in entries if e.at is not None]
    known.sort(key=lambda e: e.at or _EARLIEST)
    return known + [e for e in entries if e.at is None]
