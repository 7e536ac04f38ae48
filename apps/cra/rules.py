"""EU Cyber Resilience Act, Article 14(1)-(2): what a manufacturer reports
about an actively exploited vulnerability in its product, and by when.

Regulation (EU) 2024/2847, Article 14 applies from 11 September 2026
(Article 71(2)). For each actively exploited vulnerability the manufacturer
becomes aware of, it notifies, through the single reporting platform (ENISA):

- an early warning without undue delay and in any event within 24 hours of
  becoming aware (Article 14(2)(a));
- a vulnerability notification within 72 hours of becoming aware
  (Article 14(2)(b));
- a final report no later than 14 days after a corrective or mitigating
  measure is available (Article 14(2)(c)).

Awareness before the date of application counts from that date: the
obligation did not exist earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

APPLIES_FROM = datetime(2026, 9, 11, tzinfo=UTC)

EARLY_WARNING = "early_warning"
NOTIFICATION = "notification"
FINAL_REPORT = "final_report"


@dataclass(frozen=True)
class Stage:
    key: str
    name: str
    article: str
    # From awareness, or from the corrective measure for the final report.
    within: timedelta
    from_corrective_measure: bool = False


STAGES = (
    Stage(EARLY_WARNING, "Early warning", "Article 14(2)(a)", timedelta(hours=24)),
    Stage(
        NOTIFICATION,
        "Vulnerability notification",
        "Article 14(2)(b)",
        timedelta(hours=72),
    ),
    Stage(
        FINAL_REPORT,
        "Final report",
        "Article 14(2)(c)",
        timedelta(days=14),
        from_corrective_measure=True,
    ),
)
STAGE_BY_KEY = {stage.key: stage for stage in STAGES}


def clock_start(aware_at: datetime) -> datetime:
    """When the deadlines run from: awareness, or the date of application."""
    return max(aware_at, APPLIES_FROM)


def stage_due(
    stage: Stage, *, aware_at: datetime, corrective_at: datetime | None
) -> datetime | None:
    """The stage's deadline; None for the final report while no corrective
    or mitigating measure is available."""
    if stage.from_corrective_measure:
        if corrective_at is None:
            return None
        return max(corrective_at, clock_start(aware_at)) + stage.within
    return clock_start(aware_at) + stage.within
