"""OSCAL 1.1.2 documents read back with compliance-trestle's models, and what
the checks need of them (their UUIDs, references and SLA clocks)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic.v1 import ValidationError
from trestle.common.err import TrestleError
from trestle.oscal import OSCAL_VERSION
from trestle.oscal import assessment_results as ar
from trestle.oscal import component as cd
from trestle.oscal import poam as pm

from .data import (
    ASSESSMENT_RESULTS,
    COMPONENT_DEFINITION,
    NS,
    POAM,
    OscalInvalid,
)

_MODELS: dict[str, Any] = {
    POAM: pm.PlanOfActionAndMilestones,
    ASSESSMENT_RESULTS: ar.AssessmentResults,
    COMPONENT_DEFINITION: cd.ComponentDefinition,
}


def oscal_read(content: bytes, kind: str) -> Any:
    """Parse ``content`` as an OSCAL document of ``kind`` (``POAM``,
    ``ASSESSMENT_RESULTS``, ``COMPONENT_DEFINITION``) with trestle's model;
    ``OscalInvalid`` names what is wrong."""
    model = _MODELS.get(kind)
    if model is None:
        raise OscalInvalid(f"Unknown OSCAL document kind {kind!r}.")
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise OscalInvalid(f"Not JSON: {exc}.") from exc
    if not isinstance(document, dict) or list(document) != [kind]:
        raise OscalInvalid(
            f"An OSCAL {kind} document has the one top-level key {kind}."
        )
    try:
        parsed = model.parse_obj(document[kind])
    except (ValidationError, TrestleError) as exc:
        raise OscalInvalid(f"Not a valid OSCAL {kind}: {exc}") from exc
    version = parsed.metadata.oscal_version.__root__
    if version != OSCAL_VERSION:
        raise OscalInvalid(f"OSCAL version {version}, not {OSCAL_VERSION}.")
    return parsed


@dataclass
class Summary:
    """What the checks read of a document: its ids and references."""

    kind: str
    uuids: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    clock_ids: list[int] = field(default_factory=list)


def _walk(value: Any, summary: Summary) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "uuid" and isinstance(inner, str):
                summary.uuids.append(inner)
            elif key in (
                "observation-uuid",
                "risk-uuid",
                "subject-uuid",
                "component-uuid",
                "actor-uuid",
            ) and isinstance(inner, str):
                summary.references.append(inner)
            else:
                _walk(inner, summary)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, summary)


def oscal_summary(content: bytes, kind: str) -> Summary:
    """Parse ``content`` (``oscal_read``) and list its UUIDs, the UUIDs its
    references name, and the SLA clock each POA&M item or finding is for."""
    parsed = oscal_read(content, kind)
    body = json.loads(content)[kind]
    summary = Summary(kind=kind)
    _walk(body, summary)
    holders: list[Any] = []
    if kind == POAM:
        holders = list(parsed.poam_items or [])
    elif kind == ASSESSMENT_RESULTS:
        holders = [f for r in parsed.results for f in (r.findings or [])]
    for holder in holders:
        for prop in holder.props or []:
            if prop.name == "sla-clock" and str(prop.ns or "") == NS:
                summary.clock_ids.append(int(prop.value))
    return summary
