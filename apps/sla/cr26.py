"""FedRAMP's Consolidated Rules for 2026 (CR26) applied to one clock.

The rules are FedRAMP's Rev5 Vulnerability Detection and Response (VDR) and
Vulnerability Evaluation and Reporting (VER), with FedRAMP's definitions; a
copy of their text is in ``tests/data/fedramp/`` (with its provenance), and
``tests/sla/test_cr26_rules.py`` reads every number below back from it.

- VDR-TFR-PVR: by certification class, a vulnerability must be partially or
  fully mitigated, or remediated, "to a lower Potential Agency Impact
  N-rating" within a timeframe *from evaluation* set by its current PAIN and
  whether it is likely exploitable (LEV) and internet-reachable (IRV). The
  table has rows for N5 to N2; N1 has no timeframe (VDR-TFR-RMN: remaining
  vulnerabilities are handled in routine operations).
- VER-TFR-EVU: every vulnerability is evaluated within a class's days of its
  detection.
- VER-TFR-MAV: one not fully mitigated or remediated within 192 days of its
  evaluation is an accepted vulnerability.
- VDR-TFR-KEV: a known exploited vulnerability is remediated by the CISA KEV
  catalog's due date, even when fully mitigated.
- FRD-LEV: "at the absolute minimum, any vulnerability that an automated
  unauthenticated system can exploit over the internet is a likely
  exploitable vulnerability": derived here from the CISA KEV catalog or from
  the CVSS vector (attack vector network, no privileges, no user
  interaction; VER-EVA-AIA has exploitation assumed automatable).

How the window moves: each change of PAIN, LEV or IRV is a re-evaluation.
A change that lowers the PAIN or lengthens the timeframe is a reduction (the
target was reached): the next window runs from it. Any other change
(an escalation) runs its window from the change but never past the window
already running.

CR26 applies to an organization from the moment it states a certification
class; detection before that counts, for the evaluation deadline, from
then. Evaluation is complete when the clock's PAIN and IRV are known (the
mirrored repository's defaults or the clock's own override); LEV is always
known (derived, or overridden).

Pure functions of values: nothing here reads the database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

CLASSES = ("A", "B", "C", "D")
PAIN_RATINGS = (1, 2, 3, 4, 5)

# The table's three columns, in its order.
LEV_IRV = "lev_irv"
LEV_NIRV = "lev_nirv"
NLEV = "nlev"
COLUMNS = (LEV_IRV, LEV_NIRV, NLEV)
COLUMN_LABELS = {LEV_IRV: "LEV + IRV", LEV_NIRV: "LEV + NIRV", NLEV: "NLEV"}


def _days(n: int) -> timedelta:
    return timedelta(days=n)


# VDR-TFR-PVR: class -> PAIN -> (LEV + IRV, LEV + NIRV, NLEV).
PVR_TIMEFRAMES: dict[str, dict[int, tuple[timedelta, timedelta, timedelta]]] = {
    "A": {
        5: (_days(4), _days(8), _days(32)),
        4: (_days(8), _days(32), _days(64)),
        3: (_days(32), _days(64), _days(192)),
        2: (_days(96), _days(160), _days(192)),
    },
    "B": {
        5: (_days(4), _days(8), _days(32)),
        4: (_days(8), _days(32), _days(64)),
        3: (_days(32), _days(64), _days(192)),
        2: (_days(96), _days(160), _days(192)),
    },
    "C": {
        5: (_days(2), _days(4), _days(16)),
        4: (_days(4), _days(8), _days(64)),
        3: (_days(16), _days(32), _days(128)),
        2: (_days(48), _days(128), _days(192)),
    },
    "D": {
        5: (timedelta(hours=12), _days(1), _days(8)),
        4: (_days(2), _days(8), _days(32)),
        3: (_days(8), _days(16), _days(64)),
        2: (_days(24), _days(96), _days(192)),
    },
}
# VER-TFR-EVU: evaluate within this long of detection.
EVALUATION_TIMEFRAMES: dict[str, timedelta] = {
    "A": _days(14),
    "B": _days(7),
    "C": _days(5),
    "D": _days(2),
}
# VER-TFR-MAV.
ACCEPTED_AFTER = _days(192)
# VER-TFR-MRH: how often the historical activity is brought up to date.
HISTORY_UPDATE = {"A": "1 month", "B": "1 month", "C": "14 days", "D": "7 days"}

# VER-EVA-EPA, word for word.
PAIN_DEFINITIONS = {
    1: "Exploitation could be expected to have minimal customer effects on one "
    "or more agencies that use the cloud service offering.",
    2: "Exploitation could be expected to have narrow customer effects on one "
    "or more agencies that use the cloud service offering.",
    3: "Exploitation could be expected to have a disruptive customer effect on "
    "one agency that uses the cloud service offering.",
    4: "Exploitation could be expected to have a debilitating customer effect on "
    "one agency that uses the cloud service offering OR a disruptive customer "
    "effect on more than one federal agency that uses the cloud service offering.",
    5: "Exploitation could be expected to have a debilitating customer effect on "
    "more than one agency that uses the cloud service offering.",
}

# Ways a vulnerability leaves the report's active list.
REMEDIATED = "remediated"
FALSE_POSITIVE = "false_positive"
FULLY_MITIGATED = "fully_mitigated"
DISPOSITION_LABELS = {
    REMEDIATED: "Remediated",
    FALSE_POSITIVE: "False positive",
    FULLY_MITIGATED: "Fully mitigated",
}

# Overlay statuses (apps.sla.overlays), and one of CR26's own.
OPEN = "open"
BREACHED = "breached"
MET = "met"
MISSED = "missed"
EXEMPT = "exempt"
NOT_APPLICABLE = "not_applicable"
ACCEPTED = "accepted"

# What a clock's stop reason means here (SlaClock.StopReason values).
_STOPS = {
    "vex": (FALSE_POSITIVE, "the publisher's VEX states the image is not affected"),
    "withdrawn": (FALSE_POSITIVE, "the advisory was withdrawn"),
    "unmirrored": (REMEDIATED, "the repository is no longer mirrored"),
}


def column(*, likely_exploitable: bool, internet_reachable: bool) -> str:
    if not likely_exploitable:
        return NLEV
    return LEV_IRV if internet_reachable else LEV_NIRV


def timeframe(
    certification_class: str,
    pain: int,
    *,
    likely_exploitable: bool,
    internet_reachable: bool,
) -> timedelta | None:
    """The VDR-TFR-PVR timeframe, or None for N1 (no timeframe)."""
    if certification_class not in PVR_TIMEFRAMES:
        raise ValueError(f"Unknown certification class {certification_class!r}.")
    if pain not in PAIN_RATINGS:
        raise ValueError(f"Unknown PAIN rating {pain!r}.")
    if pain == 1:
        return None
    cell = column(
        likely_exploitable=likely_exploitable, internet_reachable=internet_reachable
    )
    return PVR_TIMEFRAMES[certification_class][pain][COLUMNS.index(cell)]


def timeframe_text(span: timedelta | None) -> str:
    """``4 days``, ``12 hours``, ``1 day``; N1's none."""
    if span is None:
        return "no timeframe (N1)"
    if span % timedelta(days=1):
        hours = int(span.total_seconds() // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{span.days} day{'s' if span.days != 1 else ''}"


# --- likely exploitable ---------------------------------------------------------


@dataclass(frozen=True)
class LevBasis:
    """Whether a vulnerability is derived to be likely exploitable, and why."""

    likely: bool
    rule: str


@functools.lru_cache(maxsize=4096)
def _vector_metrics(vector: str) -> tuple[str, dict[str, str]] | None:
    """(version label, base metrics) of a CVSS v3.x or v4.0 vector; None when
    it cannot be read."""
    try:
        if vector.startswith("CVSS:4.0/"):
            return "CVSS v4.0", dict(CVSS4(vector).metrics)
        if vector.startswith(("CVSS:3.0/", "CVSS:3.1/")):
            return f"CVSS v{vector[5:8]}", dict(CVSS3(vector).metrics)
    except CVSSError:
        return None
    return None


def lev_derived(
    *,
    kev: bool,
    kev_date_added: date | None,
    cvss_v4_vector: str,
    cvss_v3_vector: str,
    at: datetime,
) -> LevBasis:
    """FRD-LEV's minimum: in the CISA KEV catalog by ``at``, or exploitable
    over the network by an automated, unauthenticated attacker per the CVSS
    vector (v4.0 when the advisory has one, as the severity rule reads it)."""
    on = at.astimezone(UTC).date()
    if kev and (kev_date_added is None or kev_date_added <= on):
        since = f" since {kev_date_added.isoformat()}" if kev_date_added else ""
        return LevBasis(True, f"in the CISA KEV catalog{since}")
    vector = cvss_v4_vector or cvss_v3_vector
    if not vector:
        return LevBasis(
            False,
            "not in the CISA KEV catalog and no CVSS vector: nothing shows an "
            "automated, unauthenticated network exploit",
        )
    read = _vector_metrics(vector)
    if read is None:
        return LevBasis(
            False, f"not in the CISA KEV catalog; CVSS vector {vector} unreadable"
        )
    label, metrics = read
    wanted = {"AV": "N", "PR": "N", "UI": "N"}
    shown = "/".join(f"{k}:{metrics.get(k, '?')}" for k in wanted)
    if all(metrics.get(k) == v for k, v in wanted.items()):
        return LevBasis(
            True,
            f"{label} {shown}: exploitable over the network by an automated, "
            "unauthenticated attacker (FedRAMP's minimum)",
        )
    return LevBasis(
        False,
        f"{label} {shown}: not exploitable over the network without privileges "
        "or user interaction, and not in the CISA KEV catalog",
    )


# --- inputs ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClassChange:
    """The organization's certification class from ``at`` ("" for none)."""

    at: datetime
    certification_class: str


@dataclass(frozen=True)
class ExposureChange:
    """The mirrored repository's defaults from ``at``."""

    at: datetime
    internet_reachable: bool
    pain: int
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Override:
    """The clock's own evaluation from ``at``: each row is the whole override
    (None follows the default); ``disposition`` closes it, ``accepted``
    declares it accepted."""

    at: datetime
    pain: int | None = None
    internet_reachable: bool | None = None
    likely_exploitable: bool | None = None
    disposition: str = ""
    accepted: bool = False
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class VulnFacts:
    kev: bool
    kev_date_added: date | None
    kev_due_date: date | None
    cvss_v4_vector: str = ""
    cvss_v3_vector: str = ""


@dataclass(frozen=True)
class ClockFacts:
    detected_at: datetime
    fixed_at: datetime | None = None  # the fixed build's publication
    stopped_at: datetime | None = None
    stop_reason: str = ""


# --- result ---------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The clock's PAIN, LEV and IRV from ``at`` on, and the window they set."""

    at: datetime
    pain: int
    internet_reachable: bool
    likely_exploitable: bool
    pain_source: str  # "override" or "repository"
    irv_source: str
    lev_source: str  # "override" or "derived"
    lev_rule: str
    timeframe: timedelta | None
    due_at: datetime | None
    kind: str  # "initial", "reduction" or "escalation"
    by: str = ""
    reason: str = ""

    @property
    def column(self) -> str:
        return column(
            likely_exploitable=self.likely_exploitable,
            internet_reachable=self.internet_reachable,
        )

    @property
    def column_label(self) -> str:
        return COLUMN_LABELS[self.column]

    @property
    def timeframe_label(self) -> str:
        return timeframe_text(self.timeframe)


@dataclass(frozen=True)
class Result:
    """A clock under CR26 as of ``as_of``."""

    applies: bool
    as_of: datetime
    certification_class: str = ""
    detected_at: datetime | None = None
    start_at: datetime | None = None
    evaluation_due_at: datetime | None = None
    evaluated_at: datetime | None = None
    evaluations: tuple[Evaluation, ...] = ()
    lev: LevBasis | None = None
    window_due_at: datetime | None = None
    kev_due_at: datetime | None = None
    due_at: datetime | None = None
    accepted_at: datetime | None = None
    accepted_reason: str = ""
    closed_at: datetime | None = None
    disposition: str = ""
    closed_reason: str = ""
    status: str = NOT_APPLICABLE
    overdue: bool = False
    explanation: str = ""
    reductions: tuple[tuple[datetime, int], ...] = field(default_factory=tuple)

    @property
    def current(self) -> Evaluation | None:
        return self.evaluations[-1] if self.evaluations else None

    @property
    def active(self) -> bool:
        return self.applies and self.closed_at is None

    @property
    def accepted(self) -> bool:
        return self.active and self.accepted_at is not None

    @property
    def disposition_label(self) -> str:
        return DISPOSITION_LABELS.get(self.disposition, "")


def _when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def kev_due_at(vuln: VulnFacts, as_of: datetime) -> datetime | None:
    """The end (UTC) of the KEV due date, once the vulnerability is in KEV."""
    if not vuln.kev or vuln.kev_due_date is None:
        return None
    if (
        vuln.kev_date_added is not None
        and vuln.kev_date_added > as_of.astimezone(UTC).date()
    ):
        return None
    return datetime.combine(vuln.kev_due_date + timedelta(days=1), time.min, tzinfo=UTC)


def _class_period(
    changes: Sequence[ClassChange], as_of: datetime
) -> tuple[str, datetime | None]:
    """The class in force at ``as_of`` and since when it has been stated
    without a break (a change of class keeps CR26 applying)."""
    current, since = "", None
    for change in sorted(changes, key=lambda c: c.at):
        if change.at > as_of:
            break
        if change.certification_class:
            if not current:
                since = change.at
            current = change.certification_class
        else:
            current, since = "", None
    return current, since


def _latest(rows: Iterable, at: datetime):
    found = None
    for row in rows:
        if row.at <= at:
            found = row
        else:
            break
    return found


def _run_since(overrides: Sequence[Override], as_of: datetime, attribute: str):
    """The value of ``attribute`` in the latest override by ``as_of``, and
    when the run of rows carrying that value began."""
    value, since = None, None
    for row in overrides:
        if row.at > as_of:
            break
        current = getattr(row, attribute)
        if not current:
            value, since = None, None
        elif current != value:
            value, since = current, row.at
    return value, since


def _longer(new: timedelta | None, old: timedelta | None) -> bool:
    if new is None:
        return old is not None
    return old is not None and new > old


def evaluate(
    *,
    classes: Sequence[ClassChange],
    exposures: Sequence[ExposureChange],
    overrides: Sequence[Override],
    vuln: VulnFacts,
    clock: ClockFacts,
    as_of: datetime,
) -> Result:
    """The clock under CR26 as it stood at ``as_of``; inputs dated later are
    not read."""
    certification_class, since = _class_period(classes, as_of)
    if not certification_class or since is None or clock.detected_at > as_of:
        return Result(applies=False, as_of=as_of)
    exposures = sorted(exposures, key=lambda e: e.at)
    overrides = sorted(overrides, key=lambda o: o.at)
    start = max(clock.detected_at, since)
    evaluation_due = start + EVALUATION_TIMEFRAMES[certification_class]
    closed_at, disposition, closed_reason = _closure(clock, overrides, as_of)
    if closed_at is not None and closed_at < start:
        # Gone before CR26 applied to the organization: not its to report.
        return Result(applies=False, as_of=as_of)
    until = closed_at or as_of
    kev_added = None
    if vuln.kev and vuln.kev_date_added is not None:
        kev_added = datetime.combine(vuln.kev_date_added, time.min, tzinfo=UTC)
    moments = {start}
    moments.update(e.at for e in exposures if start < e.at <= until)
    moments.update(o.at for o in overrides if start < o.at <= until)
    if kev_added is not None and start < kev_added <= until:
        moments.add(kev_added)
    evaluations: list[Evaluation] = []
    reductions: list[tuple[datetime, int]] = []
    for at in sorted(moments):
        exposure = _latest(exposures, at)
        override = _latest(overrides, at)
        pain = irv = None
        pain_source = irv_source = "repository"
        if override is not None and override.pain is not None:
            pain, pain_source = override.pain, "override"
        elif exposure is not None:
            pain = exposure.pain
        if override is not None and override.internet_reachable is not None:
            irv, irv_source = override.internet_reachable, "override"
        elif exposure is not None:
            irv = exposure.internet_reachable
        if pain is None or irv is None:
            continue
        derived = lev_derived(
            kev=vuln.kev,
            kev_date_added=vuln.kev_date_added,
            cvss_v4_vector=vuln.cvss_v4_vector,
            cvss_v3_vector=vuln.cvss_v3_vector,
            at=at,
        )
        if override is not None and override.likely_exploitable is not None:
            lev, lev_source = override.likely_exploitable, "override"
            lev_rule = f"set by evaluation ({derived.rule} when derived)"
        else:
            lev, lev_source, lev_rule = derived.likely, "derived", derived.rule
        span = timeframe(
            certification_class, pain, likely_exploitable=lev, internet_reachable=irv
        )
        source = (
            override
            if override is not None and override.at == at
            else exposure
            if exposure is not None and exposure.at == at
            else None
        )
        by = source.by if source is not None else ""
        reason = source.reason if source is not None else ""
        previous = evaluations[-1] if evaluations else None
        if previous is None:
            kind = "initial"
            due = None if span is None else at + span
        else:
            if (pain, irv, lev) == (
                previous.pain,
                previous.internet_reachable,
                previous.likely_exploitable,
            ):
                continue
            if pain < previous.pain or _longer(span, previous.timeframe):
                kind = "reduction"
                due = None if span is None else at + span
            else:
                kind = "escalation"
                candidates = [d for d in (previous.due_at, span and at + span) if d]
                due = min(candidates) if candidates else None
            if pain < previous.pain:
                reductions.append((at, pain))
        evaluations.append(
            Evaluation(
                at=at,
                pain=pain,
                internet_reachable=irv,
                likely_exploitable=lev,
                pain_source=pain_source,
                irv_source=irv_source,
                lev_source=lev_source,
                lev_rule=lev_rule,
                timeframe=span,
                due_at=due,
                kind=kind,
                by=by,
                reason=reason,
            )
        )
    evaluated_at = evaluations[0].at if evaluations else None
    current = evaluations[-1] if evaluations else None
    window_due = current.due_at if current is not None else None
    kev_due = kev_due_at(vuln, as_of)
    candidates = [d for d in (window_due, kev_due) if d is not None]
    if evaluated_at is None:
        candidates.append(evaluation_due)
    due = min(candidates) if candidates else None
    accepted_at, accepted_reason = _acceptance(
        evaluated_at, overrides, closed_at, as_of
    )
    lev_now = lev_derived(
        kev=vuln.kev,
        kev_date_added=vuln.kev_date_added,
        cvss_v4_vector=vuln.cvss_v4_vector,
        cvss_v3_vector=vuln.cvss_v3_vector,
        at=as_of,
    )
    status, overdue, explanation = _status(
        certification_class=certification_class,
        current=current,
        evaluated_at=evaluated_at,
        evaluation_due=evaluation_due,
        window_due=window_due,
        kev_due=kev_due,
        due=due,
        accepted_at=accepted_at,
        closed_at=closed_at,
        disposition=disposition,
        remediated_at=clock.fixed_at
        if clock.fixed_at and clock.fixed_at <= as_of
        else None,
        as_of=as_of,
    )
    return Result(
        applies=True,
        as_of=as_of,
        certification_class=certification_class,
        detected_at=clock.detected_at,
        start_at=start,
        evaluation_due_at=evaluation_due,
        evaluated_at=evaluated_at,
        evaluations=tuple(evaluations),
        lev=lev_now,
        window_due_at=window_due,
        kev_due_at=kev_due,
        due_at=due,
        accepted_at=accepted_at,
        accepted_reason=accepted_reason,
        closed_at=closed_at,
        disposition=disposition,
        closed_reason=closed_reason,
        status=status,
        overdue=overdue,
        explanation=explanation,
        reductions=tuple(reductions),
    )


def _closure(
    clock: ClockFacts, overrides: Sequence[Override], as_of: datetime
) -> tuple[datetime | None, str, str]:
    """When and how the vulnerability left the active list by ``as_of``:
    the earliest of its fix, a stop that says it is gone or was never there,
    and an evaluation's disposition."""
    found: list[tuple[datetime, str, str]] = []
    if clock.fixed_at is not None and clock.fixed_at <= as_of:
        found.append(
            (
                clock.fixed_at,
                REMEDIATED,
                "a build without the vulnerability was published",
            )
        )
    if clock.stopped_at is not None and clock.stopped_at <= as_of:
        stop = _STOPS.get(clock.stop_reason)
        if stop is not None:
            found.append((clock.stopped_at, *stop))
    value, since = _run_since(overrides, as_of, "disposition")
    if value and since is not None:
        latest = _latest(overrides, as_of)
        found.append(
            (
                since,
                value,
                f"evaluated as {DISPOSITION_LABELS[value].lower()}: {latest.reason}",
            )
        )
    if not found:
        return None, "", ""
    return min(found, key=lambda f: f[0])


def _acceptance(
    evaluated_at: datetime | None,
    overrides: Sequence[Override],
    closed_at: datetime | None,
    as_of: datetime,
) -> tuple[datetime | None, str]:
    """VER-TFR-MAV's 192 days from evaluation, or an evaluation declaring
    it accepted (the provider does not intend to mitigate or remediate
    it), whichever came first, if it was still active then."""
    found: list[tuple[datetime, str]] = []
    if evaluated_at is not None and evaluated_at + ACCEPTED_AFTER <= as_of:
        found.append(
            (
                evaluated_at + ACCEPTED_AFTER,
                "Not fully mitigated or remediated within 192 days of its evaluation "
                f"on {_when(evaluated_at)} (VER-TFR-MAV).",
            )
        )
    declared, since = _run_since(overrides, as_of, "accepted")
    if declared and since is not None:
        latest = _latest(overrides, as_of)
        found.append(
            (
                since,
                "Declared accepted: the provider does not intend to fully "
                f"mitigate or remediate it. {latest.reason}",
            )
        )
    if not found:
        return None, ""
    at, reason = min(found, key=lambda f: f[0])
    if closed_at is not None and closed_at <= at:
        return None, ""
    return at, reason


def _status(
    *,
    certification_class: str,
    current: Evaluation | None,
    evaluated_at: datetime | None,
    evaluation_due: datetime,
    window_due: datetime | None,
    kev_due: datetime | None,
    due: datetime | None,
    accepted_at: datetime | None,
    closed_at: datetime | None,
    disposition: str,
    remediated_at: datetime | None,
    as_of: datetime,
) -> tuple[str, bool, str]:
    """(overlay status, overdue, explanation)."""
    if closed_at is not None:
        label = DISPOSITION_LABELS[disposition].lower()
        if disposition == FALSE_POSITIVE:
            return EXEMPT, False, f"Closed as a false positive on {_when(closed_at)}."
        # VDR-TFR-KEV: a KEV is remediated by its due date even when fully
        # mitigated.
        if (
            disposition == FULLY_MITIGATED
            and kev_due is not None
            and remediated_at is None
        ):
            if kev_due <= as_of:
                return (
                    BREACHED,
                    True,
                    (
                        f"Fully mitigated on {_when(closed_at)}, but a known exploited "
                        f"vulnerability must be remediated by its CISA KEV due date "
                        f"{_when(kev_due)} (VDR-TFR-KEV), which passed."
                    ),
                )
            return (
                OPEN,
                False,
                (
                    f"Fully mitigated on {_when(closed_at)}; still to be remediated by "
                    f"its CISA KEV due date {_when(kev_due)} (VDR-TFR-KEV)."
                ),
            )
        deadline = due if disposition == REMEDIATED else (window_due or evaluation_due)
        if deadline is None or closed_at <= deadline:
            return MET, False, f"{label.capitalize()} on {_when(closed_at)}, in time."
        return (
            MISSED,
            False,
            (
                f"{label.capitalize()} on {_when(closed_at)}, after its due time "
                f"{_when(deadline)}."
            ),
        )
    if accepted_at is not None:
        return ACCEPTED, False, f"Accepted on {_when(accepted_at)}."
    if evaluated_at is None:
        within = timeframe_text(EVALUATION_TIMEFRAMES[certification_class])
        if evaluation_due <= as_of:
            return (
                BREACHED,
                True,
                (
                    f"Not evaluated: VER-TFR-EVU asks Class {certification_class} "
                    f"to evaluate within {within} of detection, by "
                    f"{_when(evaluation_due)}; its PAIN or IRV is not set."
                ),
            )
        return (
            OPEN,
            False,
            (
                f"To be evaluated by {_when(evaluation_due)} (VER-TFR-EVU); its "
                "PAIN or IRV is not set yet."
            ),
        )
    assert current is not None  # noqa: S101 - evaluated_at implies an evaluation
    cell = (
        f"Class {certification_class}, N{current.pain}, {COLUMN_LABELS[current.column]}"
    )
    if due is None:
        return (
            OPEN,
            False,
            (
                "N1: no VDR-TFR-PVR timeframe; handled in routine operations "
                "(VDR-TFR-RMN)."
            ),
        )
    parts = []
    if window_due is not None:
        parts.append(
            f"the VDR-TFR-PVR window ({cell}: {timeframe_text(current.timeframe)} "
            f"from {_when(current.at)}) ends {_when(window_due)}"
        )
    if kev_due is not None:
        parts.append(f"the CISA KEV due date (VDR-TFR-KEV) is {_when(kev_due)}")
    said = "; ".join(parts)
    if due <= as_of:
        return (
            BREACHED,
            True,
            f"Overdue: {said}, and it is not yet mitigated to a lower N-rating "
            "or remediated.",
        )
    return OPEN, False, f"Not overdue: {said}; {_left(due - as_of)} left."


def _left(span: timedelta) -> str:
    if span >= timedelta(days=1):
        return timeframe_text(timedelta(days=span.days))
    hours = max(1, int(span.total_seconds() // 3600))
    return timeframe_text(timedelta(hours=hours))
