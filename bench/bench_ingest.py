"""Evidence ingest at scale, against a plain PostgreSQL COPY of the same rows.

Generates SBOMS CycloneDX documents of COMPONENTS components each (drawn from a
pool of real-shaped PyPI, npm and Debian package versions, so components repeat
across images as they do in a catalog) and ADVISORIES OSV records with version
ranges over those packages; then measures, in one run on one database:

- baseline: COPY of the same (digest, purl, name, version) rows into a table;
- ingest: every SBOM through sbom_import (schema validation, purls, attestation
  storage, component and link rows), all advisories through osv_import, and
  findings_match over every digest.

Prints wall times, the ratio to the COPY, findings made and peak memory (RSS).
Needs PostgreSQL (BENCH_DATABASE_URL; its public schema is dropped and rebuilt):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_ingest.py [SBOMS] [COMPONENTS] [ADVISORIES]
"""

import io
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SBOMS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
COMPONENTS = int(sys.argv[2]) if len(sys.argv) > 2 else 300
ADVISORIES = int(sys.argv[3]) if len(sys.argv) > 3 else 20_000

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="portal-bench-media-"))

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from apps.catalog import services as catalog  # noqa: E402
from apps.catalog.evidence import sbom_import  # noqa: E402
from apps.vulns.models import Finding  # noqa: E402
from apps.vulns.services import findings_match, osv_import  # noqa: E402

rng = random.Random(7)
ECOSYSTEMS = (
    ("pypi", "PyPI", ""),
    ("npm", "npm", ""),
    ("deb", "Debian:12", "debian-12"),
)


def package_pool(size: int = 6000) -> list[tuple[str, str, str, str]]:
    """(purl type, ecosystem, name, version) tuples."""
    pool = []
    for i in range(size):
        purl_type, ecosystem, _ = ECOSYSTEMS[i % len(ECOSYSTEMS)]
        name = f"pkg{i // 3:04d}"
        version = f"{rng.randint(0, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 30)}"
        pool.append((purl_type, ecosystem, name, version))
    return pool


def purl(purl_type: str, name: str, version: str) -> str:
    if purl_type == "deb":
        return f"pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12"
    return f"pkg:{purl_type}/{name}@{version}"


def sbom(index: int, packages: list[tuple[str, str, str, str]]) -> bytes:
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            "version": 1,
            "metadata": {"component": {"type": "container", "name": f"img-{index}"}},
            "components": [
                {
                    "type": "library",
                    "name": name,
                    "version": version,
                    "purl": purl(t, name, version),
                    "bom-ref": purl(t, name, version),
                }
                for t, _, name, version in packages
            ],
        }
    ).encode()


def advisory(index: int, package: tuple[str, str, str, str]) -> dict:
    _, ecosystem, name, version = package
    major = int(version.split(".")[0])
    return {
        "schema_version": "1.6.0",
        "id": f"BENCH-{index:06d}",
        "published": "2024-01-01T00:00:00Z",
        "modified": "2024-06-01T00:00:00Z",
        "summary": f"Generated advisory {index}",
        "severity": [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}
        ],
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [
                    {
                        "type": "ECOSYSTEM",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": f"{major}.{rng.randint(5, 25)}.0"},
                        ],
                    }
                ],
            }
        ],
    }


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def copy_baseline(rows: list[tuple[int, str, str, str]]) -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_copy "
            "(digest_id int, purl text, name text, version text)"
        )
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(map(str, row)) + "\n")
        start = time.perf_counter()
        with cursor.cursor.copy(
            "COPY bench_copy (digest_id, purl, name, version) FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_copy")
    return elapsed


def main() -> None:
    reset_database()
    pool = package_pool()
    images = []
    repository = catalog.repository_upsert(name="bench", category="application")
    series = catalog.series_upsert(repository=repository, name="1")
    variant = catalog.variant_get_or_create(series=series)
    start_day = datetime(2024, 1, 1, tzinfo=UTC)
    documents = []
    copy_rows = []
    for i in range(SBOMS):
        image = catalog.digest_register(
            variant=variant,
            digest=f"sha256:{i:064x}",
            built_at=start_day + timedelta(hours=i),
        )
        packages = rng.sample(pool, COMPONENTS)
        images.append(image)
        documents.append(sbom(i, packages))
        copy_rows += [(image.pk, purl(t, n, v), n, v) for t, _, n, v in packages]
    records = [advisory(i, rng.choice(pool)) for i in range(ADVISORIES)]

    copy_seconds = copy_baseline(copy_rows)

    start = time.perf_counter()
    for image, document in zip(images, documents, strict=True):
        sbom_import(image=image, content=document)
    sbom_seconds = time.perf_counter() - start
    start = time.perf_counter()
    osv_import(records=records)
    osv_seconds = time.perf_counter() - start
    start = time.perf_counter()
    report = findings_match()
    match_seconds = time.perf_counter() - start
    total = sbom_seconds + osv_seconds + match_seconds
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"ingest benchmark on {connection.vendor}: {SBOMS} SBOMs x {COMPONENTS} "
        f"components ({len(copy_rows)} rows), {ADVISORIES} OSV records"
    )
    print(f"  baseline COPY of the component rows: {copy_seconds:8.2f} s")
    print(f"  SBOM import                        : {sbom_seconds:8.2f} s")
    print(f"  OSV import                         : {osv_seconds:8.2f} s")
    print(f"  findings match                     : {match_seconds:8.2f} s")
    print(f"  whole ingest                       : {total:8.2f} s")
    print(f"  ingest / COPY                      : {total / copy_seconds:8.1f}x")
    print(f"  findings                           : {Finding.objects.count():8d}")
    print(f"  findings created by the match      : {report.findings_created:8d}")
    print(f"  peak memory (RSS)                  : {peak_mib:8.0f} MiB")


if __name__ == "__main__":
    main()
