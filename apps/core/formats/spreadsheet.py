"""The one writer of spreadsheet exports, CSV and XLSX: every export door
writes its cells here, so a value someone else chose (a user agent, a typed
email, an organization's or token's name, an advisory's summary) opens in a
spreadsheet as the text it is, never as a formula.

The rule is OWASP's (CSV Injection): a text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading single quote. In XLSX
every text cell is also written as a string cell, never a formula or an error
value. Numbers and dates keep their type: a number is not a formula, and a
date cell stays a date.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Control characters XML 1.0 cannot carry (openpyxl refuses them): dropped
# from XLSX text, so an advisory holding one still gives a workbook.
_NOT_IN_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_NUMBER = (int, float, Decimal)
_MOMENT = (datetime, date, time)


def text_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it: one that would start a formula
    gets a leading single quote."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_cell(value: Any) -> Any:
    """One CSV cell: empty for None, a number as it is, a date or time in ISO
    8601, anything else as neutralized text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, _NUMBER):
        return value
    if isinstance(value, _MOMENT):
        return value.isoformat()
    return text_cell(str(value))


class _Echo:
    """A file that hands back what is written: the csv module writes one line
    into it and the line is yielded to a streamed response."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Each row as one CSV line, every cell through ``csv_cell``, one at a
    time, so a response streams however many rows there are."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([csv_cell(value) for value in row])


def xlsx_value(value: Any) -> Any:
    """One XLSX cell's value: None stays empty, numbers, booleans and dates
    keep their type (an aware datetime in UTC: Excel has no time zones),
    anything else is neutralized text XML can carry."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    if value is None or isinstance(value, (bool, *_NUMBER, *_MOMENT)):
        return value
    return text_cell(_NOT_IN_XML.sub("", str(value)))


def xlsx_cell(sheet: Any, value: Any) -> WriteOnlyCell | None:
    """A write-only cell of ``sheet`` holding ``value``; text is a string
    cell whatever it starts with (openpyxl would otherwise turn ``=...``
    into a formula and ``#N/A`` into an error)."""
    value = xlsx_value(value)
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


@dataclass(frozen=True)
class Sheet:
    """One worksheet: a header row of ``columns``, then ``rows`` of values in
    that order. ``widths`` by column title, the rest ``default_width``;
    ``header_fill`` (RGB hex) sets the header in bold white on that colour."""

    title: str
    columns: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Mapping[str, float] = field(default_factory=dict)
    default_width: float = 22
    freeze_panes: str | None = None
    header_fill: str | None = None


def _header(sheet: Any, spec: Sheet) -> list[WriteOnlyCell | None]:
    cells = [xlsx_cell(sheet, title) for title in spec.columns]
    font = Font(bold=True, color="FFFFFF" if spec.header_fill else None)
    fill = PatternFill("solid", fgColor=spec.header_fill) if spec.header_fill else None
    wrap = Alignment(wrap_text=True, vertical="top")
    for cell in cells:
        if cell is None:
            continue
        cell.font, cell.alignment = font, wrap
        if fill is not None:
            cell.fill = fill
    return cells


def _write_sheet(workbook: Workbook, spec: Sheet) -> None:
    sheet = workbook.create_sheet(spec.title)
    for index, name in enumerate(spec.columns, start=1):
        width = spec.widths.get(name, spec.default_width)
        sheet.column_dimensions[get_column_letter(index)].width = width
    if spec.freeze_panes:
        sheet.freeze_panes = spec.freeze_panes
    sheet.append(_header(sheet, spec))
    for values in spec.rows:
        sheet.append([xlsx_cell(sheet, value) for value in values])


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


def xlsx_workbook(
    *,
    sheets: Sequence[Sheet],
    title: str,
    identifier: str,
    creator: str,
    moment: datetime,
) -> bytes:
    """The workbook's bytes, its sheets in the order given. ``moment`` (an
    aware datetime) stamps its properties and its zip entries, so the same
    rows give the same bytes."""
    workbook = Workbook(write_only=True)
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    props = workbook.properties
    props.creator = creator
    props.lastModifiedBy = creator
    props.title = title
    props.identifier = identifier
    props.created = naive
    props.modified = naive
    for spec in sheets:
        _write_sheet(workbook, spec)
    buffer = io.BytesIO()
    # ExcelWriter, not Workbook.save: save stamps "modified" with the clock.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        ExcelWriter(workbook, zf).write_data()
    return _fixed_zip(buffer.getvalue(), moment)
