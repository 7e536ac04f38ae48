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
the moment given.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

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
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

_WIDTHS = {"Weakness Description": 60, "Overall Remediation Plan": 50, "Comments": 60}

Row = list[Any]


def _header(sheet) -> list[WriteOnlyCell]:
    bold = Font(bold=True, color="FFFFFF")
    fill = PatternFill("solid", fgColor="1F3864")
    wrap = Alignment(wrap_text=True, vertical="top")
    cells = []
    for title in POAM_COLUMNS:
        cell = WriteOnlyCell(sheet, value=title)
        cell.font, cell.fill, cell.alignment = bold, fill, wrap
        cells.append(cell)
    return cells


def _sheet(workbook: Workbook, title: str, rows: Iterable[Row]) -> None:
    sheet = workbook.create_sheet(title)
    for index, name in enumerate(POAM_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _WIDTHS.get(name, 22)
    sheet.freeze_panes = "B2"
    sheet.append(_header(sheet))
    # Plain values: openpyxl formats a date cell as yyyy-mm-dd by itself.
    for values in rows:
        sheet.append(values)


def _fixed_zip(content: bytes, moment: datetime) -> bytes:
    """The same archive with every entry's timestamp set to ``moment``."""
    stamp = moment.astimezone(UTC).timetuple()[:6]
    stamp = max(stamp, (1980, 1, 1, 0, 0, 0))
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(content)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=stamp)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 3
            target.writestr(entry, source.read(info.filename), compresslevel=6)
    return out.getvalue()


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
    workbook = Workbook(write_only=True)
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    props = workbook.properties
    props.creator = creator
    props.lastModifiedBy = creator
    props.title = title
    props.identifier = identifier
    props.created = naive
    props.modified = naive
    _sheet(workbook, OPEN_SHEET, open_rows)
    _sheet(workbook, CLOSED_SHEET, closed_rows)
    buffer = io.BytesIO()
    # ExcelWriter, not Workbook.save: save stamps "modified" with the clock.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        ExcelWriter(workbook, zf).write_data()
    return _fixed_zip(buffer.getvalue(), moment)
