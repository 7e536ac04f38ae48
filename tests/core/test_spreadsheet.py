"""The one spreadsheet writer: a text cell that would start a formula gets a
leading single quote (OWASP's rule), in CSV and in XLSX, where text is also
always a string cell; numbers and dates keep their type."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import openpyxl
import pytest

from apps.core.exports import csv_response
from apps.core.formats.spreadsheet import (
    Sheet,
    csv_cell,
    csv_lines,
    text_cell,
    xlsx_workbook,
)

PAYLOADS = ('=HYPERLINK("http://x","y")', "+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1")
MOMENT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _workbook(rows, columns=("a", "b", "c")) -> openpyxl.Workbook:
    content = xlsx_workbook(
        sheets=[Sheet(title="Items", columns=columns, rows=rows)],
        title="t",
        identifier="i",
        creator="c",
        moment=MOMENT,
    )
    return openpyxl.load_workbook(io.BytesIO(content))


def _csv(rows) -> list[list[str]]:
    text = "".join(csv_lines(rows))
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("payload", PAYLOADS)
def test_text_that_would_start_a_formula_gets_a_quote(payload):
    assert text_cell(payload) == "'" + payload
    assert csv_cell(payload) == "'" + payload


@pytest.mark.parametrize(
    "text", ["CVE-2026-1", "a=b", "x+1", "", " =1", "'=1", "O'Brien", "1-2"]
)
def test_other_text_is_left_alone(text):
    assert text_cell(text) == text


def test_csv_cells_keep_numbers_and_write_dates_in_iso_8601():
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert csv_cell(None) == ""
    assert csv_cell(-5) == -5
    assert csv_cell(Decimal("-1.50")) == Decimal("-1.50")
    assert csv_cell(when) == "2026-03-01T12:30:00+00:00"
    assert csv_cell(date(2026, 3, 1)) == "2026-03-01"
    assert csv_cell(True) == "True"
    # Anything else is its text, neutralized.
    assert csv_cell({"email": "=1@x.example"}) == "{'email': '=1@x.example'}"
    assert csv_cell(["-1"]) == "['-1']"


def test_csv_lines_neutralize_every_cell_and_keep_a_cell_whole():
    rows = [["id", "agent"], [1, '=HYPERLINK("http://x","y")'], [2, "a,\r\n=1"]]
    assert _csv(rows) == [
        ["id", "agent"],
        ["1", '\'=HYPERLINK("http://x","y")'],
        ["2", "a,\r\n=1"],
    ]


def test_csv_lines_stream_one_line_per_row():
    lines = csv_lines(iter([["a"], ["-1+1"]]))
    assert next(lines) == "a\r\n"
    assert next(lines) == "'-1+1\r\n"


def test_the_csv_response_streams_an_attachment():
    response = csv_response(iter([["name"], ["@SUM(A1)"]]), "names.csv")
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="names.csv"'
    body = b"".join(response.streaming_content).decode()
    assert body == "name\r\n'@SUM(A1)\r\n"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_xlsx_text_is_a_string_cell_never_a_formula(payload):
    sheet = _workbook([[payload, "#N/A", "=1"]])["Items"]
    cells = sheet[2]
    assert [c.data_type for c in cells] == ["s", "s", "s"]
    assert [c.value for c in cells] == ["'" + payload, "#N/A", "'=1"]


def test_xlsx_keeps_numbers_and_dates_typed():
    aware = datetime(2026, 3, 1, 13, 0, tzinfo=UTC) + timedelta(hours=1)
    sheet = _workbook([[-5, date(2026, 3, 1), aware]])["Items"]
    cells = sheet[2]
    assert [c.data_type for c in cells] == ["n", "d", "d"]
    assert cells[0].value == -5
    assert cells[1].value == datetime(2026, 3, 1, tzinfo=UTC).replace(tzinfo=None)
    # Excel has no time zones: an aware moment is written in UTC.
    assert cells[2].value == datetime(2026, 3, 1, 14, tzinfo=UTC).replace(tzinfo=None)


def test_xlsx_drops_characters_xml_cannot_carry_then_neutralizes():
    sheet = _workbook([["\x01=1", "ok\x1b text", None]])["Items"]
    cells = sheet[2]
    assert [c.value for c in cells] == ["'=1", "ok text", None]


def test_xlsx_header_titles_are_neutralized_too():
    sheet = _workbook([], columns=("id", "=cmd"))["Items"]
    header = sheet[1]
    assert [(c.value, c.data_type) for c in header] == [("id", "s"), ("'=cmd", "s")]


def test_the_same_rows_give_the_same_bytes():
    def build():
        return xlsx_workbook(
            sheets=[Sheet(title="Items", columns=("a",), rows=[["x"], [1]])],
            title="t",
            identifier="i",
            creator="c",
            moment=MOMENT,
        )

    assert build() == build()
