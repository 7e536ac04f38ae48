"""Liveness of the Celery processes, without the broker.

A worker's readiness is a Celery ping through Redis (deploy/entrypoint.py
``healthcheck``): a worker cut off from the broker takes no work. Its liveness
must not be: a Redis outage would otherwise restart every worker at once. So
each worker's main process and beat write a heartbeat file under /tmp (a
tmpfs in every deployment) and ``entrypoint.py healthcheck --liveness`` reads
its age only.

- Workers: a bootstep starts a daemon thread once the pool runs; it touches
  the file every ``HEARTBEAT_INTERVAL`` seconds while the worker's blueprint
  is running, whatever the broker connection is doing (the consumer reconnects
  in the main thread, the heartbeat goes on).
- Beat: the locked scheduler (apps.core.beat) touches it on every tick, held
  lock or not.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

from celery import bootsteps

HEARTBEAT_INTERVAL = 10.0
# A probe calls a process dead when its heartbeat is older than this.
HEARTBEAT_MAX_AGE = 90.0
DEFAULT_FILE = "/tmp/portal-heartbeat"  # noqa: S108  (the container's tmpfs)


def heartbeat_file() -> Path:
    return Path(os.environ.get("PORTAL_HEARTBEAT_FILE", DEFAULT_FILE))


def beat_now(path: Path | None = None) -> None:
    """Record that the process is alive now (atomic: write, then rename)."""
    path = path or heartbeat_file()
    partial = path.with_name(path.name + ".partial")
    partial.write_text(f"{time.time():.3f}\n")
    partial.replace(path)


def heartbeat_age(path: Path | None = None, now: float | None = None) -> float | None:
    """Seconds since the last heartbeat, or None when there is none."""
    path = path or heartbeat_file()
    try:
        written = float(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return (time.time() if now is None else now) - written


class WorkerHeartbeat(bootsteps.StartStopStep):
    """The worker's heartbeat thread (added to the worker blueprint in
    portal/celery.py)."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker):
        def run() -> None:
            from celery.bootsteps import RUN

            while not self._stop.is_set():
                if worker.blueprint.state == RUN:
                    # No heartbeat written: the probe reports it.
                    with contextlib.suppress(OSError):
                        beat_now()
                self._stop.wait(HEARTBEAT_INTERVAL)

        self._thread = threading.Thread(
            target=run, name="portal-heartbeat", daemon=True
        )
        self._thread.start()

    def stop(self, worker):
        self._stop.set()
        heartbeat_file().unlink(missing_ok=True)

    shutdown = stop
