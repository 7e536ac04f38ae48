"""A report's evidence document: the header every kind shares, the sections of
its kind, and the canonical JSON bytes that are embedded, stored and hashed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..links import verify_url
from ..models import Report
from .common import Progress, day, ts
from .compliance import org_compliance_evidence
from .dossier import image_dossier_evidence
from .performance import sla_performance_evidence

SCHEMA = "https://hardened-images.dev/schemas/report-evidence/v1"


def canonical_json(evidence: dict) -> bytes:
    """Sorted keys, compact separators, UTF-8, a final newline."""
    return (
        json.dumps(
            evidence,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        + "\n"
    ).encode("utf-8")


def _noop(percent: int, stage: str) -> None:
    return None


def _header(report: Report) -> dict[str, Any]:
    header: dict[str, Any] = {
        "id": str(report.public_id),
        "kind": report.kind,
        "title": report.get_kind_display(),
        "data_cutoff": ts(report.data_cutoff),
        "verify_url": verify_url(report),
        "window": None,
    }
    if report.window_start and report.window_end:
        header["window"] = {
            "start": day(report.window_start),
            "end": day(report.window_end),
        }
    return header


def build_evidence(report: Report, *, progress: Progress | None = None) -> dict:
    """The evidence of one report, by its kind, as JSON-ready data."""
    progress = progress or _noop
    builders: dict[str, Callable[[Report, Progress], dict[str, Any]]] = {
        Report.Kind.ORG_COMPLIANCE: org_compliance_evidence,
        Report.Kind.IMAGE_DOSSIER: image_dossier_evidence,
        Report.Kind.SLA_PERFORMANCE: sla_performance_evidence,
    }
    builder = builders.get(report.kind)
    if builder is None:
        raise ValueError(f"No evidence for reports of kind {report.kind!r}.")
    progress(1, "Reading the evidence")
    evidence = {"schema": SCHEMA, "report": _header(report)}
    evidence.update(builder(report, progress))
    return evidence
