"""Celery workers and beat log through the project's LOGGING (JSON lines in
production, apps/core/logging.py), not Celery's own format.

A receiver of ``setup_logging`` makes Celery leave logging alone; this one
applies ``settings.LOGGING``, so Celery's own lines (``celery.*``), task logs
and anything a task prints (redirected to the ``celery.redirected`` logger)
come out through the same formatter as the web's. Connected when
portal/celery.py imports this module, before a worker or beat starts.
"""

from __future__ import annotations

import logging.config
from typing import Any

from celery.signals import setup_logging


@setup_logging.connect(weak=False)
def celery_logging_setup(loglevel: Any = None, **kwargs: Any) -> None:
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if settings.LOG_FORMAT == "json":
        # Celery redirects print() and stray stderr only when it configured
        # logging itself; do it here so those lines are JSON too. The handler
        # kept the real stream, so its output is not fed back.
        from celery import current_app

        current_app.log.redirect_stdouts("WARNING")
