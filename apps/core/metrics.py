"""Prometheus metrics: requests, Celery queue depth, SLA transition and report
durations, served at /metrics to a bearer token or an allowed network only.

Under gunicorn (several worker processes) and Celery (prefork children) each
process writes its samples to files under ``PROMETHEUS_MULTIPROC_DIR`` and the
scrape adds them up (prometheus_client's multiprocess mode); the directory must
be empty when the server starts (deploy/gunicorn.conf.py and
deploy/entrypoint.py clear it) and a dead process is marked so by the
``child_exit`` hook.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

# Any process may be the first to write here (a one-off manage.py command too).
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests answered, by route name, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the first middleware to the response, by route name.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SLA_TRANSITIONS_SECONDS = Histogram(
    "portal_sla_transitions_duration_seconds",
    "Duration of one SLA transitions run (moves plus the desk refresh).",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
# Observed by apps/reports/services/pipeline.py for every attempt it claims.
REPORT_SECONDS = Histogram(
    "portal_report_duration_seconds",
    "Time to render, sign and store one report attempt, by report kind and "
    "outcome (ready, check_failed, failed, lost_lease).",
    ["kind", "outcome"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600),
)


def report_observe(*, kind: str, outcome: str, seconds: float) -> None:
    REPORT_SECONDS.labels(kind=kind, outcome=outcome).observe(seconds)


def request_observe(*, method: str, route: str, status: int, seconds: float) -> None:
    method = method if method in _METHODS else "OTHER"
    REQUESTS.labels(route=route, method=method, status=str(status)).inc()
    REQUEST_SECONDS.labels(route=route, method=method).observe(seconds)


# --------------------------------------------------------------------------
# Queue depth, read from the Redis broker at scrape time.
# --------------------------------------------------------------------------

QUEUE_DEPTH_TTL_SECONDS = 10.0
# kombu keeps a queue's messages of priority p > 0 under "<queue>\x06\x16<p>".
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
_depth_lock = threading.Lock()
_depth_cache: dict[str, tuple[float, dict[str, int]]] = {}


def celery_queue_depths(*, now: float | None = None) -> dict[str, int]:
    """Messages waiting per queue (LLEN on the broker), cached for a few
    seconds so frequent scrapes do not load Redis. Empty when the broker is not
    Redis or does not answer."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    now = time.monotonic() if now is None else now
    with _depth_lock:
        cached = _depth_cache.get(url)
        if cached and now - cached[0] < QUEUE_DEPTH_TTL_SECONDS:
            return cached[1]
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in settings.CELERY_QUEUE_NAMES:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("queue depth: broker did not answer: %s", exc)
        return {}
    finally:
        client.close()
    step = len(_PRIORITY_SUFFIXES)
    depths = {
        queue: sum(lengths[i * step : (i + 1) * step])
        for i, queue in enumerate(settings.CELERY_QUEUE_NAMES)
    }
    with _depth_lock:
        _depth_cache[url] = (now, depths)
    return depths


class QueueDepthCollector:
    def collect(self):
        family = GaugeMetricFamily(
            "portal_celery_queue_depth",
            "Messages waiting in each Celery queue on the broker.",
            labels=["queue"],
        )
        for queue, depth in sorted(celery_queue_depths().items()):
            family.add_metric([queue], depth)
        yield family


# --------------------------------------------------------------------------
# Exposition.
# --------------------------------------------------------------------------


def _process_registry() -> CollectorRegistry:
    """All processes' samples in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_text() -> bytes:
    extra = CollectorRegistry()
    extra.register(QueueDepthCollector())
    return generate_latest(_process_registry()) + generate_latest(extra)


def metrics_allowed(request) -> bool:
    """A bearer token equal to METRICS_TOKEN, or a direct caller (no proxy in
    between) from METRICS_ALLOWED_CIDRS."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header[7:].encode(), token.encode())
    # Whatever came through the proxy carries X-Forwarded-For; the proxy's own
    # address must not let the public in.
    if request.headers.get("X-Forwarded-For"):
        return False
    try:
        caller = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        caller in ipaddress.ip_network(cidr, strict=False)
        for cidr in settings.METRICS_ALLOWED_CIDRS
    )


@never_cache
def metrics_view(request):
    """Prometheus exposition; anyone else is told there is nothing here."""
    if request.method != "GET" or not metrics_allowed(request):
        raise Http404
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


# --------------------------------------------------------------------------
# Celery workers: their own samples (task durations) on their own port.
# --------------------------------------------------------------------------


def worker_metrics_serve(port: int) -> None:
    """Serve this worker's samples (all its prefork children) on ``port``.
    Not behind the Ingress: only Prometheus inside the cluster reaches it."""
    from prometheus_client import start_http_server

    start_http_server(port, registry=_process_registry())
    logger.info("worker metrics on port %s", port)


def worker_child_exit(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)
