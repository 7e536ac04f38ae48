"""What the checks share: the violation, the subject they read, how a check is
registered, and the helpers that recount the ledger and word a message."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from typing import IO

from django.db.models import QuerySet

from apps.orgs.models import Organization
from apps.sla.models import SlaClock

from ..models import Report

Kind = Report.Kind

COMPLIANCE = frozenset({Kind.ORG_COMPLIANCE, Kind.EVIDENCE_BUNDLE})
PDF_KINDS = frozenset(
    {
        Kind.ORG_COMPLIANCE,
        Kind.IMAGE_DOSSIER,
        Kind.SLA_PERFORMANCE,
        Kind.EVIDENCE_BUNDLE,
    }
)

IDS_IN_MESSAGE = 10


@dataclass(frozen=True)
class Violation:
    """One way a report contradicts itself or the ledger."""

    check: str
    subject: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Subject:
    """What the checks read of one report. A part left None is not checked
    (the bundle's own checks run once the zip exists)."""

    report: Report
    evidence: dict | None = None
    evidence_json: bytes | None = None
    pdf: bytes | None = None
    bundle: IO[bytes] | None = None
    workbook: bytes | None = None
    oscal: bytes | None = None
    # The build read the ledger between these instants; None: until now.
    built_from: datetime | None = None
    built_until: datetime | None = None
    # The stored file, open (only when re-checking stored reports).
    stored: IO[bytes] | None = None


CheckFn = Callable[[Subject], Iterable[str]]


@dataclass(frozen=True)
class Check:
    name: str
    kinds: frozenset[str]
    # The part of the report the check reads: evidence, pdf, bundle,
    # workbook, oscal or stored.
    reads: str
    run: CheckFn
    description: str


def check(
    registry: list[Check], name: str, *, kinds: Iterable[str], reads: str = "evidence"
):
    """Add a check to its family's ``registry``: ``run(subject)`` yields one
    message per violation."""

    def add(run: CheckFn) -> CheckFn:
        doc = (run.__doc__ or "").strip().split("\n\n")[0]
        registry.append(
            Check(name, frozenset(kinds), reads, run, " ".join(doc.split()))
        )
        return run

    return add


def subject_label(report: Report) -> str:
    return f"report {report.public_id}"


# --- helpers -------------------------------------------------------------------


def ids_text(ids: Iterable[int]) -> str:
    ordered = sorted(ids)
    shown = ", ".join(str(i) for i in ordered[:IDS_IN_MESSAGE])
    if len(ordered) > IDS_IN_MESSAGE:
        shown += f" and {len(ordered) - IDS_IN_MESSAGE} more"
    return shown


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _ledger_ids(subject: Subject, clocks: QuerySet[SlaClock]) -> tuple[set, set]:
    """The ids the ledger held when the build began, and when it ended."""
    began = subject.built_from
    held_before = set(
        clocks.filter(created_at__lt=began).values_list("id", flat=True)
        if began is not None
        else ()
    )
    until = clocks
    if subject.built_until is not None:
        until = clocks.filter(created_at__lte=subject.built_until)
    return held_before, set(until.values_list("id", flat=True))


def compare_with_ledger(
    subject: Subject, reported: list[int], clocks: QuerySet[SlaClock], what: str
) -> Iterator[str]:
    duplicates = [i for i, n in Counter(reported).items() if n > 1]
    if duplicates:
        yield f"{what} lists clock(s) {ids_text(duplicates)} more than once."
    held_before, held_after = _ledger_ids(subject, clocks)
    ids = set(reported)
    missing = held_before - ids
    extra = ids - held_after
    if missing or extra:
        parts = [
            f"{what} counts {plural(len(ids), 'clock')}; the ledger, "
            f"recounted, has {len(held_before)} to {len(held_after)}"
        ]
        if missing:
            parts.append(f"not in the report: {ids_text(missing)}")
        if extra:
            parts.append(f"not in the ledger: {ids_text(extra)}")
        yield "; ".join(parts) + "."


def window_bounds(report: Report) -> tuple[datetime, datetime]:
    """[start, end) of the window in UTC, the end capped at the cut-off: the
    window the compliance evidence states (``period``)."""
    if report.window_start is None or report.window_end is None:
        raise ValueError("the report has no window")
    start = datetime.combine(report.window_start, time.min, tzinfo=UTC)
    end = datetime.combine(report.window_end + timedelta(days=1), time.min, tzinfo=UTC)
    return start, min(end, report.data_cutoff)


def report_org(report: Report) -> Organization:
    if report.org is None:
        raise ValueError("the report has no organization")
    return report.org
