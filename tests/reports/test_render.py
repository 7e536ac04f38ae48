"""Printed reports: PDF/A-3b with the evidence embedded, and the ledger's
figures in the text a reader (or pdftotext) sees."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from datetime import timedelta

import pikepdf
import pytest

from apps.reports.evidence.document import build_evidence, canonical_json
from apps.reports.links import verify_url
from apps.reports.models import Report
from apps.reports.render import render_pdf, report_html

from .builders import compliance_org, report_for

pytestmark = pytest.mark.django_db


def pdf_text(content: bytes) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext (poppler-utils) is missing: .ci/run installs it")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(
        ["pdftotext", "-layout", "-", "-"],
        input=content,
        capture_output=True,
        check=True,
    )
    return done.stdout.decode()


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def render(report: Report):
    evidence = build_evidence(report)
    evidence_json = canonical_json(evidence)
    return (
        evidence,
        evidence_json,
        render_pdf(report, evidence, evidence_json=evidence_json),
    )


def test_compliance_report_prints_the_ledger_figures_and_embeds_its_evidence():
    s = compliance_org()
    stages: list[int] = []
    evidence = build_evidence(s.report, progress=lambda p, st: stages.append(p))
    evidence_json = canonical_json(evidence)
    rendered = render_pdf(
        s.report,
        evidence,
        evidence_json=evidence_json,
        progress=lambda p, st: stages.append(p),
    )
    assert stages == sorted(stages)
    text = pdf_text(rendered.content)
    flat = squash(text)

    # The cover and every page's header: report id, window, cut-off.
    report_id = str(s.report.public_id)
    assert report_id in flat
    start, end = s.window
    assert f"{start.isoformat()} to {end.isoformat()}" in flat
    assert verify_url(s.report) in flat.replace(" ", "")
    assert f"Page 1 of {rendered.pages}" not in flat  # the cover has no footer
    assert f"Page {rendered.pages} of {rendered.pages}" in flat

    # The contract's figures, as sla_metrics counts them, per severity.
    rows = {row["severity"]: row for row in evidence["sla"]["contract"]["severities"]}
    high = rows["high"]
    assert re.search(
        rf"High\s+{high['met']}\s+{high['missed']}\s+{high['breached']}\s+"
        rf"{high['judged']}\s+{high['attainment']} %",
        text,
    )
    overall = evidence["sla"]["contract"]["overall"]
    assert f"attainment of {overall['attainment']} %" in flat
    for overlay in evidence["sla"]["overlays"]:
        if overlay["attainment"] is not None:
            assert f"{overlay['attainment']} %" in flat

    # Breached and missed clocks, exemptions and the appendix name their CVEs.
    for vuln_id in s.vuln_ids[:-1]:
        assert vuln_id in flat
    assert s.vuln_ids[-1] not in flat  # fixed before the window
    assert f"#{s.fips_module.certificate_number}" in flat
    assert s.stig_scan.attestation.sha256 in flat.replace(" ", "")

    with pikepdf.open(io.BytesIO(rendered.content)) as pdf:
        assert len(pdf.pages) == rendered.pages
        meta = pdf.open_metadata()
        assert meta["pdfaid:part"] == "3"
        assert meta["pdfaid:conformance"] == "B"
        attached = pdf.attachments["evidence.json"]
        assert attached.get_file().read_bytes() == evidence_json
        assert str(attached.obj.get("/AFRelationship")) == "/Data"
        assert pdf.Root.AF[0].F == "evidence.json"


def test_the_html_draws_nothing_from_outside_the_document():
    s = compliance_org(with_fips=False, with_stig=False, with_els=False)
    evidence = build_evidence(s.report)
    html = report_html(s.report, evidence, evidence_sha256="0" * 64)
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["'](https?:|file:|/)""", html)
    # A name with markup is text in the document, not markup.
    s.org.name = "<img src=x> Evil & Co"
    s.org.save(update_fields=["name"])
    html = report_html(s.report, build_evidence(s.report), evidence_sha256="0" * 64)
    assert "<img src=x>" not in html
    assert "&lt;img src=x&gt;" in html


def test_image_dossier_and_staff_report_render():
    s = compliance_org(with_fips=False, with_els=False)
    image = s.stig_scan.digest
    dossier = report_for(
        s.org,
        kind=Report.Kind.IMAGE_DOSSIER,
        digest=image,
        data_cutoff=s.report.data_cutoff + timedelta(days=2),
    )
    _, evidence_json, rendered = render(dossier)
    flat = squash(pdf_text(rendered.content)).replace(" ", "")
    assert image.digest in flat
    assert s.stig_scan.attestation.sha256 in flat
    with pikepdf.open(io.BytesIO(rendered.content)) as pdf:
        assert pdf.attachments["evidence.json"].get_file().read_bytes() == (
            evidence_json
        )

    staff = report_for(None, kind=Report.Kind.SLA_PERFORMANCE, window=s.window)
    evidence, _, rendered = render(staff)
    flat = squash(pdf_text(rendered.content))
    assert s.org.name in flat
    assert f"{evidence['all_customers']['overall']['attainment']} %" in flat


def test_a_kind_without_a_printed_form_is_refused():
    s = compliance_org(with_fips=False, with_stig=False, with_els=False)
    evidence = build_evidence(s.report)
    s.report.kind = Report.Kind.POAM
    with pytest.raises(ValueError, match="No printed form"):
        render_pdf(s.report, evidence, evidence_json=canonical_json(evidence))
