"""Reads of the control map, for its page and for reports."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from .models import Control, ControlEvidence


def control_map() -> QuerySet[Control]:
    """Every control in map order, with its evidence (two queries)."""
    return Control.objects.prefetch_related(
        Prefetch("evidence", queryset=ControlEvidence.objects.order_by("kind"))
    ).order_by("position", "framework", "control_id")


def controls_supported_by(kinds: set[str]) -> list[Control]:
    """The controls at least one of ``kinds`` of evidence supports, each with
    only those kinds' rows in ``supported``."""
    rows = []
    for control in control_map():
        supported = [e for e in control.evidence.all() if e.kind in kinds]
        if supported:
            control.supported = supported  # type: ignore[attr-defined]
            rows.append(control)
    return rows
