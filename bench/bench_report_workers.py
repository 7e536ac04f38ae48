"""Horizontal scale of the report queue: the same REPORTS org compliance
reports built by 1 `reports` worker, then by 2, on PostgreSQL and Redis.

Seeds the organization of bench_report.py with CLOCKS clocks in its window.
For each worker count, starts that many `deploy/entrypoint.py worker reports`
processes (one Celery process each, prefetch 1, as deployed), waits until all
are ready, requests REPORTS reports through the service the API and pages use
(each queued on Redis at once), and times until every one is ready. Prints
reports per minute for each and the throughput ratio 2 workers / 1 worker
(the ceiling is 2.0; on a 2-core machine PostgreSQL and this process share
the cores with the workers).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_report_workers.py [REPORTS] [CLOCKS]
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "deploy/entrypoint.py"
REPORTS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
CLOCKS = int(sys.argv[2]) if len(sys.argv) > 2 else 500
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")

os.environ["CELERY_BROKER_URL"] = REDIS_URL
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
os.environ.setdefault(
    "REPORT_SIGNING_DIR", tempfile.mkdtemp(prefix="portal-bench-signing-")
)
sys.argv = sys.argv[:1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_report  # noqa: E402  (sets up Django on BENCH_DATABASE_URL)
import redis  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402

from apps.orgs.models import Membership, Role  # noqa: E402
from apps.reports.models import Report  # noqa: E402
from apps.reports.services.intake import report_request  # noqa: E402
from apps.reports.signing import signing_material  # noqa: E402


def start_workers(count: int, logs: Path) -> list[subprocess.Popen]:
    env = {
        **os.environ,
        "CELERY_CONCURRENCY": "1",
        "PYTHONPATH": str(ROOT),
        "LOG_LEVEL": "INFO",  # the worker says "ready" at INFO
    }
    workers = []
    for i in range(count):
        log = logs / f"worker-{count}-{i}.log"
        with log.open("wb") as out:
            workers.append(
                subprocess.Popen(  # noqa: S603
                    [sys.executable, str(ENTRYPOINT), "worker", "reports"],
                    env=env,
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    deadline = time.monotonic() + 120
    for i, proc in enumerate(workers):
        log = logs / f"worker-{count}-{i}.log"
        while b"ready" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(workers)
                raise SystemExit(f"a reports worker did not start:\n{log.read_text()}")
            time.sleep(0.2)
    return workers


def stop(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run(count: int, template: Report, logs: Path) -> float:
    """Seconds for `count` workers to build REPORTS reports."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    workers = start_workers(count, logs)
    try:
        started = time.perf_counter()
        ids = []
        for i in range(REPORTS):
            report, _ = report_request(
                org=template.org,
                kind=Report.Kind.ORG_COMPLIANCE,
                window_start=template.window_start,
                window_end=template.window_end,
                request_id=f"bench-{count}-workers-{i}",
                actor=template.requested_by,
            )
            ids.append(report.pk)
        while True:
            states = dict(
                Report.objects.filter(pk__in=ids)
                .values_list("status")
                .annotate(n=Count("pk"))
            )
            if states.get(Report.Status.FAILED):
                raise SystemExit(f"a report failed; logs in {logs}")
            if states.get(Report.Status.READY) == REPORTS:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
    finally:
        stop(workers)
    attempts = set(Report.objects.filter(pk__in=ids).values_list("attempts", flat=True))
    assert attempts == {1}, attempts
    return elapsed


def main() -> None:
    if connection.vendor != "postgresql":
        raise SystemExit("BENCH_DATABASE_URL must point at PostgreSQL.")
    print(f"seeding an organization with {CLOCKS} clocks ...", flush=True)
    template = Report.objects.select_related("org", "requested_by").get(
        pk=bench_report.seed(CLOCKS)
    )
    Membership.objects.get_or_create(
        org=template.org, user=template.requested_by, defaults={"role": Role.OWNER}
    )
    signing_material()  # the development key, made once before the workers
    connection.close()
    logs = Path(tempfile.mkdtemp(prefix="portal-bench-workers-"))
    results = {}
    for count in (1, 2):
        print(f"{REPORTS} reports, {count} worker(s) ...", flush=True)
        results[count] = run(count, template, logs)
    pages = Report.objects.filter(status=Report.Status.READY).values_list(
        "pages", flat=True
    )[:1][0]
    print(
        f"\n{REPORTS} org compliance reports ({CLOCKS} clocks, {pages} pages each), "
        f"{os.cpu_count()} cores, PostgreSQL + Redis on loopback"
    )
    print(f"{'workers':>8} {'seconds':>9} {'reports/min':>12} {'s/report':>9}")
    for count, seconds in results.items():
        print(
            f"{count:>8} {seconds:9.1f} {REPORTS / seconds * 60:12.1f} "
            f"{seconds / REPORTS:9.2f}"
        )
    ratio = results[1] / results[2]
    print(f"\nthroughput 2 workers / 1 worker: {ratio:.2f}x (ceiling 2.0)")


if __name__ == "__main__":
    main()
