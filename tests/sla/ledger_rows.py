"""Clock rows for the customer pages and API, timed relative to now (the
pages measure windows that end now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apps.sla.models import SlaClock, SlaPolicyVersion
from apps.vulns.models import Finding, Vulnerability

from .builders import ledger_clock, many_findings, mirror, repo_and_series

DAY = timedelta(days=1)


@dataclass(frozen=True)
class Row:
    state: str = "open"
    severity: str = "high"
    started: int = 5  # days ago
    due: int = 4  # days from now (negative: past)
    stopped: int | None = None  # days ago
    kev: bool = False


def version() -> SlaPolicyVersion:
    return SlaPolicyVersion.objects.get(policy__key="enterprise-default")


def seed(org, rows: list[Row], *, repo_name: str | None = None) -> list[SlaClock]:
    """One clock per row on a repository the org mirrors."""
    repo, series = repo_and_series(repo_name)
    mirror(org, repo)
    findings = many_findings(series, len(rows))
    now = timezone.now()
    clocks = []
    for f, row in zip(findings, rows, strict=True):
        if row.kev:
            Vulnerability.objects.filter(pk=f.vulnerability_id).update(kev=True)
        started = now - row.started * DAY
        stopped = None if row.stopped is None else now - row.stopped * DAY
        # The finding's own dates agree with the clock, for the overlays.
        fixed = row.state in ("met", "missed")
        Finding.objects.filter(pk=f.pk).update(
            detected_at=started,
            upstream_fix_at=started,
            status=Finding.Status.FIXED if fixed else Finding.Status.AFFECTED,
            fixed_published_at=stopped if fixed else None,
        )
        f.refresh_from_db()
        clocks.append(
            ledger_clock(
                org,
                f,
                version(),
                severity=row.severity,
                state=row.state,
                started_at=started,
                due_at=max(now + row.due * DAY, started + DAY),
                stopped_at=stopped,
            )
        )
    return clocks


EVERY_STATE = [
    Row("open"),
    Row("at_risk", due=1),
    Row("breached", severity="critical", started=20, due=-3, kev=True),
    Row("met", started=10, due=-1, stopped=8),
    Row("missed", started=30, due=-20, stopped=15),
    Row("exempt", severity="medium", started=10, due=20, stopped=2),
]
