"""Celery application: one app, queues per kind of work (default, reports, ingest)."""

import os

from celery import Celery

from apps.core import celery_logging  # noqa: F401  (Celery logs through LOGGING)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
