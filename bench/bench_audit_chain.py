"""Audit log: the hash chain's cost, against plain inserts measured in the same run.

Prints appends per second through audit_record (advisory lock on PostgreSQL, read
of the chain head, SHA-256 over canonical JSON) beside bulk-free plain inserts of
the same rows, and the verification rate of audit_verify. Uses a scratch database:
SQLite in a temporary file, or PostgreSQL when BENCH_DATABASE_URL is set (its
database is dropped and recreated).

    .venv/bin/python bench/bench_audit_chain.py [N]
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 3000

scratch = tempfile.mkdtemp(prefix="portal-bench-")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.audit.models import AuditEvent  # noqa: E402
from apps.audit.services import audit_chain_verify, audit_record  # noqa: E402


def reset_database() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_inserts() -> None:
    for i in range(N):
        with transaction.atomic():
            AuditEvent.objects.create(
                created_at=timezone.now(),
                actor_email="bench@example.com",
                action=AuditEvent.Action.LOGIN,
                details={"n": i},
                prev_hash="0" * 64,
                hash=f"{i:064x}",
            )


def chained_appends() -> None:
    for i in range(N):
        audit_record(
            action=AuditEvent.Action.LOGIN,
            actor_email="bench@example.com",
            details={"n": i},
        )


def main() -> None:
    reset_database()
    baseline = timed(plain_inserts)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute("DELETE FROM audit_auditevent")
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
    else:
        AuditEvent.objects.all().delete()
    chained = timed(chained_appends)
    report = None

    def verify():
        nonlocal report
        report = audit_chain_verify()

    verified = timed(verify)
    if report is None or not report.ok or report.checked != N:
        raise SystemExit(f"chain did not verify: {report}")
    print(f"audit chain benchmark: {N} events on {connection.vendor}")
    print(f"  baseline plain insert : {N / baseline:9.0f} events/s")
    print(f"  audit_record (chained): {N / chained:9.0f} events/s")
    print(f"  chained / baseline    : {baseline / chained:9.2f}x the throughput")
    print(f"  audit_verify          : {N / verified:9.0f} events/s")


if __name__ == "__main__":
    main()
