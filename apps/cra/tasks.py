"""Cases open themselves: after each KEV import and matching run, the sweep
finds listed vulnerabilities that now affect a catalog build (awareness is
read from the data, so a late sweep does not move a deadline)."""

from __future__ import annotations

from celery import shared_task

from .services import cra_cases_open


@shared_task(name="cra.cases_open", time_limit=300, soft_time_limit=280)
def cases_open() -> int:
    return cra_cases_open()
