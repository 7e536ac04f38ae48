"""FIPS tasks: ids in, one service call each."""

from __future__ import annotations

from celery import shared_task

from .notices import fips_notices_run


@shared_task(name="fips.notices_run", time_limit=300, soft_time_limit=270)
def fips_notices_task() -> dict:
    """Safe to overlap and to repeat: events are recorded once by key and the
    ledger lets each notice out once per organization and channel."""
    return fips_notices_run().as_dict()
