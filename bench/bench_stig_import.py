"""STIG scan import at 2,000 rules, against lxml's parse-only time of the same bytes.

Builds an XCCDF 1.2 results document of RULES rules (a Benchmark with its
Groups and Rules, one Profile selecting them, and the TestResult) from the
real OpenSCAP RHEL 8 STIG results in apps/stig/testdata: its 248 rules'
titles, discussions, fix texts, CCIs and results repeated with new V- and SV-
ids, so rule text sizes are real. Then, in one run on one database, measures:

- baseline: lxml parsing the bytes (the importer's own safe parser settings);
- import: stig_scan_import of the same bytes onto a fresh STIG build (format
  detection, the safe parse, reading every rule, validation, the attestation
  file and row, the scan and its rule rows), each in its own transaction.

Prints the median of RUNS of each, the ratio, and the target (import < 2 s).

    .venv/bin/python bench/bench_stig_import.py [RULES] [RUNS]
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench ...

Without BENCH_DATABASE_URL a scratch SQLite file is used; with it, the
database's public schema is dropped and rebuilt.
"""

import copy
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RULES = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
TARGET_SECONDS = 2.0
SOURCE = ROOT / "apps/stig/testdata/saf__xccdf-results-openscap-rhel8.xml"

scratch = tempfile.mkdtemp(prefix="portal-bench-stig-")
os.environ["DATABASE_URL"] = os.environ.get(
    "BENCH_DATABASE_URL", f"sqlite:///{scratch}/bench.sqlite3"
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", f"{scratch}/media")
# As in production: no SQL kept for the debug toolbar and error pages.
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from lxml import etree  # noqa: E402

from apps.catalog import services as catalog  # noqa: E402
from apps.stig.formats.xccdf import _parser, xccdf_parse  # noqa: E402
from apps.stig.models import StigRuleResult  # noqa: E402
from apps.stig.services import stig_scan_import  # noqa: E402

NS = "http://checklists.nist.gov/xccdf/1.2"
X = f"{{{NS}}}"
DISA = "xccdf_mil.disa.stig_"


def reset_database() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)


def build_document(rules: int) -> bytes:
    """RULES rules made from the real file's, each with a new V-/SV- id."""
    source = etree.fromstring(SOURCE.read_bytes(), _parser())
    groups = source.findall(f"{X}Group")
    test_result = source.find(f"{X}TestResult")
    results = {r.get("idref"): r for r in test_result.findall(f"{X}rule-result")}

    benchmark = etree.Element(source.tag, source.attrib, nsmap=source.nsmap)
    for child in source:
        if child.tag not in (f"{X}Profile", f"{X}Group", f"{X}TestResult"):
            benchmark.append(copy.deepcopy(child))
    profile = etree.SubElement(benchmark, f"{X}Profile", id=f"{DISA}profile_BENCH")
    etree.SubElement(profile, f"{X}title").text = "Every generated rule"
    result_out = etree.Element(f"{X}TestResult", test_result.attrib)
    for child in test_result:
        if child.tag not in (f"{X}rule-result", f"{X}score"):
            result_out.append(copy.deepcopy(child))
    etree.SubElement(result_out, f"{X}profile", idref=f"{DISA}profile_BENCH")

    for n in range(rules):
        group = copy.deepcopy(groups[n % len(groups)])
        rule = group.find(f"{X}Rule")
        old_id = rule.get("id")
        number = 900_000 + n
        group.set("id", f"{DISA}group_V-{number}")
        rule.set("id", f"{DISA}rule_SV-{number}r1_rule")
        benchmark.append(group)
        etree.SubElement(profile, f"{X}select", idref=group.get("id"), selected="1")
        rule_result = copy.deepcopy(results[old_id])
        rule_result.set("idref", rule.get("id"))
        result_out.append(rule_result)
    result_out.append(copy.deepcopy(test_result.find(f"{X}score")))
    benchmark.append(result_out)
    return etree.tostring(benchmark, xml_declaration=True, encoding="UTF-8")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    reset_database()
    document = build_document(RULES)
    repository = catalog.repository_upsert(name="bench-stig", category="base")
    series = catalog.series_upsert(repository=repository, name="8")
    variant = catalog.variant_get_or_create(series=series, stig=True)
    built = datetime(2025, 1, 1, tzinfo=UTC)
    images = [
        catalog.digest_register(
            variant=variant,
            digest=f"sha256:{i + 1:064x}",
            built_at=built + timedelta(i),
        )
        for i in range(RUNS)
    ]

    def import_one(image):
        with transaction.atomic():
            result = stig_scan_import(image=image, content=document)
        assert result.created
        assert result.rules == RULES

    baseline, read, imports = [], [], []
    for image in images:
        # Interleaved, so a slower moment of the machine hits both alike.
        baseline.append(timed(lambda: etree.fromstring(document, _parser())))
        read.append(timed(lambda: xccdf_parse(document)))
        imports.append(timed(lambda image=image: import_one(image)))
    assert StigRuleResult.objects.count() == RULES * RUNS

    parse_s = statistics.median(baseline)
    read_s = statistics.median(read)
    import_s = statistics.median(imports)
    print(
        f"STIG import benchmark on {connection.vendor}: {RULES} rules, "
        f"{len(document) / 1_000_000:.1f} MB of XCCDF 1.2, median of {RUNS} runs"
    )
    print(f"  baseline: lxml parse only            : {parse_s * 1000:8.1f} ms")
    print(f"  xccdf_parse (parse + read the rules) : {read_s * 1000:8.1f} ms")
    print(f"  stig_scan_import (read + store)      : {import_s * 1000:8.1f} ms")
    print(f"  import / lxml parse                  : {import_s / parse_s:8.1f}x")
    verdict = "met" if import_s < TARGET_SECONDS else "MISSED"
    print(f"  target: import < {TARGET_SECONDS:.0f} s                 : {verdict}")


if __name__ == "__main__":
    main()
