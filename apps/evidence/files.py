"""Documents read from disk by the import commands."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from apps.catalog.formats.document import refuse


def evidence_file_read(path: str | Path) -> bytes:
    """A document from disk for a command, refusing oversize files unread."""
    path = Path(path)
    limit = settings.EVIDENCE_MAX_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise refuse(
                f"{path} is {size:,} bytes; the limit is {limit:,} bytes.",
                "too_large",
            )
        with path.open("rb") as handle:
            # One byte past the limit is enough for the parser to refuse it.
            return handle.read(limit + 1)
    except OSError as exc:
        raise refuse(f"Cannot read {path}: {exc.strerror}.", "unreadable") from None
