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
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from wrkbench import (  # noqa: E402
    CONNECTIONS,
    DURATION,
    THREADS,
    ensure_wrk,
    print_table,
    production_env,
    run_wrk,
    start_gunicorn,
    warm,
)

# The web processes and this one share these settings (the session made here
# must be valid there).
os.environ.update(production_env())
# bench_sla seeds the clocks: ORGS organizations, CLOCKS clocks.
sys.argv = [sys.argv[0], "10", "20000"]

import bench_sla  # noqa: E402  (sets up Django on BENCH_DATABASE_URL)
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.catalog import services as catalog  # noqa: E402
from apps.entitlements.models import Entitlement, Feature  # noqa: E402
from apps.orgs.models import Membership, Organization, Role  # noqa: E402
from apps.sla.models import SlaPolicyVersion  # noqa: E402


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
    print_table(results, ceiling)
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
