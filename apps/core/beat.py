"""Celery beat that sends only while it holds a lock in the broker's Redis.

Exactly one beat must send the schedule: two would run every periodic task
twice. Compose and Kubernetes run one replica, but a Kubernetes node cut off
from the API server keeps its beat running while a replacement starts
elsewhere. So beat takes a lock in Redis, the broker itself: a beat that
cannot reach Redis cannot send tasks either, and one that can sends only
while it holds the lock.

- The lock is a key with a token (redis-py's ``Lock``) that expires after
  ``BEAT_LOCK_TIMEOUT`` seconds unless its holder renews it; beat renews it
  on every tick and ticks at least every third of that.
- A beat without the lock sends nothing, says so once, and tries again each
  tick: it takes over within ``BEAT_LOCK_TIMEOUT`` of the holder's death.
- A holder that finds its lock gone (expired while it was cut off, taken by
  another) stops sending at once; it never renews someone else's lock.
- Every tick writes the liveness heartbeat (apps.core.liveness), with or
  without the lock: a waiting beat is well.

The entry point runs beat with ``--scheduler apps.core.beat:LockedScheduler``.
"""

from __future__ import annotations

import contextlib
import logging
import os

from celery.beat import PersistentScheduler

from apps.core.liveness import beat_now

logger = logging.getLogger("portal.beat")

LOCK_KEY = "portal:beat:lock"


def lock_timeout() -> float:
    return float(os.environ.get("BEAT_LOCK_TIMEOUT", "60"))


class LockedScheduler(PersistentScheduler):
    """PersistentScheduler whose ``tick`` sends only under the beat lock."""

    lock_key = LOCK_KEY

    def __init__(self, *args, **kwargs):
        self.lock_timeout = lock_timeout()
        self._lock = None
        self._held = False
        self._state: str | None = None
        super().__init__(*args, **kwargs)
        # Tick often enough to renew the lock in time.
        self.max_interval = min(self.max_interval, self.lock_timeout / 3)

    def _redis(self):
        import redis

        url = self.app.conf.broker_url
        if not str(url).startswith(("redis://", "rediss://")):
            raise RuntimeError(
                f"the beat lock needs a Redis broker, not {str(url).split(':')[0]}"
            )
        return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def _get_lock(self):
        if self._lock is None:
            self._lock = self._redis().lock(
                self.lock_key, timeout=self.lock_timeout, thread_local=False
            )
        return self._lock

    def holds_lock(self) -> bool:
        """Take or renew the lock; True while this beat may send."""
        import redis

        lock = self._get_lock()
        try:
            if self._held:
                lock.reacquire()
            else:
                self._held = lock.acquire(blocking=False)
        except redis.exceptions.LockError:
            logger.warning(
                "beat lock lost (expired or taken by another beat): not sending"
            )
            self._held = False
            lock.local.token = None
        except redis.RedisError as exc:
            if self._held:
                logger.warning("beat lock not renewed (%s): not sending", exc)
            self._held = False
        state = "held" if self._held else "waiting"
        if state != self._state:
            if self._held:
                logger.info("beat lock %s taken: sending the schedule", self.lock_key)
            else:
                logger.info(
                    "beat lock %s held by another beat (or Redis is away): waiting",
                    self.lock_key,
                )
            self._state = state
        return self._held

    def tick(self, *args, **kwargs):
        with contextlib.suppress(OSError):
            beat_now()
        if not self.holds_lock():
            return self.max_interval
        return min(super().tick(*args, **kwargs), self.max_interval)

    def close(self):
        super().close()
        if self._held and self._lock is not None:
            import redis

            # If Redis is away, the lock expires by itself.
            with contextlib.suppress(redis.RedisError):
                self._lock.release()
            self._held = False
