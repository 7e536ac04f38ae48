"""Which report kind is which OSCAL document: its builder, its OSCAL model
and the name it has in an evidence bundle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..formats import oscal as fmt
from ..models import Report
from .components import oscal_component_definition
from .poam import oscal_poam
from .results import oscal_assessment_results

Kind = Report.Kind


@dataclass(frozen=True)
class OscalKind:
    model: str  # the OSCAL root key: plan-of-action-and-milestones, ...
    build: Callable[[Report], bytes]
    bundle_path: str


OSCAL_KINDS: dict[str, OscalKind] = {
    Kind.OSCAL_POAM: OscalKind(fmt.POAM, oscal_poam, "oscal/poam.json"),
    Kind.OSCAL_RESULTS: OscalKind(
        fmt.ASSESSMENT_RESULTS,
        oscal_assessment_results,
        "oscal/assessment-results.json",
    ),
    Kind.OSCAL_COMPONENTS: OscalKind(
        fmt.COMPONENT_DEFINITION,
        oscal_component_definition,
        "oscal/component-definition.json",
    ),
}


def oscal_document(report: Report, kind: str | None = None) -> bytes:
    """The OSCAL document of ``kind`` (the report's own by default) for the
    report's organization, window and cut-off."""
    return OSCAL_KINDS[kind or report.kind].build(report)


def oscal_bundle_documents(report: Report) -> list[tuple[str, bytes]]:
    """The OSCAL documents an evidence bundle carries, by path: all three,
    but the POA&M only when a clock was running at the cut-off (OSCAL has no
    POA&M without an item)."""
    documents = []
    for kind in OSCAL_KINDS.values():
        try:
            documents.append((kind.bundle_path, kind.build(report)))
        except fmt.OscalEmpty:
            continue
    return documents
