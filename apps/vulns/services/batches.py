"""The batch size vulnerability writes use, and slicing lists into batches."""

from __future__ import annotations

from collections.abc import Iterator

# Rows per statement: small enough for SQLite's parameter limit, large enough
# that 20,000 records take dozens of statements, not thousands.
BATCH = 500


def chunks(items: list, size: int = BATCH) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
