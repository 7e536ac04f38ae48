"""The SLA ledger at scale: ORGS organizations, CLOCKS clocks, on PostgreSQL.

Seeds the ledger with COPY (clocks spread over a year, in every state, a share
of their findings fixed on time or late, a share past their at-risk time or
deadline), then measures in the same run:

- baseline: a sequential scan of the clock table (SELECT count(*) with a
  predicate no index serves), the floor for "touch every clock";
- the transition task (sla_transitions_run): the first run, which moves
  clocks, and a second, steady-state run with nothing to move;
- metrics for a one-year window: one organization, and all organizations;
- credits owed for a one-year window, every organization.

DefectDojo's reported figures (DESIGN.md section 8) for comparison: 10 to 60 s
per page at 100k to 1M findings.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_sla.py [ORGS] [CLOCKS]
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
ORGS = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
CLOCKS = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
FINDINGS = 20_000

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="portal-bench-media-"))
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

from allauth.mfa.models import Authenticator  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.catalog import services as catalog  # noqa: E402
from apps.catalog.models import Variant  # noqa: E402
from apps.orgs.models import Membership, Organization, Role  # noqa: E402
from apps.sla.models import SlaClock, SlaPolicyVersion  # noqa: E402
from apps.sla.selectors.credits import sla_credits_owed_all  # noqa: E402
from apps.sla.selectors.metrics import sla_metrics  # noqa: E402
from apps.sla.services import sla_transitions_run  # noqa: E402
from apps.vulns.models import Component, Finding, Vulnerability  # noqa: E402

rng = random.Random(5)
NOW = datetime.now(tz=UTC).replace(microsecond=0)
YEAR_AGO = NOW - timedelta(days=365)


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed_findings() -> list[tuple[int, datetime | None]]:
    """FINDINGS findings over 20 digests; a third fixed. Returns (pk, fixed at)."""
    repo = catalog.repository_upsert(name="bench", display_name="Bench")
    series = catalog.series_upsert(repository=repo, name="1")
    variant = catalog.variant_get_or_create(
        series=series, flavor=Variant.Flavor.RUNTIME
    )
    digests = [
        catalog.digest_register(
            variant=variant,
            digest=f"sha256:{i:064x}",
            built_at=YEAR_AGO,
            architectures=["amd64"],
            tags=[],
        )
        for i in range(20)
    ]
    vulns = Vulnerability.objects.bulk_create(
        Vulnerability(vuln_id=f"CVE-2026-{i:06d}", severity="high")
        for i in range(FINDINGS // 20)
    )
    components = Component.objects.bulk_create(
        Component(
            purl=f"pkg:apk/alpine/lib{i}@1.0",
            purl_sha256=f"{i:064x}",
            type="apk",
            name=f"lib{i}",
            version="1.0",
            source_name=f"lib{i}",
        )
        for i in range(20)
    )
    rows = []
    for i in range(FINDINGS):
        fixed = rng.random() < 0.33
        rows.append(
            Finding(
                digest=digests[i % 20],
                vulnerability=vulns[i // 20],
                component=components[(i * 7) % 20],
                severity=rng.choice(["critical", "high", "high", "medium"]),
                status="fixed" if fixed else "affected",
                detected_at=YEAR_AGO,
                fixed_published_at=(
                    YEAR_AGO + timedelta(days=rng.uniform(1, 360)) if fixed else None
                ),
            )
        )
    made = Finding.objects.bulk_create(rows, batch_size=5000)
    return [(f.pk, f.fixed_published_at) for f in made]


def seed_clocks(findings, version_id: int) -> int:
    orgs = Organization.objects.bulk_create(
        Organization(name=f"Bench {i}", slug=f"bench-{i}") for i in range(ORGS)
    )
    per_org = CLOCKS // ORGS
    buffer = io.StringIO()
    count = 0
    for n, org in enumerate(orgs):
        offset = (n * 7919) % len(findings)
        for k in range(per_org):
            finding_id, _fixed_at = findings[(offset + k) % len(findings)]
            started = YEAR_AGO + timedelta(seconds=rng.uniform(0, 360 * 86400))
            due = started + timedelta(days=rng.choice([9, 9, 42]))
            at_risk = started + (due - started) * 7 / 10
            # Running clocks, as the last run left them; the fixed ones wait
            # for this run to be met or missed, the rest to turn at risk or
            # breached as the clock says.
            state = rng.choice(["open", "open", "at_risk", "breached"])
            buffer.write(
                f"{org.pk}\t{finding_id}\t{version_id}\thigh\tupstream_fix\t"
                f"{started.isoformat()}\t{due.isoformat()}\t{at_risk.isoformat()}\t"
                f"f\t{state}\t\\N\t\t\t\\N\t\\N\t{NOW.isoformat()}\n"
            )
            count += 1
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
        cursor.execute("ANALYZE sla_slaclock")
        cursor.execute("ANALYZE vulns_finding")
    return count


def timed(fn, repeat: int = 1):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def pages(org) -> None:
    """Server time of the staff desk's first page and a customer SLA page,
    through Django's handler, beside /healthz."""
    from apps.entitlements.models import Entitlement, Feature

    Entitlement.objects.create(
        org=org,
        feature=Feature.objects.get(key="sla"),
        starts_at=YEAR_AGO,
        source="contract",
        reference="BENCH",
    )
    staff = User.objects.create_user(email="staff@bench.example", is_staff=True)
    # Staff pages need a second factor.
    Authenticator.objects.create(
        user=staff, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"}
    )
    owner = User.objects.create_user(email="owner@bench.example")
    Membership.objects.create(org=org, user=owner, role=Role.OWNER)
    client = Client()
    health, _ = timed(lambda: client.get("/healthz"), 30)
    print(f"  baseline: /healthz {health * 1000:.1f} ms")
    for user, url, label in (
        (staff, reverse("staff_sla_desk"), "staff SLA desk, first page"),
        (owner, reverse("sla:clocks", args=[org.slug]), "customer SLA page"),
    ):
        client.force_login(user)
        client.get(url)  # the session's first view writes the session
        cache.clear()
        cold, _ = timed(lambda url=url: client.get(url))
        median, response = timed(lambda url=url: client.get(url), 20)
        assert response.status_code == 200, response.status_code
        print(
            f"  {label}: {median * 1000:.1f} ms median of 20 "
            f"(first view with an empty cache {cold * 1000:.1f} ms)"
        )


def main() -> None:
    reset_database()
    t0 = time.perf_counter()
    findings = seed_findings()
    version = SlaPolicyVersion.objects.order_by("pk").first()
    seeded = seed_clocks(findings, version.pk)
    print(
        f"SLA ledger benchmark, PostgreSQL: {ORGS:,} organizations, {seeded:,} clocks"
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
    first, moved = timed(lambda: sla_transitions_run(now=NOW))
    print(
        f"  transitions, first run: {first:.2f} s ({first / baseline:.1f}x the scan) "
        f"moved {moved}"
    )
    with connection.cursor() as cursor:
        # What autovacuum does after a run that moved this many rows.
        cursor.execute("ANALYZE sla_slaclock")
    steady, moved = timed(lambda: sla_transitions_run(now=NOW), 3)
    print(
        f"  transitions, steady state: {steady:.2f} s "
        f"({steady / baseline:.1f}x the scan) moved {sum(moved.values())}"
    )
    org = Organization.objects.order_by("pk")[ORGS // 2]
    one, _ = timed(lambda: sla_metrics(org=org, start=YEAR_AGO, end=NOW), 5)
    print(f"  metrics, one org, 1-year window: {one * 1000:.1f} ms")
    every, _ = timed(lambda: sla_metrics(org=None, start=YEAR_AGO, end=NOW), 3)
    print(
        f"  metrics, all orgs, 1-year window: {every:.2f} s "
        f"({every / baseline:.1f}x the scan)"
    )
    credits, _ = timed(lambda: sla_credits_owed_all(start=YEAR_AGO, end=NOW))
    print(f"  credits owed, all orgs, 1-year window: {credits:.2f} s")
    pages(org)
    states = dict(
        SlaClock.objects.values_list("state").annotate(n=django.db.models.Count("id"))
    )
    print(f"  clocks by state after the run: {states}")
    print("  DefectDojo (DESIGN.md section 8): 10 to 60 s per page at 100k-1M findings")


if __name__ == "__main__":
    main()
