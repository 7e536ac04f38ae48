"""The SLA ledger's CSV exports: the customer's clocks and the staff's
credits owed, as rows of plain values. No queries (the caller loads what a
row reads) and no CSV text: the views hand the rows to the one export writer
(``apps.core.exports``), which neutralizes every cell."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..models import SlaClock
    from ..selectors.credits import Credits

CLOCK_COLUMNS = [
    "id",
    "vulnerability",
    "severity",
    "state",
    "repository",
    "digest",
    "kev",
    "start_event",
    "started_at",
    "at_risk_at",
    "due_at",
    "kev_capped",
    "fixed_published_at",
    "stopped_at",
    "stop_reason",
    "exempt_reason",
    "policy",
    "also_known_as",
    "image",
]
CREDIT_COLUMNS = [
    "org_slug",
    "org_name",
    "month",
    "policy_version",
    "breaches",
    "monthly_fee_cents",
    "percent_per_breach",
    "cap_percent",
    "credit_cents",
]


def clock_row(clock: SlaClock) -> list[Any]:
    """One clock as the customer's export writes it."""
    finding = clock.finding
    return [
        clock.pk,
        finding.vulnerability.cve_id,
        clock.severity,
        clock.state,
        finding.digest.variant.series.repository.name,
        finding.digest.digest,
        "yes" if finding.vulnerability.kev else "no",
        clock.start_event,
        clock.started_at,
        clock.at_risk_at,
        clock.due_at,
        "yes" if clock.kev_capped else "no",
        finding.fixed_published_at,
        clock.stopped_at,
        clock.stop_reason,
        clock.exempt_reason,
        str(clock.policy_version),
        " ".join(finding.vulnerability.other_ids),
        str(finding.digest.variant),
    ]


def credit_rows(owed: Iterable[Credits]) -> Iterator[list[Any]]:
    """The header, then one row per org, month and policy version owed."""
    yield CREDIT_COLUMNS
    for credits in owed:
        for line in credits.lines:
            yield [
                credits.org.slug,
                credits.org.name,
                line.month.isoformat(),
                line.policy_version,
                line.breaches,
                line.fee_cents,
                line.percent_per_breach,
                "" if line.cap_percent is None else line.cap_percent,
                line.credit_cents,
            ]
