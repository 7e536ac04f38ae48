"""The bytes of an evidence document read as JSON, and the one shape of a refusal.

Shared by the SBOM, VEX and attestation readers, so that forms and the API show
every refused document alike: a ``ValidationError`` on ``document`` whose code
says why. The size, depth and number lengths are checked before a byte is
parsed (``apps.core.boundedjson``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.boundedjson import JsonRefusedError, bounded_loads


def refuse(message: str, code: str) -> ValidationError:
    """The one shape of a refused document, so forms and the API show it alike."""
    return ValidationError({"document": ValidationError(message, code=code)})


def document_json(content: bytes) -> Any:
    """Parse an evidence document, refusing oversize, non-UTF-8 and non-JSON
    input, nesting too deep, number literals too long and NUL in strings."""
    if not content.strip():
        raise refuse("The document is empty.", "invalid_json")
    if content.lstrip()[:1] == b"<":
        raise refuse(
            "This looks like XML; only JSON documents are accepted.", "unknown_format"
        )
    return document_loads(content)


def document_loads(content: bytes, *, max_bytes: int | None = None) -> Any:
    """``content`` decoded by the bounded decoder (at most ``max_bytes``,
    ``EVIDENCE_MAX_BYTES`` unless given), or the refusal of a document
    (``too_large`` or ``invalid_json``)."""
    limit = settings.EVIDENCE_MAX_BYTES if max_bytes is None else max_bytes
    try:
        return bounded_loads(content, max_bytes=limit)
    except JsonRefusedError as exc:
        code = "too_large" if exc.code == "too_large" else "invalid_json"
        raise refuse(exc.message, code) from None
