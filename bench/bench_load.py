"""Load test: wrk against gunicorn on loopback, with production settings.

Seeds a scratch PostgreSQL database (SLA clocks of bench_sla.py for a few
organizations, plus catalog repositories), starts gunicorn through the image's
entry point (deploy/entrypoint.py web: workers from the CPU count) and, for
DURATION seconds each at CONNECTIONS connections, measures

  * the public catalog API list  GET /api/v1/repositories/
  * a customer's SLA page        GET /o/<org>/sla/   (signed in: session cookie)
  * the liveness probe           GET /healthz
  * the ceiling: a bare Django JSON view with the same settings and middleware
    (bench/bare_settings.py), served by its own gunicorn in the same run,
    measured first and again last (their mean is the baseline).

Prints requests/s, p50/p99 latency and errors for each, and each one's
requests/s as a share of the bare view's. The catalog API's target is 50 %.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        DURATION=60 .venv/bin/python bench/bench_load.py

Needs wrk (Debian: apt-get install wrk; installed here when missing and run
as root) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/12).
"""

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURATION = int(os.environ.get("DURATION", "60"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "32"))
THREADS = int(os.environ.get("WRK_THREADS", "2"))
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")

# The web processes and this one share these settings (the session made here
# must be valid there).
ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "bench-" + secrets.token_hex(32),
    "ALLOWED_HOSTS": "127.0.0.1,testserver",
    "CELERY_BROKER_URL": REDIS_URL,
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
    "CONN_MAX_AGE": "60",
    # Throttling stays on (a cache round trip per API call, as in production),
    # with a rate the load cannot reach.
    "API_THROTTLE_RATE": "100000000/min",
    "LOG_LEVEL": "WARNING",
    "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="portal-bench-prom-"),
}
os.environ.update(ENV)
# bench_sla seeds the clocks: ORGS organizations, CLOCKS clocks.
sys.argv = [sys.argv[0], "10", "20000"]
sys.path.insert(0, str(ROOT / "bench"))

import bench_sla  # noqa: E402  (sets up Django on BENCH_DATABASE_URL)
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.catalog import services as catalog  # noqa: E402
from apps.entitlements.models import Entitlement, Feature  # noqa: E402
from apps.orgs.models import Membership, Organization, Role  # noqa: E402
from apps.sla.models import SlaPolicyVersion  # noqa: E402

WRK = shutil.which("wrk")


def ensure_wrk() -> str:
    global WRK
    if WRK:
        return WRK
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: apt-get install wrk")
        subprocess.run(["apt-get", "update", "-qq"], check=True)  # noqa: S607
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],  # noqa: S607
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        WRK = shutil.which("wrk")
    if not WRK:
        raise SystemExit("Install wrk first: sudo apt-get install wrk")
    return WRK


def seed() -> tuple[str, str]:
    """Returns (the SLA page's path, a signed-in session cookie)."""
    bench_sla.reset_database()
    findings = bench_sla.seed_findings()
    version = SlaPolicyVersion.objects.order_by("pk").first()
    bench_sla.seed_clocks(findings, version.pk)
    for i in range(120):
        repo = catalog.repository_upsert(
            name=f"load-{i:03d}", display_name=f"Load {i:03d}", category="tool"
        )
        for name in ("1", "2"):
            series = catalog.series_upsert(repository=repo, name=name)
            catalog.variant_get_or_create(series=series)
    org = Organization.objects.order_by("pk").first()
    Entitlement.objects.create(
        org=org,
        feature=Feature.objects.get(key="sla"),
        starts_at=bench_sla.YEAR_AGO,
        source="contract",
        reference="BENCH",
    )
    owner = User.objects.create_user(email="owner@load.example")
    Membership.objects.create(org=org, user=owner, role=Role.OWNER)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    path = f"/o/{org.slug}/sla/"
    assert client.get(path).status_code == 200
    return path, cookie


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(settings_module: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WEB_CONCURRENCY", None)
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "deploy/entrypoint.py"), "web"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz")
            if settings_module.startswith("bench"):
                request = urllib.request.Request(f"http://127.0.0.1:{port}/bare")
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                if answer.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"gunicorn ({settings_module}) did not start")


def warm(url: str, headers: dict, n: int = 20) -> None:
    # Every worker loads its URLconf and opens its connection before timing.
    for _ in range(n):
        request = urllib.request.Request(url, headers=headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as answer:  # noqa: S310
            answer.read()


def to_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def run_wrk(url: str, headers: dict) -> dict:
    argv = [
        ensure_wrk(),
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{DURATION}s",
        "--timeout",
        "30s",
        "--latency",
    ]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(  # noqa: S603
        [*argv, url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])
    total = int(re.search(r"(\d+) requests in", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = (int(non2xx[1]) if non2xx else 0) + (
        sum(int(x) for x in sockets.groups()) if sockets else 0
    )
    return {"rps": rps, "p50": p50, "p99": p99, "requests": total, "errors": errors}


def main() -> None:
    ensure_wrk()
    if connection.vendor != "postgresql":
        raise SystemExit("BENCH_DATABASE_URL must point at PostgreSQL.")
    print("collectstatic (production static files storage) ...", flush=True)
    call_command("collectstatic", interactive=False, verbosity=0)
    print("seeding ...", flush=True)
    sla_path, cookie = seed()
    connection.close()

    portal, portal_port = start_gunicorn("portal.settings")
    bare, bare_port = start_gunicorn("bench.bare_settings")
    host = {"Host": "127.0.0.1"}
    # The ceiling is measured first and again last: its mean is the baseline,
    # and the two show how much the machine drifted during the run.
    targets = [
        ("bare view (first)", bare_port, "/bare", host),
        ("/healthz", portal_port, "/healthz", host),
        ("catalog API list", portal_port, "/api/v1/repositories/", host),
        ("customer SLA page", portal_port, sla_path, {**host, "Cookie": cookie}),
        ("bare view (last)", bare_port, "/bare", host),
    ]
    try:
        results = {}
        for name, port, path, headers in targets:
            url = f"http://127.0.0.1:{port}{path}"
            warm(url, headers)
            print(f"{name}: {DURATION} s at {CONNECTIONS} connections ...", flush=True)
            results[name] = run_wrk(url, headers)
    finally:
        for proc in (portal, bare):
            proc.terminate()
            proc.wait(timeout=30)

    workers = os.cpu_count() * 2 + 1
    print(
        f"\ngunicorn {workers} sync workers ({os.cpu_count()} cores), wrk "
        f"-t{THREADS} -c{CONNECTIONS} -d{DURATION}s, PostgreSQL + Redis on loopback"
    )
    ceiling = (
        results["bare view (first)"]["rps"] + results["bare view (last)"]["rps"]
    ) / 2
    print(
        f"{'endpoint':26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'requests':>9} {'errors':>7} {'vs bare':>8}"
    )
    for name, r in results.items():
        print(
            f"{name:26} {r['rps']:9.1f} {r['p50']:8.1f} {r['p99']:8.1f} "
            f"{r['requests']:9d} {r['errors']:7d} {r['rps'] / ceiling:8.0%}"
        )
    share = results["catalog API list"]["rps"] / ceiling
    print(
        f"\nbare view (mean of first and last): {ceiling:.1f} req/s\n"
        f"catalog API at {share:.0%} of the bare view (target: at least 50%)"
    )
    failed = sum(r["errors"] for r in results.values())
    if failed:
        raise SystemExit(f"{failed} requests failed")


if __name__ == "__main__":
    main()
