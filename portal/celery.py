"""Celery application: one app, queues per kind of work (default, reports, ingest)."""

import os

from celery import Celery

from apps.core import celery_logging  # noqa: F401  (Celery logs through LOGGING)
from apps.core.liveness import WorkerHeartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker writes a heartbeat file its liveness probe reads without the
# broker (apps/core/liveness.py).
app.steps["worker"].add(WorkerHeartbeat)
