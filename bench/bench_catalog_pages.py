"""Catalog pages at scale: repository list, repository page and digest page.

Seeds REPOS repositories (2 series x 2 variants x 2 digests each) and FINDINGS
findings spread over the digests (bulk-inserted generated rows, flagged as
generated), then reports for each page the median server time through Django's
test client over RUNS requests and the number of queries, beside a baseline
measured in the same run: the cheapest page the portal serves (/healthz).

    .venv/bin/python bench/bench_catalog_pages.py [REPOS] [FINDINGS]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench ...
"""

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REPOS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
FINDINGS = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
RUNS = 30

scratch = tempfile.mkdtemp(prefix="portal-bench-")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

import hashlib  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.catalog.models import ImageDigest, Repository, Series, Variant  # noqa: E402
from apps.vulns.models import (  # noqa: E402
    Component,
    DigestComponent,
    Finding,
    Vulnerability,
)


def reset_database() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def seed() -> tuple[Repository, ImageDigest]:
    from apps.catalog.formats.subject import NOT_STATED
    from apps.catalog.services import attestation_store

    base = datetime(2025, 1, 1, tzinfo=UTC)
    repos = Repository.objects.bulk_create(
        Repository(
            name=f"gen-{i:04d}",
            display_name=f"Generated {i:04d}",
            description="Generated for the page benchmark.",
            category=["language", "database", "web", "tool"][i % 4],
            tags=["generated"],
            is_generated=True,
        )
        for i in range(REPOS)
    )
    series = Series.objects.bulk_create(
        Series(
            repository=r,
            name=f"{n}.0",
            upstream_ga=base.date() - timedelta(days=400 * n),
            support_end=base.date() + timedelta(days=300 * n),
            els_end=base.date() + timedelta(days=2000) if n == 1 else None,
        )
        for r in repos
        for n in (1, 2)
    )
    variants = Variant.objects.bulk_create(
        Variant(series=s, flavor=flavor, fips=fips)
        for s in series
        for flavor, fips in (("runtime", False), ("dev", True))
    )
    digests = ImageDigest.objects.bulk_create(
        ImageDigest(
            variant=v,
            digest="sha256:" + hashlib.sha256(f"{v.pk}-{k}".encode()).hexdigest(),
            built_at=base + timedelta(days=k),
            architectures=["amd64", "arm64"],
        )
        for v in variants
        for k in (0, 1)
    )
    components = Component.objects.bulk_create(
        Component(
            purl=f"pkg:pypi/pkg{i}@1.{i % 7}.0",
            purl_sha256=hashlib.sha256(f"pkg{i}".encode()).hexdigest(),
            type="pypi",
            name=f"pkg{i}",
            version=f"1.{i % 7}.0",
            source_name=f"pkg{i}",
        )
        for i in range(2000)
    )
    vulns = Vulnerability.objects.bulk_create(
        Vulnerability(
            vuln_id=f"GEN-{i:06d}",
            severity=["critical", "high", "medium", "low"][i % 4],
            kev=i % 50 == 0,
        )
        for i in range(5000)
    )
    hot = digests[0]
    DigestComponent.objects.bulk_create(
        DigestComponent(
            digest=hot,
            component=c,
            attestation=attestation_store(
                image=hot,
                kind="sbom-cyclonedx",
                content=b'{"generated": true}',
                subject=NOT_STATED,
            )[0],
        )
        for c in components[:300]
    )
    batch = []
    for i in range(FINDINGS):
        digest = hot if i < 2000 else digests[i % len(digests)]
        batch.append(
            Finding(
                digest=digest,
                vulnerability=vulns[i % len(vulns)],
                component=components[(i // len(vulns)) % len(components)],
                severity=vulns[i % len(vulns)].severity,
                status="affected",
            )
        )
        if len(batch) == 10_000:
            Finding.objects.bulk_create(batch, ignore_conflicts=True)
            batch.clear()
    Finding.objects.bulk_create(batch, ignore_conflicts=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return hot.variant.series.repository, hot


def measure(client: Client, url: str) -> tuple[float, int]:
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}")
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), len(queries)


def main() -> None:
    reset_database()
    repository, hot = seed()
    client = Client()
    print(
        f"catalog pages benchmark on {connection.vendor}: {REPOS} repositories, "
        f"{Finding.objects.count()} findings ({hot.findings.count()} on the digest)"
    )
    base_ms, _ = measure(client, "/healthz")
    print(f"  baseline /healthz        : {base_ms:7.1f} ms")
    for label, url in (
        ("repository list", "/catalog/"),
        ("repository list, search", "/catalog/?q=gen-09"),
        ("repository page", f"/catalog/{repository.name}/"),
        ("digest page", f"/catalog/digest/{hot.digest}/"),
    ):
        median, queries = measure(client, url)
        print(f"  {label:<25}: {median:7.1f} ms median, {queries:3d} queries")


if __name__ == "__main__":
    main()
