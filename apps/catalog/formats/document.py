"""The bytes of an evidence document read as JSON, and the one shape of a refusal.

Shared by the SBOM, VEX and attestation readers, so that forms and the API show
every refused document alike: a ``ValidationError`` on ``document`` whose code
says why. The size is checked before a byte is parsed.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError


def refuse(message: str, code: str) -> ValidationError:
    """The one shape of a refused document, so forms and the API show it alike."""
    return ValidationError({"document": ValidationError(message, code=code)})


def document_json(content: bytes) -> Any:
    """Parse an evidence document, refusing oversize, non-UTF-8 and non-JSON input.

    The size is checked before a byte is parsed.
    """
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise refuse(
            f"The document is {len(content):,} bytes; the limit is {limit:,} bytes.",
            "too_large",
        )
    if not content.strip():
        raise refuse("The document is empty.", "invalid_json")
    if content.lstrip()[:1] == b"<":
        raise refuse(
            "This looks like XML; only JSON documents are accepted.", "unknown_format"
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(
            f"The document is not UTF-8 text (byte {exc.start}).", "invalid_json"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise refuse(
            f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            "invalid_json",
        ) from None
    except (RecursionError, ValueError) as exc:
        raise refuse(f"Not valid JSON: {exc}.", "invalid_json") from None


def _reject_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON has neither.
    raise ValueError(f"{name} is not a JSON value")
