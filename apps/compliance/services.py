"""Loading the control map. The whole document is checked before anything is
written; a load replaces the map in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.boundedjson import JsonRefusedError, bounded_loads

from .models import EvidenceKind, Framework

DEFAULT_MAP = Path(__file__).resolve().parent / "data" / "control_map.json"
TEXT_LIMITS = {"control_id": 64, "title": 200, "reference_url": 500}


@dataclass(frozen=True)
class ControlRow:
    framework: str
    control_id: str
    title: str
    requirement: str
    reference_url: str
    evidence: tuple[tuple[str, str], ...]


@dataclass
class ControlMapLoadResult:
    controls: int
    evidence: int
    removed: int


def _text(item: dict[str, Any], key: str, where: str, required: bool = True) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise ValidationError(f"{where}: {key!r} must be a non-empty string.")
    value = value.strip()
    limit = TEXT_LIMITS.get(key)
    if limit and len(value) > limit:
        raise ValidationError(f"{where}: {key!r} is longer than {limit} characters.")
    return value


def control_map_parse(content: bytes) -> list[ControlRow]:
    limit = settings.EVIDENCE_MAX_BYTES
    if len(content) > limit:
        raise ValidationError(
            f"The control map is {len(content):,} bytes; the limit is {limit:,}."
        )
    try:
        doc = bounded_loads(content, max_bytes=limit)
    except JsonRefusedError as exc:
        raise ValidationError(f"The control map is not JSON: {exc.message}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("controls"), list):
        raise ValidationError('The control map is an object with a "controls" list.')
    if not doc["controls"]:
        raise ValidationError("The control map lists no controls.")
    rows: list[ControlRow] = []
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(doc["controls"]):
        where = f"controls[{i}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{where}: expected an object.")
        framework = _text(item, "framework", where)
        if framework not in Framework.values:
            raise ValidationError(
                f"{where}: unknown framework {framework!r} "
                f"(one of {', '.join(Framework.values)})."
            )
        control_id = _text(item, "control_id", where)
        where = f"{where} ({framework} {control_id})"
        if (framework, control_id) in seen:
            raise ValidationError(f"{where}: listed twice.")
        seen.add((framework, control_id))
        evidence = item.get("evidence")
        if not isinstance(evidence, dict) or not evidence:
            raise ValidationError(f"{where}: 'evidence' maps evidence kinds to how.")
        for kind, rationale in evidence.items():
            if kind not in EvidenceKind.values:
                raise ValidationError(
                    f"{where}: unknown evidence kind {kind!r} "
                    f"(one of {', '.join(EvidenceKind.values)})."
                )
            if not isinstance(rationale, str) or not rationale.strip():
                raise ValidationError(f"{where}: evidence {kind!r} needs a rationale.")
        rows.append(
            ControlRow(
                framework=framework,
                control_id=control_id,
                title=_text(item, "title", where),
                requirement=_text(item, "requirement", where),
                reference_url=_text(item, "reference_url", where, required=False),
                evidence=tuple(sorted((k, v.strip()) for k, v in evidence.items())),
            )
        )
    return rows


def control_map_apply(
    rows: list[ControlRow], *, apps=global_apps
) -> ControlMapLoadResult:
    """Make the stored map equal ``rows`` (``apps``: a migration's registry)."""
    control_model = apps.get_model("compliance", "Control")
    evidence_model = apps.get_model("compliance", "ControlEvidence")
    kept = []
    evidence_rows: list[Any] = []
    for position, row in enumerate(rows):
        control, _ = control_model.objects.update_or_create(
            framework=row.framework,
            control_id=row.control_id,
            defaults={
                "title": row.title,
                "requirement": row.requirement,
                "reference_url": row.reference_url,
                "position": position,
            },
        )
        kept.append(control.pk)
        evidence_rows.extend(
            evidence_model(control=control, kind=kind, rationale=rationale)
            for kind, rationale in row.evidence
        )
    _, deleted = control_model.objects.exclude(pk__in=kept).delete()
    removed = deleted.get(control_model._meta.label, 0)
    evidence_model.objects.filter(control_id__in=kept).delete()
    evidence_model.objects.bulk_create(evidence_rows)
    return ControlMapLoadResult(
        controls=len(kept), evidence=len(evidence_rows), removed=removed
    )


@transaction.atomic
def control_map_load(*, content: bytes | None = None) -> ControlMapLoadResult:
    """Check a control map document and store it (the shipped one by default)."""
    rows = control_map_parse(
        content if content is not None else DEFAULT_MAP.read_bytes()
    )
    return control_map_apply(rows)
