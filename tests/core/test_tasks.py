"""Mail tasks travel through a real Redis broker to a real worker."""

import os
import socket
import time
import uuid
from urllib.parse import urlsplit

import pytest
from celery._state import _set_task_join_will_block
from celery.app.trace import reset_worker_optimizations
from celery.contrib.testing.worker import start_worker
from django.core import mail

from apps.core.tasks import deliver_email
from apps.orgs import services
from apps.orgs.models import Role
from portal.celery import app
from tests.conftest import require_service


def _redis_url() -> str:
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1):
            pass
    except OSError as exc:
        require_service("Redis", str(exc))
    return url


def _reset_pool() -> None:
    # Producers must connect to the broker now configured (as after a fork).
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_worker(settings):
    url = _redis_url()
    queue = f"test-{uuid.uuid4().hex[:8]}"
    saved = {
        key: app.conf[key]
        for key in ("broker_url", "task_always_eager", "task_default_queue")
    }
    app.conf.update(broker_url=url, task_always_eager=False, task_default_queue=queue)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    _reset_pool()
    with start_worker(
        app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10
    ) as worker:
        yield worker
    # Starting a worker marks this process as one (result.get() then refuses
    # to block, "Never call result.get() within a task!"): undo it for the
    # tests that run after this one in the same process.
    reset_worker_optimizations(app)
    _set_task_join_will_block(False)
    app.conf.update(saved)
    _reset_pool()


@pytest.mark.django_db(transaction=True)
def test_invitation_mail_goes_through_the_broker(redis_worker, owner):
    services.invitation_create(
        org=owner.org,
        email="queued@example.com",
        role=Role.MEMBER,
        actor_membership=owner,
    )
    # The on_commit hook queued the task; the worker thread delivers it.
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [m.to for m in mail.outbox] == [["queued@example.com"]]
    assert "invited you to join" in mail.outbox[0].body


def test_deliver_email_task_sends_one_mail():
    result = deliver_email.apply(
        kwargs={"subject": "s", "body": "b", "to": ["x@example.com"]}
    )
    assert result.get() == 1
    assert mail.outbox[0].subject == "s"


def test_no_task_outlives_the_brokers_visibility_timeout(settings):
    """An acks_late task running longer than the visibility timeout would be
    handed to a second worker while the first still runs it."""
    app.loader.import_default_modules()
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    limits = {
        name: task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        for name, task in app.tasks.items()
        if not name.startswith("celery.")
    }
    assert "reports.run" in limits
    too_long = {name: s for name, s in limits.items() if s >= timeout}
    assert too_long == {}
