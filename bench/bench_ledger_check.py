"""The ledger's self-check and its repair sweep at scale, on PostgreSQL.

Seeds ORGS organizations each holding `sla` by contract and mirroring MIRRORS
of REPOS repositories, each repository with PER_REPO affected critical or high
findings, and a complete ledger (one clock per org and finding in scope), by
COPY. Then measures in the same run:

- baseline: a sequential scan of the clock table, the floor for "touch every
  clock";
- ledger_check's invariants (ledger_violations) on the complete ledger, and
  the reconciliation sweep (sla_ledger_reconcile) with nothing to repair;
- the same after 1 % of the clocks are deleted (triggers that were lost): what
  the check finds and how long the sweep takes to open them again.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_ledger_check.py [ORGS] [MIRRORS] [PER_REPO]
"""

import io
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ORGS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
MIRRORS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
PER_REPO = int(sys.argv[3]) if len(sys.argv) > 3 else 100
REPOS = 20

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="portal-bench-media-"))
os.environ["LOG_LEVEL"] = "WARNING"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.catalog import services as catalog  # noqa: E402
from apps.entitlements.models import (  # noqa: E402
    Entitlement,
    Feature,
    Mirror,
)
from apps.orgs.models import Organization  # noqa: E402
from apps.sla.ledger_checks import ledger_violations  # noqa: E402
from apps.sla.models import SlaClock, SlaPolicyVersion  # noqa: E402
from apps.sla.services import sla_ledger_reconcile  # noqa: E402
from apps.vulns.models import Component, Finding, Vulnerability  # noqa: E402

rng = random.Random(14)
NOW = datetime.now(tz=UTC).replace(microsecond=0)
START = NOW - timedelta(days=3)


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed() -> tuple[int, int]:
    vulns = Vulnerability.objects.bulk_create(
        Vulnerability(vuln_id=f"CVE-2026-{i:06d}", severity="high")
        for i in range(PER_REPO)
    )
    component = Component.objects.create(
        purl="pkg:apk/alpine/lib@1.0",
        purl_sha256="0" * 64,
        type="apk",
        name="lib",
        version="1.0",
        source_name="lib",
    )
    repositories, findings = [], {}
    for r in range(REPOS):
        repo = catalog.repository_upsert(name=f"bench-{r}")
        series = catalog.series_upsert(repository=repo, name="1")
        image = catalog.digest_register(
            variant=catalog.variant_get_or_create(series=series),
            digest=f"sha256:{r:064x}",
            built_at=START,
        )
        rows = Finding.objects.bulk_create(
            Finding(
                digest=image,
                vulnerability=v,
                component=component,
                severity=rng.choice(["critical", "high"]),
                upstream_fix_at=START,
                detected_at=START,
            )
            for v in vulns
        )
        repositories.append(repo)
        findings[repo.pk] = [(f.pk, f.severity) for f in rows]
    staff = User.objects.create_user(email="bench@example.com", is_staff=True)
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Bench {i}", slug=f"bench-{i}") for i in range(ORGS)
    )
    sla = Feature.objects.get(key="sla")
    Entitlement.objects.bulk_create(
        Entitlement(
            org=org,
            feature=sla,
            starts_at=START - timedelta(days=30),
            source="contract",
            reference="BENCH",
            created_by=staff,
        )
        for org in orgs
    )
    version = SlaPolicyVersion.objects.get(policy__key="select-default")
    mirrors, buffer, clocks = [], io.StringIO(), 0
    due = NOW + timedelta(days=30)
    at_risk = START + (due - START) * 7 / 10
    for org in orgs:
        for repo in rng.sample(repositories, MIRRORS):
            mirrors.append(Mirror(org=org, repository=repo, created_by=staff))
            for finding_id, severity in findings[repo.pk]:
                buffer.write(
                    f"{org.pk}\t{finding_id}\t{version.pk}\t{severity}\tupstream_fix\t"
                    f"{START.isoformat()}\t{due.isoformat()}\t{at_risk.isoformat()}\t"
                    f"f\topen\t\\N\t\t\t\\N\t\\N\t{START.isoformat()}\n"
                )
                clocks += 1
    Mirror.objects.bulk_create(mirrors, batch_size=5000)
    buffer.seek(0)
    with connection.cursor() as cursor:
        with cursor.copy(
            "COPY sla_slaclock (org_id, finding_id, policy_version_id, severity, "
            "start_event, started_at, due_at, at_risk_at, kev_capped, state, "
            "stopped_at, stop_reason, exempt_reason, vex_statement_id, waiver_id, "
            "created_at) FROM STDIN"
        ) as copy:
            while chunk := buffer.read(1 << 20):
                copy.write(chunk)
        cursor.execute("ANALYZE")
    return clocks, len(mirrors)


def timed(fn, repeat: int = 1):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    reset_database()
    t0 = time.perf_counter()
    clocks, mirrors = seed()
    print(
        f"Ledger check benchmark, PostgreSQL: {ORGS:,} organizations holding sla, "
        f"{mirrors:,} mirrors, {clocks:,} clocks"
    )
    print(f"  seeded in {time.perf_counter() - t0:.1f} s")

    def scan():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM sla_slaclock WHERE kev_capped OR severity = %s",
                ["nothing"],
            )
            return cursor.fetchone()[0]

    baseline, _ = timed(scan, 3)
    print(f"  baseline: sequential scan of every clock {baseline:.3f} s")
    check, (counts, found) = timed(lambda: ledger_violations(at=NOW), 3)
    print(
        f"  ledger check, complete ledger: {check:.2f} s "
        f"({check / baseline:.0f}x the scan), {len(found)} violations"
    )
    sweep, repaired = timed(lambda: sla_ledger_reconcile(now=NOW), 3)
    print(
        f"  sweep, nothing to repair: {sweep:.2f} s ({sweep / baseline:.0f}x the scan) "
        f"{repaired}"
    )
    lost = list(
        SlaClock.objects.order_by("?").values_list("pk", flat=True)[: clocks // 100]
    )
    SlaClock.objects.filter(pk__in=lost).delete()
    check, (counts, found) = timed(lambda: ledger_violations(at=NOW))
    print(
        f"  ledger check after {len(lost):,} clocks were lost: {check:.2f} s, "
        f"{counts['clock_missing']} (org, repository) gaps named"
    )
    sweep, repaired = timed(lambda: sla_ledger_reconcile(now=NOW))
    print(f"  sweep repairing them: {sweep:.2f} s {repaired}")
    after, (counts, found) = timed(lambda: ledger_violations(at=NOW))
    print(f"  ledger check after the sweep: {after:.2f} s, {len(found)} violations")


if __name__ == "__main__":
    main()
