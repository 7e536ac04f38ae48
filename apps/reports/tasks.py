"""Report tasks, on the ``reports`` queue (CELERY_TASK_ROUTES): ids in, one
service call each.

``reports.run`` is idempotent by the report's status and lease, so it is
acknowledged late: a worker killed mid-report leaves the message (and the
lease) to be taken up again, and the sweep re-queues what a lost message left.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError, InterfaceError

from .models import Report
from .services import intake, pipeline, sweep

logger = logging.getLogger(__name__)


@shared_task(
    name="reports.run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    # The database or the storage going away for a moment: try again later.
    autoretry_for=(DatabaseError, InterfaceError, ConnectionError, TimeoutError),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=pipeline.MAX_ATTEMPTS + 3,
    # A few hundred pages take minutes, not an hour.
    soft_time_limit=1700,
    time_limit=1800,
)
def run_report(self, report_id: int) -> str:
    report = pipeline.report_run(report_id=report_id, worker=self.request.hostname)
    if report.status == Report.Status.QUEUED and report.attempts:
        # The attempt failed and another is allowed: later, not at once. A new
        # message, not a task retry: the attempts are counted on the report.
        run_report.apply_async((report_id,), countdown=30 * 2 ** (report.attempts - 1))
    return report.status


@shared_task(name="reports.requeue_stale", time_limit=120, soft_time_limit=110)
def requeue_stale() -> int:
    """Re-queue reports whose task was lost or whose worker died."""
    count = 0
    for report_id in sweep.reports_stale():
        status, attempts = Report.objects.values_list("status", "attempts").get(
            pk=report_id
        )
        if status == Report.Status.RENDERING and attempts >= pipeline.MAX_ATTEMPTS:
            sweep.report_expire_exhausted(report_id=report_id)
            continue
        intake.report_enqueue(report_id=report_id)
        count += 1
    if count:
        logger.info("re-queued %s stale reports", count)
    return count
