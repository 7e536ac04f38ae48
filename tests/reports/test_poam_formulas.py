"""An advisory's words reach the POA&M workbook (its summary is the Weakness
Description): one that starts like a formula is a text cell, never a formula."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from apps.reports import poam
from apps.vulns.models import Vulnerability

from .test_poam import ledger, poam_report  # noqa: F401

SUMMARY = '=HYPERLINK("http://x","y")'


def test_an_advisory_summary_that_starts_like_a_formula_is_text(ledger):  # noqa: F811
    critical = ledger.open_clocks["critical"]
    Vulnerability.objects.filter(findings__sla_clocks=critical).update(summary=SUMMARY)
    book = load_workbook(io.BytesIO(poam.poam_xlsx(poam_report(ledger.org))))
    sheet = book["Open POA&M Items"]
    header = [c.value for c in sheet[1]]
    column = header.index("Weakness Description")
    (row,) = [r for r in sheet.iter_rows(min_row=2) if r[0].value == f"V-{critical.pk}"]
    cell = row[column]
    assert (cell.value, cell.data_type) == ("'" + SUMMARY, "s")
    formulas = [
        c.coordinate for r in sheet.iter_rows() for c in r if c.data_type == "f"
    ]
    assert formulas == []
