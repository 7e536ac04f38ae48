"""gunicorn settings for the portal's web process.

gunicorn -c deploy/gunicorn.conf.py portal.wsgi
"""

import multiprocessing
import os
from pathlib import Path

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# (2 x cores) + 1 sync workers unless WEB_CONCURRENCY says otherwise. In a
# container the machine's core count is not the container's: Kubernetes passes
# the CPU limit as GUNICORN_CPUS (a resourceFieldRef), compose sets it.
cpus = int(os.environ.get("GUNICORN_CPUS") or multiprocessing.cpu_count())
workers = int(os.environ.get("WEB_CONCURRENCY") or cpus * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Django is loaded once in the master and forked: a worker that dies is
# replaced in milliseconds instead of re-importing the whole project.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() != "false"
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# The workers' heartbeat files: in memory, and writable on a read-only root.
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR") or None
# gunicorn's control socket (for gunicornc) lives under $HOME, which the image
# has none of on a read-only root; the portal never uses it.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
# One JSON line per request; request_id is the X-Request-ID the portal answered
# with, the same id its own log lines for that request carry.
access_log_format = (
    '{"remote":"%(h)s","method":"%(m)s","path":"%(U)s","query":"%(q)s",'
    '"status":%(s)s,"bytes":%(B)s,"duration_us":%(D)s,"agent":"%(a)s",'
    '"request_id":"%({x-request-id}o)s"}'
)


def on_starting(server):
    # prometheus_client's multiprocess files: a fresh set per server start, or
    # counters of a previous run would be added to this one's.
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


def when_ready(server):
    # Runs in the master after the app is preloaded and before any worker is
    # forked. Django imports the URLconf (and with it every view module:
    # WeasyPrint, pyHanko, lxml, ...) on a process's first request; done here
    # once, every worker, including those max_requests replaces, starts warm
    # instead of spending a second of CPU on its first request.
    if server.cfg.preload_app:
        from django.urls import get_resolver

        get_resolver().reverse_dict  # noqa: B018  (imports and indexes every route)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
