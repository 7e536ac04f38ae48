"""Evidence ingest at scale, against a plain PostgreSQL COPY of the same rows.

Generates SBOMS CycloneDX documents of COMPONENTS components each (drawn from a
pool of real-shaped PyPI, npm and Debian package versions, so components repeat
across images as they do in a catalog) and ADVISORIES OSV records with version
ranges over those packages; then measures, in one run on one database, for two
shapes of the same SBOMs:

- syft: Debian binaries name their source package in the purl's ``upstream``
  qualifier, as Syft writes them;
- trivy: the purl names the binary only and the source package is in
  ``aquasecurity:trivy:SrcName``/``SrcVersion`` properties, as Trivy writes them.

Each Debian binary is ``lib<source>-<n>`` built from source ``<source>``, and
the advisories name the source, so both shapes must find the same findings
(checked). For each shape:

- baseline: COPY of the same (digest, purl, name, version) rows into a table;
- ingest: every SBOM through sbom_import (schema validation, purls, attestation
  storage, component and link rows), all advisories through osv_import, and
  findings_match over every digest.

Prints wall times, the ratio to the COPY, findings made and peak memory (RSS).
Needs PostgreSQL (BENCH_DATABASE_URL; its public schema is dropped and rebuilt
before each shape):

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
from apps.vulns.models import Finding  # noqa: E402
from apps.vulns.services import findings_match, osv_import  # noqa: E402
from apps.vulns.services.sbom import sbom_import  # noqa: E402

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


def binary(name: str) -> str:
    """The Debian binary built from source package ``name``."""
    return f"lib{name}-1"


def purl(shape: str, purl_type: str, name: str, version: str) -> str:
    if purl_type == "deb":
        upstream = f"&upstream={name}" if shape == "syft" else ""
        return (
            f"pkg:deb/debian/{binary(name)}@{version}"
            f"?arch=amd64{upstream}&distro=debian-12"
        )
    return f"pkg:{purl_type}/{name}@{version}"


def component(shape: str, purl_type: str, name: str, version: str) -> dict:
    item = {
        "type": "library",
        "name": binary(name) if purl_type == "deb" else name,
        "version": version,
        "purl": purl(shape, purl_type, name, version),
        "bom-ref": purl(shape, purl_type, name, version),
    }
    if shape == "trivy" and purl_type == "deb":
        item["properties"] = [
            {"name": "aquasecurity:trivy:PkgType", "value": "debian"},
            {"name": "aquasecurity:trivy:SrcName", "value": name},
            {"name": "aquasecurity:trivy:SrcVersion", "value": version},
        ]
    return item


def sbom(shape: str, index: int, packages: list[tuple[str, str, str, str]]) -> bytes:
    tool = {"syft": "anchore syft", "trivy": "aquasecurity trivy"}[shape]
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.5",
            "serialNumber": f"urn:uuid:00000000-0000-4000-8000-{index:012d}",
            "version": 1,
            "metadata": {
                "tools": {"components": [{"type": "application", "name": tool}]},
                "component": {"type": "container", "name": f"img-{index}"},
            },
            "components": [component(shape, t, n, v) for t, _, n, v in packages],
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


def run(shape: str, samples: list, records: list[dict]) -> dict:
    """Ingest the SBOMs of one shape into a fresh database; its figures."""
    reset_database()
    repository = catalog.repository_upsert(name="bench", category="application")
    series = catalog.series_upsert(repository=repository, name="1")
    variant = catalog.variant_get_or_create(series=series)
    start_day = datetime(2024, 1, 1, tzinfo=UTC)
    images, documents, copy_rows = [], [], []
    for i, packages in enumerate(samples):
        image = catalog.digest_register(
            variant=variant,
            digest=f"sha256:{i:064x}",
            built_at=start_day + timedelta(hours=i),
        )
        images.append(image)
        documents.append(sbom(shape, i, packages))
        copy_rows += [(image.pk, purl(shape, t, n, v), n, v) for t, _, n, v in packages]

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
    return {
        "rows": len(copy_rows),
        "copy": copy_seconds,
        "sbom": sbom_seconds,
        "osv": osv_seconds,
        "match": match_seconds,
        "total": sbom_seconds + osv_seconds + match_seconds,
        "findings": Finding.objects.count(),
        "created": report.findings_created,
    }


def main() -> None:
    pool = package_pool()
    samples = [rng.sample(pool, COMPONENTS) for _ in range(SBOMS)]
    records = [advisory(i, rng.choice(pool)) for i in range(ADVISORIES)]
    results = {shape: run(shape, samples, records) for shape in ("syft", "trivy")}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"ingest benchmark on {connection.vendor}: {SBOMS} SBOMs x {COMPONENTS} "
        f"components ({results['syft']['rows']} rows), {ADVISORIES} OSV records"
    )
    print(f"  {'':36} {'syft':>9} {'trivy':>9}")
    for label, key in (
        ("baseline COPY of the component rows", "copy"),
        ("SBOM import", "sbom"),
        ("OSV import", "osv"),
        ("findings match", "match"),
        ("whole ingest", "total"),
    ):
        row = "".join(f" {results[s][key]:8.2f}s" for s in results)
        print(f"  {label:36}{row}")
    ratio = "".join(f" {r['total'] / r['copy']:8.1f}x" for r in results.values())
    print(f"  {'ingest / COPY':36}{ratio}")
    both = results["trivy"]["total"] / results["syft"]["total"]
    print(f"  {'trivy / syft (whole ingest)':36} {both:8.2f}")
    print(
        f"  {'findings':36}" + "".join(f" {r['findings']:9d}" for r in results.values())
    )
    print(f"  {'peak memory (RSS)':36} {peak_mib:8.0f} MiB")
    if results["syft"]["findings"] != results["trivy"]["findings"]:
        raise SystemExit("The two shapes found different findings.")


if __name__ == "__main__":
    main()
