"""A worker killed with SIGKILL in the middle of a report: the report is
retried by another worker and ends ready exactly once.

Real processes: `celery worker -Q reports --pool=solo` against Redis and the
PostgreSQL test database, with the builders replaced by slow fakes
(tests/reports/test_worker_killed_app.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.reports.models import Report
from tests.conftest import require_service
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 12
LEASE_SECONDS = 3


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(Exception):
            if predicate():
                return
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s")


@pytest.fixture
def broker():
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "DATABASE_URL does not point at PostgreSQL")
    redis = pytest.importorskip("redis")
    parts = urlsplit(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    url = f"redis://{parts.hostname}:{parts.port or 6379}/{REDIS_DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    client.flushdb()
    yield url
    client.flushdb()


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    host, port = s["HOST"] or "127.0.0.1", s["PORT"] or 5432
    return f"postgres://{s['USER']}{password}@{host}:{port}/{s['NAME']}"


@contextmanager
def worker(env: dict, log: Path):
    argv = [
        str(Path(sys.executable).parent / "celery"),
        "-A",
        "tests.reports.test_worker_killed_app",
        "worker",
        "-Q",
        "reports",
        "--pool=solo",
        "-l",
        "info",
        "-n",
        f"w{uuid.uuid4().hex[:6]}@%h",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        wait_for(lambda: b"ready." in log.read_bytes(), 60, f"worker ({log.name})")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_the_report_retried_not_lost_or_doubled(
    broker, tmp_path
):
    from celery import Celery

    org = OrganizationFactory()
    owner = MembershipFactory(org=org, role="owner")
    today = timezone.now().date()
    report = Report.objects.create(
        request_id="killed-worker",
        kind=Report.Kind.ORG_COMPLIANCE,
        org=org,
        window_start=today - timedelta(days=30),
        window_end=today - timedelta(days=1),
        data_cutoff=timezone.now(),
        requested_by=owner.user,
    )
    marks, media = tmp_path / "marks", tmp_path / "media"
    marks.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "MEDIA_ROOT": str(media),
        "REPORT_LEASE_SECONDS": str(LEASE_SECONDS),
        "REPORT_FAKE_MARK_DIR": str(marks),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    probe = Celery("probe", broker=broker, set_as_current=False)

    def state():
        return Report.objects.values_list("status", "attempts").get(pk=report.pk)

    with worker(
        {**env, "REPORT_FAKE_RENDER_SECONDS": "120"}, tmp_path / "w1.log"
    ) as w1:
        probe.send_task("reports.run", args=[report.pk], queue="reports")
        wait_for(lambda: any(marks.iterdir()), 30, "the first worker renders")
        assert state() == (Report.Status.RENDERING, 1)
        os.kill(w1.pid, signal.SIGKILL)
        w1.wait(timeout=10)
    assert state() == (Report.Status.RENDERING, 1)  # held by a dead worker

    with worker({**env, "REPORT_FAKE_RENDER_SECONDS": "0.5"}, tmp_path / "w2.log"):
        # The beat's sweep, once the dead worker's lease has run out.
        wait_for(
            lambda: Report.objects.get(pk=report.pk).lease_until < timezone.now(),
            LEASE_SECONDS + 5,
            "the lease runs out",
        )
        probe.send_task("reports.requeue_stale", queue="reports")
        wait_for(
            lambda: state()[0] == Report.Status.READY,
            30,
            "the second worker finishes the report",
        )
        # A second sweep finds nothing to do.
        probe.send_task("reports.requeue_stale", queue="reports")
        time.sleep(1)

    report.refresh_from_db()
    assert (report.status, report.attempts) == (Report.Status.READY, 2)
    files = sorted(p.relative_to(media) for p in media.rglob("*") if p.is_file())
    assert [str(f) for f in files] == [
        f"reports/{report.public_id}-2.evidence.json",
        f"reports/{report.public_id}-2.pdf",
    ]
    ready = AuditEvent.objects.filter(
        action=AuditEvent.Action.REPORT_READY, target_id=str(report.pk)
    )
    assert ready.count() == 1
    assert len(list(marks.iterdir())) == 2  # rendered by each worker once
