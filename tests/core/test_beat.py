"""Every scheduled task names a task the workers actually have."""

from django.conf import settings

from portal.celery import app


def test_beat_schedule_names_registered_tasks():
    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name} schedules an unknown task"
        assert entry["schedule"] > 0
