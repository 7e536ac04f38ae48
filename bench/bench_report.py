"""An org compliance report for an org with CLOCKS clocks in its window, on
PostgreSQL.

Seeds one organization (entitlements, a mirrored repository with FIPS, STIG
and ELS evidence, exemptions) and CLOCKS clocks spread over a 90-day window
in every state, then measures in the same run, each in a fresh process:

- the report: build_evidence + render_pdf (PDF/A-3b, evidence attached),
  wall time and peak memory (RSS);
- WeasyPrint alone: HTML(string=<the same final HTML>).write_pdf(), the
  floor for laying out and writing that many pages.

Target: the report within 1.3x of WeasyPrint alone, peak memory < 1.5 GiB.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        .venv/bin/python bench/bench_report.py [CLOCKS]
"""

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="portal-bench-media-"))
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

import django  # noqa: E402

django.setup()

import logging  # noqa: E402

logging.getLogger("weasyprint").setLevel(logging.WARNING)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_report(report_id: int, html_path: str) -> None:
    """In a fresh process: build and render the report; print JSON figures;
    write the final HTML for the WeasyPrint-alone run."""
    from apps.reports.evidence.document import build_evidence, canonical_json
    from apps.reports.models import Report
    from apps.reports.render import render_pdf, report_html

    report = Report.objects.get(pk=report_id)
    started = time.perf_counter()
    evidence = build_evidence(report)
    evidence_json = canonical_json(evidence)
    built = time.perf_counter()
    rendered = render_pdf(report, evidence, evidence_json=evidence_json)
    done = time.perf_counter()
    figures = {
        "evidence_s": built - started,
        "render_s": done - built,
        "total_s": done - started,
        "pages": rendered.pages,
        "pdf_bytes": len(rendered.content),
        "evidence_bytes": len(evidence_json),
        "peak_mib": peak_mib(),
    }
    import hashlib

    html = report_html(
        report, evidence, evidence_sha256=hashlib.sha256(evidence_json).hexdigest()
    )
    Path(html_path).write_text(html)
    print(json.dumps(figures))


def measure_weasyprint(html_path: str) -> None:
    from django.conf import settings
    from weasyprint import HTML

    html = Path(html_path).read_text()
    started = time.perf_counter()
    content = HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "total_s": done - started,
                "pdf_bytes": len(content),
                "peak_mib": peak_mib(),
            }
        )
    )


def seed(clocks: int) -> int:
    from django.core.management import call_command
    from django.db import connection

    from apps.sla.models import SlaClock
    from apps.vulns.models import Finding, Vulnerability
    from tests.catalog import builders as catalog
    from tests.reports.builders import compliance_org, midnight, sla_version

    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)
    scenario = compliance_org(name="Northwind Health")
    version = sla_version()
    start = midnight(scenario.window[0])
    span = (midnight(scenario.window[1]) - start).total_seconds()
    rng = random.Random(7)
    image = catalog.build(scenario.series, built_at=start - timedelta(days=30))
    comp = catalog.component("libbench")
    severities = ["critical", "high", "high", "medium", "medium", "low"]
    states = ["met"] * 6 + ["missed", "breached", "open", "at_risk", "exempt"]
    vulns = Vulnerability.objects.bulk_create(
        Vulnerability(vuln_id=f"CVE-2026-{100000 + i}", severity=rng.choice(severities))
        for i in range(clocks)
    )
    rows = []
    for vuln in vulns:
        state = rng.choice(states)
        started = start + timedelta(seconds=rng.uniform(0, span * 0.9))
        due = started + timedelta(days=rng.choice([7, 15, 30, 90]))
        stopped = None
        if state in ("met", "exempt"):
            stopped = started + (due - started) * rng.uniform(0.1, 0.9)
        elif state == "missed":
            stopped = due + timedelta(days=rng.uniform(1, 10))
        elif state == "breached":
            due = started + timedelta(days=rng.uniform(1, 5))
        rows.append((vuln, state, started, due, stopped))
    findings = Finding.objects.bulk_create(
        Finding(
            digest=image,
            vulnerability=vuln,
            component=comp,
            severity=vuln.severity,
            status="fixed" if state in ("met", "missed") else "affected",
            upstream_fix_at=started,
            detected_at=started,
            fixed_published_at=stopped if state in ("met", "missed") else None,
        )
        for vuln, state, started, due, stopped in rows
    )
    SlaClock.objects.bulk_create(
        (
            SlaClock(
                org=scenario.org,
                finding=f,
                policy_version=version,
                severity=vuln.severity,
                start_event="upstream_fix",
                started_at=started,
                due_at=due,
                at_risk_at=started + (due - started) * 7 / 10,
                state=state,
                stopped_at=stopped,
                stop_reason={"exempt": "waiver"}.get(state, "fixed" if stopped else ""),
                exempt_reason="Compensating control." if state == "exempt" else "",
            )
            for f, (vuln, state, started, due, stopped) in zip(
                findings, rows, strict=True
            )
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return scenario.report.pk


def child(*args: str) -> dict:
    done = subprocess.run(  # noqa: S603 - this script, with its own arguments
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    clocks = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    started = time.perf_counter()
    report_id = seed(clocks)
    print(f"seeded {clocks} clocks in {time.perf_counter() - started:.1f} s")
    html_path = tempfile.mktemp(suffix=".html", prefix="report-bench-")  # noqa: S306
    report = child("--report", str(report_id), html_path)
    alone = child("--weasyprint", html_path)
    ratio = report["total_s"] / alone["total_s"]
    print(f"org compliance report, {clocks} clocks, {report['pages']} pages")
    print(f"  evidence (build_evidence)      : {report['evidence_s']:8.2f} s")
    print(f"  render (render_pdf, PDF/A-3b)  : {report['render_s']:8.2f} s")
    print(f"  total                          : {report['total_s']:8.2f} s")
    print(f"  peak memory (RSS)              : {report['peak_mib']:8.0f} MiB")
    print(
        f"  evidence JSON                  : {report['evidence_bytes'] / 1e6:8.2f} MB"
    )
    print(f"  PDF                            : {report['pdf_bytes'] / 1e6:8.2f} MB")
    print(f"WeasyPrint alone, same HTML      : {alone['total_s']:8.2f} s")
    print(f"  peak memory (RSS)              : {alone['peak_mib']:8.0f} MiB")
    print(f"ratio total / WeasyPrint alone   : {ratio:8.2f}x (target <= 1.3)")
    print(
        f"peak memory target < 1536 MiB    : "
        f"{'met' if report['peak_mib'] < 1536 else 'NOT met'}"
    )
    Path(html_path).unlink(missing_ok=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--report":
        measure_report(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--weasyprint":
        measure_weasyprint(sys.argv[2])
    else:
        main()
