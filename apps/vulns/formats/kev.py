"""The CISA Known Exploited Vulnerabilities catalog (JSON), checked against
CISA's own schema and read into its entries by CVE.

Pure: nothing here touches the database; ``apps.vulns.services.kev_import``
sets the KEV flags from what ``kev_parse`` returns.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from django.conf import settings
from django.core.exceptions import ValidationError

from apps.core.boundedjson import JsonRefusedError, bounded_loads

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
KEV_SCHEMA = SCHEMA_DIR / "known_exploited_vulnerabilities.schema.json"
MAX_ERRORS_SHOWN = 20

# A catalog entry: (date added, due date, known ransomware campaign use).
KevEntry = tuple[date, date, bool]


@cache
def _kev_schema() -> dict[str, Any]:
    return json.loads(KEV_SCHEMA.read_text())


def _json_path(path: Iterable[object]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "$"


def kev_parse(content: bytes) -> tuple[str, dict[str, KevEntry]]:
    """The catalog's version and its entries by CVE, checked against CISA's
    schema; anything wrong is a ValidationError naming where."""
    max_bytes = settings.EVIDENCE_MAX_BYTES
    if len(content) > max_bytes:
        raise ValidationError(
            f"The KEV catalog is {len(content)} bytes, over the {max_bytes}-byte limit."
        )
    try:
        catalog = bounded_loads(content, max_bytes=max_bytes)
    except JsonRefusedError as exc:
        if exc.line:
            raise ValidationError(
                f"The KEV catalog is not valid JSON: line {exc.line} column "
                f"{exc.column}: {exc.reason}"
            ) from None
        raise ValidationError(f"The KEV catalog is refused: {exc.message}") from None
    validator = jsonschema.Draft7Validator(
        _kev_schema(), format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    problems = sorted(validator.iter_errors(catalog), key=lambda e: list(e.path))
    if problems:
        raise ValidationError(
            [
                f"KEV catalog {_json_path(error.path)}: {error.message}"
                for error in problems[:MAX_ERRORS_SHOWN]
            ]
        )
    entries = catalog["vulnerabilities"]
    if catalog["count"] != len(entries):
        raise ValidationError(
            f"KEV catalog count: says {catalog['count']} but lists {len(entries)} "
            "vulnerabilities; is the file cut short?"
        )
    listed: dict[str, KevEntry] = {}
    for index, entry in enumerate(entries):
        try:
            added = date.fromisoformat(entry["dateAdded"])
            due = date.fromisoformat(entry["dueDate"])
        except ValueError as exc:
            raise ValidationError(
                f"KEV catalog vulnerabilities[{index}]: {exc}"
            ) from None
        ransomware = entry.get("knownRansomwareCampaignUse", "") == "Known"
        listed[entry["cveID"]] = (added, due, ransomware)
    return catalog["catalogVersion"], listed
