"""The response every CSV export door answers with: rows streamed through the
one spreadsheet writer (``formats.spreadsheet``), as an attachment."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse

from .formats.spreadsheet import csv_lines


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> StreamingHttpResponse:
    """``rows`` (the header first) as a streamed CSV download named
    ``filename``; each cell neutralized so no spreadsheet runs it."""
    response = StreamingHttpResponse(
        csv_lines(rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
