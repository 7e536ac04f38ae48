"""Worker and beat liveness without the broker, and the beat lock.

- A worker whose broker is unreachable still writes its heartbeat, so its
  liveness probe passes while its readiness (a Celery ping) fails: a Redis
  outage restarts no worker.
- Two beats on one Redis: only the lock holder sends; the other takes over
  when the holder stops or its lock expires; a holder that lost its lock
  sends nothing. Sends are counted in the broker's own queue (real Redis).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from celery import Celery

from apps.core import beat as beat_module
from apps.core.beat import LockedScheduler
from apps.core.liveness import beat_now, heartbeat_age
from tests.core.test_ready import _redis_url

from .conftest import DEPLOY, ROOT


@pytest.fixture
def redis_url():
    return _redis_url()


@pytest.fixture
def beat_app(redis_url):
    """A Celery app on the test Redis db with one entry due every 0.2 s, on a
    queue of its own, and a lock key of its own."""
    queue = f"beat-test-{uuid.uuid4().hex[:8]}"
    app = Celery("beat-test", broker=redis_url, set_as_current=False)
    app.conf.beat_schedule = {
        "often": {
            "task": "beat.test.often",
            "schedule": timedelta(seconds=0.2),
            "options": {"queue": queue},
        }
    }
    app.conf.broker_connection_retry_on_startup = False
    yield app, queue
    import redis

    redis.Redis.from_url(redis_url).delete(queue)


@pytest.fixture
def heartbeat(tmp_path, monkeypatch):
    path = tmp_path / "heartbeat"
    monkeypatch.setenv("PORTAL_HEARTBEAT_FILE", str(path))
    return path


def scheduler(app, tmp_path, name, lock_key):
    monkey_key = type("KeyedScheduler", (LockedScheduler,), {"lock_key": lock_key})
    return monkey_key(
        app=app, schedule_filename=str(tmp_path / f"schedule-{name}"), lazy=False
    )


def queued(redis_url, queue) -> int:
    import redis

    return redis.Redis.from_url(redis_url).llen(queue)


def run_ticks(sched, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sched.tick()
        time.sleep(0.05)


def test_only_the_lock_holder_sends_and_the_other_takes_over(
    beat_app, redis_url, tmp_path, heartbeat, monkeypatch, caplog
):
    caplog.set_level("INFO", logger="portal.beat")
    app, queue = beat_app
    monkeypatch.setenv("BEAT_LOCK_TIMEOUT", "3")
    key = f"beat-test-lock-{uuid.uuid4().hex[:8]}"
    first = scheduler(app, tmp_path, "first", key)
    second = scheduler(app, tmp_path, "second", key)
    assert first.max_interval == 1.0  # a third of the lock's life
    try:
        assert first.holds_lock()
        assert not second.holds_lock()
        run_ticks(first, 0.7)
        sent_by_first = queued(redis_url, queue)
        assert sent_by_first >= 2
        # The second beat, ticking as much, adds nothing.
        run_ticks(second, 0.7)
        assert queued(redis_url, queue) == sent_by_first
        # Both wrote the heartbeat: a waiting beat is alive.
        assert heartbeat_age(heartbeat) < 5
        # The first stops (close releases the lock): the second sends.
        first.close()
        run_ticks(second, 0.7)
        assert queued(redis_url, queue) > sent_by_first
        # Each change of state said once: taken, waiting, taken.
        said = [
            r.getMessage().split(": ")[-1]
            for r in caplog.records
            if r.name == "portal.beat"
        ]
        assert said == [
            "sending the schedule",
            "waiting",
            "sending the schedule",
        ]
    finally:
        second.close()


def test_a_holder_whose_lock_expired_stops_sending(
    beat_app, redis_url, tmp_path, heartbeat, monkeypatch
):
    """A beat cut off for longer than the lock's life (a partitioned node):
    another took the lock; the old holder must not send, nor renew the new
    holder's lock."""
    app, queue = beat_app
    monkeypatch.setenv("BEAT_LOCK_TIMEOUT", "1")
    key = f"beat-test-lock-{uuid.uuid4().hex[:8]}"
    old = scheduler(app, tmp_path, "old", key)
    new = scheduler(app, tmp_path, "new", key)
    try:
        assert old.holds_lock()
        time.sleep(1.2)  # expired while "cut off"
        assert new.holds_lock()
        before = queued(redis_url, queue)
        run_ticks(old, 0.5)
        assert queued(redis_url, queue) == before
        assert not old._held
        # The new holder's lock is intact and still its own.
        assert new.holds_lock()
    finally:
        old.close()
        new.close()


def test_beat_without_redis_waits_and_stays_alive(tmp_path, heartbeat):
    with socket_free_port() as port:
        app = Celery(
            "beat-test", broker=f"redis://127.0.0.1:{port}/0", set_as_current=False
        )
        app.conf.beat_schedule = {}
        sched = LockedScheduler(
            app=app, schedule_filename=str(tmp_path / "schedule"), lazy=False
        )
        try:
            assert sched.tick() == sched.max_interval
            assert not sched._held
            assert heartbeat_age(heartbeat) < 5
        finally:
            sched.close()


def test_the_beat_lock_refuses_a_broker_that_is_not_redis(tmp_path):
    app = Celery("beat-test", broker="memory://", set_as_current=False)
    app.conf.beat_schedule = {}
    sched = LockedScheduler(
        app=app, schedule_filename=str(tmp_path / "schedule"), lazy=False
    )
    with pytest.raises(RuntimeError, match="needs a Redis broker"):
        sched.tick()


class socket_free_port:
    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def __exit__(self, *exc) -> None:
        return None


def test_the_entry_point_runs_beat_with_the_lock(entrypoint):
    argv = entrypoint.argv_for(["beat"])
    assert argv[argv.index("--scheduler") + 1] == "apps.core.beat:LockedScheduler"
    _module, _, name = argv[argv.index("--scheduler") + 1].partition(":")
    assert getattr(beat_module, name) is LockedScheduler


# --- the probe ------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"), [(0, 0), (-30, 0), (-120, 1), (None, 1), ("junk", 1)]
)
def test_liveness_reads_only_the_heartbeat_age(
    entrypoint, heartbeat, monkeypatch, written, expected
):
    monkeypatch.setenv("PORTAL_HEARTBEAT_MAX_AGE", "90")
    if written == "junk":
        heartbeat.write_text("not a time\n")
    elif written is not None:
        heartbeat.write_text(f"{time.time() + written}\n")
    assert entrypoint.heartbeat_fresh() == expected


def test_liveness_refuses_other_arguments(entrypoint):
    with pytest.raises(SystemExit, match="usage"):
        entrypoint.main(["healthcheck", "--readiness"])


def test_beat_now_replaces_the_file_whole(heartbeat):
    beat_now(heartbeat)
    assert heartbeat_age(heartbeat) < 1
    assert not heartbeat.with_name(heartbeat.name + ".partial").exists()


def test_a_worker_cut_off_from_its_broker_is_alive_but_not_ready(tmp_path):
    """The real worker, as the entry point starts it, with a broker where
    nothing listens: the heartbeat comes while the consumer keeps retrying
    the broker, so the liveness probe passes (readiness, a Celery ping through
    the broker, is what fails then)."""
    with socket_free_port() as port:
        broker = f"redis://127.0.0.1:{port}/0"
    heartbeat = tmp_path / "heartbeat"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        "DJANGO_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": broker,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_CONCURRENCY": "1",
        "PORTAL_HEARTBEAT_FILE": str(heartbeat),
    }
    worker = subprocess.Popen(
        [sys.executable, str(DEPLOY / "entrypoint.py"), "worker", "default"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not heartbeat.exists() and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.25)
        assert heartbeat.exists(), "no heartbeat within 60 s"
        assert heartbeat_age(heartbeat) < 15
        assert worker.poll() is None  # still retrying the broker, not dead
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
