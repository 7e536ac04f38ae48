"""FedRAMP CR26 reads: an organization's class and each mirrored
repository's IRV and PAIN, with their history; a clock's evaluations; and
each clock measured under CR26 (apps/sla/cr26.py) from them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from apps.entitlements.models import Mirror
from apps.orgs.models import Organization

from .. import cr26
from ..models import (
    FedrampClockEvaluation,
    FedrampExposure,
    FedrampProfile,
    SlaClock,
)


@dataclass
class FedrampInputs:
    """An organization's CR26 inputs, each with its history in time order."""

    profiles: list[FedrampProfile]
    exposures: dict[int, list[FedrampExposure]]  # by repository id

    @property
    def profile(self) -> FedrampProfile | None:
        return self.profiles[-1] if self.profiles else None

    def profile_at(self, at: datetime) -> FedrampProfile | None:
        found = None
        for p in self.profiles:
            if p.set_at <= at:
                found = p
        return found

    @property
    def certification_class(self) -> str:
        profile = self.profile
        return profile.certification_class if profile is not None else ""

    def classes(self) -> list[cr26.ClassChange]:
        return [
            cr26.ClassChange(p.set_at, p.certification_class) for p in self.profiles
        ]

    def exposure_changes(self, repository_id: int) -> list[cr26.ExposureChange]:
        return [
            cr26.ExposureChange(
                at=e.set_at,
                internet_reachable=e.internet_reachable,
                pain=e.pain,
                by=e.set_by.email,
                reason=e.reason,
            )
            for e in self.exposures.get(repository_id, [])
        ]

    def exposure(self, repository_id: int) -> FedrampExposure | None:
        rows = self.exposures.get(repository_id)
        return rows[-1] if rows else None


def fedramp_inputs(
    *, org: Organization, repository_ids: Iterable[int] | None = None
) -> FedrampInputs:
    """The class history and the exposure history (of ``repository_ids``
    only, if given). Two queries."""
    profiles = list(
        FedrampProfile.objects.for_org(org)
        .select_related("set_by")
        .order_by("set_at", "id")
    )
    if not profiles:
        # Never a FedRAMP customer: no exposure applies to anything.
        return FedrampInputs(profiles=[], exposures={})
    exposures = FedrampExposure.objects.for_org(org).select_related("set_by")
    if repository_ids is not None:
        exposures = exposures.filter(repository_id__in=list(repository_ids))
    by_repository: dict[int, list[FedrampExposure]] = defaultdict(list)
    for row in exposures.order_by("set_at", "id"):
        by_repository[row.repository_id].append(row)
    return FedrampInputs(profiles=profiles, exposures=dict(by_repository))


def fedramp_evaluations(
    *, org: Organization, clock_ids: Iterable[int] | None = None
) -> dict[int, list[FedrampClockEvaluation]]:
    """Each clock's evaluations in time order (of ``clock_ids`` only, if
    given). One query."""
    rows = FedrampClockEvaluation.objects.for_org(org).select_related("set_by")
    if clock_ids is not None:
        rows = rows.filter(clock_id__in=list(clock_ids))
    found: dict[int, list[FedrampClockEvaluation]] = defaultdict(list)
    for row in rows.order_by("set_at", "id"):
        found[row.clock_id].append(row)
    return dict(found)


def overrides_of(rows: Iterable[FedrampClockEvaluation]) -> list[cr26.Override]:
    return [
        cr26.Override(
            at=r.set_at,
            pain=r.pain,
            internet_reachable=r.internet_reachable,
            likely_exploitable=r.likely_exploitable,
            disposition=r.disposition,
            accepted=r.accepted,
            by=r.set_by.email,
            reason=r.reason,
        )
        for r in rows
    ]


# The columns a clock is measured from, read with values_list (no model
# instances), in this order.
CR26_FIELDS = (
    "id",
    "finding__digest__variant__series__repository_id",
    "finding__detected_at",
    "created_at",
    "finding__fixed_published_at",
    "stopped_at",
    "stop_reason",
    "finding__vulnerability__kev",
    "finding__vulnerability__kev_date_added",
    "finding__vulnerability__kev_due_date",
    "finding__vulnerability__cvss_v4_vector",
    "finding__vulnerability__cvss_v3_vector",
)


def detection(detected_at: datetime, clock_created_at: datetime) -> datetime:
    """When the organization detected the vulnerability: the publisher's
    detection in the image, or, for an image it took up later, when its
    ledger first held it (the clock's creation)."""
    return max(detected_at, clock_created_at)


def cr26_of_row(
    row: tuple,
    *,
    inputs: FedrampInputs,
    overrides: dict[int, list[FedrampClockEvaluation]],
    as_of: datetime,
) -> cr26.Result:
    """One clock under CR26, from a ``values_list(*CR26_FIELDS)`` row."""
    (
        pk,
        repository_id,
        detected,
        created,
        fixed,
        stopped,
        stop_reason,
        kev,
        kev_added,
        kev_due,
        v4,
        v3,
    ) = row
    return cr26.evaluate(
        classes=inputs.classes(),
        exposures=inputs.exposure_changes(repository_id),
        overrides=overrides_of(overrides.get(pk, ())),
        vuln=cr26.VulnFacts(
            kev=kev,
            kev_date_added=kev_added,
            kev_due_date=kev_due,
            cvss_v4_vector=v4 or "",
            cvss_v3_vector=v3 or "",
        ),
        clock=cr26.ClockFacts(
            detected_at=detection(detected, created),
            fixed_at=fixed,
            stopped_at=stopped,
            stop_reason=stop_reason,
        ),
        as_of=as_of,
    )


def clock_cr26(
    clock: SlaClock,
    *,
    as_of: datetime,
    inputs: FedrampInputs | None = None,
    evaluations: list[FedrampClockEvaluation] | None = None,
) -> cr26.Result:
    """One clock (loaded with its finding and vulnerability) under CR26:
    at most three queries (the class, its repository's exposure and its
    own evaluations), none when they are given."""
    finding = clock.finding
    vuln = finding.vulnerability
    repository_id = finding.digest.variant.series.repository_id
    if inputs is None:
        inputs = fedramp_inputs(org=clock.org, repository_ids=[repository_id])
    if evaluations is None:
        evaluations = fedramp_evaluations(org=clock.org, clock_ids=[clock.pk]).get(
            clock.pk, []
        )
    return cr26_of_row(
        (
            clock.pk,
            repository_id,
            finding.detected_at,
            clock.created_at,
            finding.fixed_published_at,
            clock.stopped_at,
            clock.stop_reason,
            vuln.kev,
            vuln.kev_date_added,
            vuln.kev_due_date,
            vuln.cvss_v4_vector,
            vuln.cvss_v3_vector,
        ),
        inputs=inputs,
        overrides={clock.pk: evaluations},
        as_of=as_of,
    )


@dataclass
class MirrorExposure:
    """A mirrored repository with its IRV and PAIN in force and their history."""

    mirror: Mirror
    current: FedrampExposure | None
    history: list[FedrampExposure] = field(default_factory=list)


def fedramp_mirror_exposures(
    *, org: Organization, inputs: FedrampInputs | None = None
) -> list[MirrorExposure]:
    """Each repository the organization mirrors, with its exposure (one query
    for the mirrors; two more unless ``inputs`` is given)."""
    mirrors = list(
        Mirror.objects.for_org(org)
        .select_related("repository")
        .order_by("repository__name", "id")
    )
    if inputs is None:
        inputs = fedramp_inputs(org=org)
    return [
        MirrorExposure(
            mirror=m,
            current=inputs.exposure(m.repository_id),
            history=list(inputs.exposures.get(m.repository_id, [])),
        )
        for m in mirrors
    ]
