"""The FedRAMP POA&M workbook (Rev 5 template columns) as XLSX: an "Open POA&M
Items" and a "Closed POA&M Items" sheet, a header row and one row per item.

Columns and their order follow the FedRAMP POA&M template's "Open POA&M Items"
worksheet. Columns A to AA (POAM ID ... Auto-Approve) are those of FedRAMP's
own POA&M rendering in the fedramp-automation project
(github.com/wendellpiez/fedramp-automation, resources/oscal_poam_html.xsl, a
fork of GSA/fedramp-automation), as described column by column in FedRAMP's
POA&M Template Completion Guide; the Rev 5 template adds AB to AE (Binding
Operational Directive 22-01 tracking, its Due Date, CVE, Service Name), the
list the Rev 5 POA&M importers read (RegScale's regscale-cli FedRAMP POA&M
integration, grokify's Go ``poam`` package ``Columns()``).

The header row is row 1 (the template's banner rows above the headers are
left out so the sheet reads as a table). The same rows give the same bytes:
the workbook's properties and the zip container's timestamps are fixed to
the moment given. The cells are written by the one spreadsheet writer
(``apps.core.formats.spreadsheet``): an advisory's text that starts like a
formula stays text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from apps.core.formats.spreadsheet import XLSX_MEDIA_TYPE, Sheet, xlsx_workbook

POAM_COLUMNS: tuple[str, ...] = (
    "POAM ID",
    "Controls",
    "Weakness Name",
    "Weakness Description",
    "Weakness Detector Source",
    "Weakness Source Identifier",
    "Asset Identifier",
    "Point of Contact",
    "Resources Required",
    "Overall Remediation Plan",
    "Original Detection Date",
    "Scheduled Completion Date",
    "Planned Milestones",
    "Milestone Changes",
    "Status Date",
    "Vendor Dependency",
    "Last Vendor Check-in Date",
    "Vendor Dependent Product Name",
    "Original Risk Rating",
    "Adjusted Risk Rating",
    "Risk Adjustment",
    "False Positive",
    "Operational Requirement",
    "Deviation Rationale",
    "Supporting Documents",
    "Comments",
    "Auto-Approve",
    "Binding Operational Directive 22-01 tracking",
    "Binding Operational Directive 22-01 Due Date",
    "CVE",
    "Service Name",
)

OPEN_SHEET = "Open POA&M Items"
CLOSED_SHEET = "Closed POA&M Items"
MEDIA_TYPE = XLSX_MEDIA_TYPE

_WIDTHS = {"Weakness Description": 60, "Overall Remediation Plan": 50, "Comments": 60}
_HEADER_FILL = "1F3864"

Row = list[Any]


def _sheet(title: str, rows: Iterable[Row]) -> Sheet:
    # Plain values: a date cell is formatted yyyy-mm-dd by itself.
    return Sheet(
        title=title,
        columns=POAM_COLUMNS,
        rows=rows,
        widths=_WIDTHS,
        default_width=22,
        freeze_panes="B2",
        header_fill=_HEADER_FILL,
    )


def poam_workbook(
    *,
    open_rows: Iterable[Row],
    closed_rows: Iterable[Row],
    title: str,
    identifier: str,
    creator: str,
    moment: datetime,
) -> bytes:
    """The workbook's bytes: ``open_rows`` and ``closed_rows`` in the order
    given, each a list of values in ``POAM_COLUMNS`` order; ``moment`` (an
    aware datetime) stamps its properties and its zip entries."""
    return xlsx_workbook(
        sheets=[_sheet(OPEN_SHEET, open_rows), _sheet(CLOSED_SHEET, closed_rows)],
        title=title,
        identifier=identifier,
        creator=creator,
        moment=moment,
    )
