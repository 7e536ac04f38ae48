"""Audit log page at scale: server time of the org's page against its bare query.

Seeds N audit events (default 200,000) spread over 20 organizations, then measures
the median server time of GET /o/<slug>/audit/ (first page and a filtered page)
through Django's test client, beside the baseline: the same selector's page query
run alone, measured in the same run. The rows are bulk-inserted with placeholder
hashes: the page does not read the chain, and building a real chain of this size
is what bench_audit_chain.py measures.

    .venv/bin/python bench/bench_audit_log_page.py [N]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench ...
"""

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
ORGS = 20
RUNS = 30

scratch = tempfile.mkdtemp(prefix="portal-bench-")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from datetime import timedelta  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.audit.models import AuditEvent  # noqa: E402
from apps.audit.selectors import AuditFilter, audit_event_list, audit_event_page  # noqa: E402
from apps.orgs.models import Membership, Organization, Role  # noqa: E402


def reset_database() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed() -> tuple[User, Organization]:
    user = User.objects.create_user(email="bench@example.com", password="x" * 12)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Org {i}", slug=f"org-{i}") for i in range(ORGS)
    )
    Membership.objects.create(org=orgs[0], user=user, role=Role.OWNER)
    actions = [a for a, _ in AuditEvent.Action.choices]
    start = timezone.now() - timedelta(days=365)
    batch = []
    for i in range(N):
        batch.append(
            AuditEvent(
                created_at=start + timedelta(seconds=i * 60),
                actor_email=f"person{i % 500}@example.com",
                org=orgs[i % ORGS],
                action=actions[i % len(actions)],
                target_repr=f"target {i}",
                details={"n": i},
                prev_hash=f"{i:064x}",
                hash=f"{i + 1:064x}",
            )
        )
        if len(batch) == 10_000:
            AuditEvent.objects.bulk_create(batch)
            batch.clear()
    AuditEvent.objects.bulk_create(batch)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return user, orgs[0]


def median_ms(fn) -> float:
    fn()  # warm caches and connections
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    reset_database()
    user, org = seed()
    client = Client()
    client.force_login(user)
    url = f"/o/{org.slug}/audit/"
    filtered = {"action": AuditEvent.Action.TOKEN_CREATED, "actor": "person1"}

    def page(params=None):
        response = client.get(url, params or {})
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")

    def bare(filters=None):
        events = audit_event_list(org=org, filters=filters or AuditFilter())
        audit_event_page(events=events, before=None)
        reset_queries()

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        page()
    first = median_ms(page)
    first_base = median_ms(bare)
    filt = median_ms(lambda: page(filtered))
    filt_base = median_ms(lambda: bare(AuditFilter(**filtered)))
    print(f"audit log page benchmark: {N} events, {ORGS} orgs, on {connection.vendor}")
    print(f"  queries per page    : {len(queries)}")
    print(f"  first page    median: {first:7.1f} ms (bare query {first_base:6.1f} ms)")
    print(f"  filtered page median: {filt:7.1f} ms (bare query {filt_base:6.1f} ms)")


if __name__ == "__main__":
    main()
