"""FedRAMP's machine-readable VER reports, written and checked against
FedRAMP's own JSON Schemas (``fedramp_schemas/``, with their provenance):

- Vulnerability Detail Report (VER-RPT-VDT): the non-accepted
  vulnerabilities with activity in a period;
- Accepted Vulnerability Info (VER-RPT-AVI): the accepted ones;
- Historical VER Activity (VER-TFR-MRH): a snapshot of all of them.

Each record is one SLA clock (one vulnerability in one component of one
image the organization mirrors). Its ``providerTrackingId`` is the clock's
(``V-<id>``, as in the POA&M), the same in every report and period.
FedRAMP's schemas allow properties they do not name; the portal adds the
evaluation history, the PAIN reductions, the deadlines and the remediation,
checked against its own schema (``hardened-images-ver-extensions-v1.json``).

Schemas are found by their ``$id`` in that folder, never fetched: FedRAMP's
report schemas name their common definitions as ``<$id>/$defs/<name>`` (a
path, not a JSON Pointer fragment), which resolves here to that definition
of the local copy. Pure functions: nothing here reads the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SCHEMA_DIR = Path(__file__).resolve().parent / "fedramp_schemas"
FEDRAMP = "https://fedramp.gov/schemas/"
COMMON_ID = f"{FEDRAMP}fedramp-common-definitions-schema-2026-06-24.json"
EXTENSIONS_ID = "https://hardened-images.dev/schemas/fedramp-ver-extensions/v1"

VDT = "vdt"
AVI = "avi"
HISTORY = "history"
SCHEMA_IDS = {
    VDT: f"{FEDRAMP}fedramp-vulnerability-detail-report-schema-2026-06-24.json",
    AVI: f"{FEDRAMP}fedramp-accepted-vulnerability-info-schema-2026-06-24.json",
    HISTORY: f"{FEDRAMP}fedramp-historical-ver-activity-schema-2026-06-24.json",
}
TITLES = {
    VDT: "Vulnerability Detail Report (VER-RPT-VDT)",
    AVI: "Accepted Vulnerability Info (VER-RPT-AVI)",
    HISTORY: "Historical VER Activity (VER-TFR-MRH)",
}
# FedRAMP's finalDisposition values; a remediated vulnerability has none.
FINAL_DISPOSITIONS = {
    "fully_mitigated": "Fully Mitigated",
    "false_positive": "False Positive",
}
MESSAGES_KEPT = 20


class VerInvalid(ValueError):
    """A document does not hold to FedRAMP's schema (or the portal's)."""

    def __init__(self, kind: str, problems: list[str]) -> None:
        self.kind = kind
        self.problems = problems
        super().__init__(f"{TITLES[kind]}: {'; '.join(problems[:3])}")


# --- schemas ----------------------------------------------------------------------


@cache
def schemas() -> dict[str, dict[str, Any]]:
    """Every schema in the folder, by its ``$id``."""
    found = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text("utf-8"))
        found[schema["$id"]] = schema
    return found


def retrieve(uri: str) -> dict[str, Any]:
    """A schema by its ``$id``; ``<$id>/$defs/<name>`` is that definition.
    Anything else is refused: nothing is fetched over the network."""
    known = schemas()
    if uri in known:
        return known[uri]
    for schema_id, schema in known.items():
        prefix = f"{schema_id}/$defs/"
        if uri.startswith(prefix) and uri[len(prefix) :] in schema.get("$defs", {}):
            return {
                "$schema": schema["$schema"],
                "$ref": f"{schema_id}#/$defs/{uri[len(prefix) :]}",
            }
    raise ValueError(f"refusing to fetch {uri}: not a schema of this portal")


@cache
def validator(kind: str) -> Any:
    return jsonschema_rs.validator_for(
        schemas()[SCHEMA_IDS[kind]], validate_formats=True, retriever=retrieve
    )


@cache
def _extension_validator() -> Any:
    return jsonschema_rs.validator_for(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"{EXTENSIONS_ID}#/$defs/detail",
        },
        validate_formats=True,
        retriever=retrieve,
    )


def details(kind: str, document: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each vulnerability record of a document, with where it is."""
    if kind == VDT:
        lists = [("vulnerabilities", False)]
    elif kind == AVI:
        lists = [("acceptedVulnerabilities", True)]
    else:
        lists = [("activeVulnerabilities", False), ("acceptedVulnerabilities", True)]
    for name, wrapped in lists:
        items = document.get(name)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if wrapped:
                if isinstance(item, dict):
                    yield (
                        f"/{name}/{i}/vulnerabilityDetail",
                        item.get("vulnerabilityDetail"),
                    )
            else:
                yield f"/{name}/{i}", item


def pointer(parts: Iterable) -> str:
    """A JSON Pointer to where an error points."""
    return "".join(f"/{p}" for p in parts) or "/"


def problems(kind: str, document: dict[str, Any]) -> list[str]:
    """Where and how the document breaks FedRAMP's schema or the portal's
    additions to it; empty when it holds."""
    found = [
        f"{pointer(e.instance_path)}: {e.message}"
        for e in validator(kind).iter_errors(document)
    ]
    extension = _extension_validator()
    for where, detail in details(kind, document):
        if isinstance(detail, dict):
            found.extend(
                f"{where}{pointer(e.instance_path)}: {e.message}"
                for e in extension.iter_errors(detail)
            )
    return found[:MESSAGES_KEPT]


def check(kind: str, document: dict[str, Any]) -> dict[str, Any]:
    """The document, if it holds; else ``VerInvalid`` naming where not."""
    found = problems(kind, document)
    if found:
        raise VerInvalid(kind, found)
    return document


# --- records ----------------------------------------------------------------------


def stamp(value: datetime) -> str:
    """RFC 3339 in UTC, to the second."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class EvaluationRow:
    at: datetime
    rating: int
    internet_reachable: bool
    likely_exploitable: bool
    rating_source: str  # "repository" or "evaluation"
    irv_source: str
    lev_source: str  # "derived" or "evaluation"
    lev_basis: str
    change: str  # "initial", "reduction" or "escalation"
    timeframe: str
    window_ends_at: datetime | None
    by: str = ""
    reason: str = ""


@dataclass(frozen=True)
class VerRecord:
    """One vulnerability, as every VER report states it."""

    tracking_id: str
    vulnerability_ids: tuple[str, ...]
    description: str
    detected_at: datetime
    detection_source: str
    affected_image: str
    affected_component: str
    certification_class: str
    likely_exploitable: bool
    evaluation_due_at: datetime
    evaluated_at: datetime | None = None
    internet_reachable: bool | None = None
    rating: int | None = None
    rating_text: str = ""
    evaluations: tuple[EvaluationRow, ...] = ()
    reductions: tuple[tuple[datetime, int], ...] = ()
    window_ends_at: datetime | None = None
    kev_due_at: datetime | None = None
    due_at: datetime | None = None
    next_reduction: tuple[datetime, int] | None = None
    overdue: bool = False
    explanation: str = ""
    supplementary: str = ""
    disposition: str = ""  # "", "remediated", "false_positive", "fully_mitigated"
    closed_at: datetime | None = None
    closed_reason: str = ""
    accepted_at: datetime | None = None
    acceptance_rationale: str = ""

    @property
    def number(self) -> int:
        return int(self.tracking_id.rsplit("-", 1)[-1])


def _evaluation(row: EvaluationRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "evaluatedAt": stamp(row.at),
        "rating": row.rating,
        "ratingSource": row.rating_source,
        "isInternetReachable": row.internet_reachable,
        "internetReachableSource": row.irv_source,
        "isLikelyExploitable": row.likely_exploitable,
        "likelyExploitableSource": row.lev_source,
        "likelyExploitableBasis": row.lev_basis,
        "change": row.change,
        "timeframe": row.timeframe,
    }
    if row.window_ends_at is not None:
        out["windowEndsAt"] = stamp(row.window_ends_at)
    if row.by:
        out["by"] = row.by
    if row.reason:
        out["reason"] = row.reason
    return out


def vulnerability_detail(record: VerRecord) -> dict[str, Any]:
    """FedRAMP's vulnerabilityDetail (VER-RPT-VDT's eleven items, as they
    apply) with the portal's additions."""
    detail: dict[str, Any] = {
        "providerTrackingId": record.tracking_id,
        "detection": {
            "detectedAt": stamp(record.detected_at),
            "detectionSource": record.detection_source,
        },
        "vulnerabilityDescription": record.description,
        "isLikelyExploitable": record.likely_exploitable,
        "overdueStatus": {
            "isOverdue": record.overdue,
            "explanation": record.explanation,
        },
    }
    if record.evaluated_at is not None:
        detail["evaluationCompletedAt"] = stamp(record.evaluated_at)
    if record.internet_reachable is not None:
        detail["isInternetReachable"] = record.internet_reachable
    if record.rating is not None:
        detail["currentRating"] = record.rating
        detail["potentialAgencyImpact"] = record.rating_text
    if record.next_reduction is not None:
        at, target = record.next_reduction
        detail["projectedNextReduction"] = {
            "estimatedAt": stamp(at),
            "targetRating": target,
        }
    if record.supplementary:
        detail["supplementaryRiskInformation"] = record.supplementary
    if record.disposition in FINAL_DISPOSITIONS:
        detail["finalDisposition"] = FINAL_DISPOSITIONS[record.disposition]
    # The portal's additions.
    detail["vulnerabilityIds"] = list(record.vulnerability_ids)
    detail["affectedImage"] = record.affected_image
    detail["affectedComponent"] = record.affected_component
    detail["certificationClass"] = record.certification_class
    detail["evaluationHistory"] = [_evaluation(e) for e in record.evaluations]
    detail["painReductions"] = [
        {"reducedAt": stamp(at), "rating": rating} for at, rating in record.reductions
    ]
    deadlines = {"evaluationDueAt": stamp(record.evaluation_due_at)}
    for key, value in (
        ("windowEndsAt", record.window_ends_at),
        ("kevDueAt", record.kev_due_at),
        ("dueAt", record.due_at),
    ):
        if value is not None:
            deadlines[key] = stamp(value)
    detail["deadlines"] = deadlines
    if record.accepted_at is not None:
        detail["acceptedAt"] = stamp(record.accepted_at)
    if record.closed_at is not None:
        detail["closedAt"] = stamp(record.closed_at)
        if record.disposition == "remediated":
            detail["remediation"] = {
                "remediatedAt": stamp(record.closed_at),
                "basis": record.closed_reason,
            }
    return detail


def accepted_info(record: VerRecord) -> dict[str, Any]:
    return {
        "vulnerabilityDetail": vulnerability_detail(record),
        "acceptanceRationale": record.acceptance_rationale,
    }


def _ordered(records: Iterable[VerRecord]) -> list[VerRecord]:
    return sorted(records, key=lambda r: r.number)


def vdt_document(
    *,
    package_uri: str,
    start: datetime,
    end: datetime,
    records: Iterable[VerRecord],
) -> dict[str, Any]:
    return check(
        VDT,
        {
            "$schema": SCHEMA_IDS[VDT],
            "certificationPackageOverviewUri": package_uri,
            "reportPeriod": {"from": stamp(start), "to": stamp(end)},
            "vulnerabilities": [vulnerability_detail(r) for r in _ordered(records)],
        },
    )


def avi_document(
    *,
    package_uri: str,
    start: datetime,
    end: datetime,
    records: Iterable[VerRecord],
) -> dict[str, Any]:
    return check(
        AVI,
        {
            "$schema": SCHEMA_IDS[AVI],
            "certificationPackageOverviewUri": package_uri,
            "reportPeriod": {"from": stamp(start), "to": stamp(end)},
            "acceptedVulnerabilities": [accepted_info(r) for r in _ordered(records)],
        },
    )


def history_document(
    *,
    package_uri: str,
    generated_at: datetime,
    active: Iterable[VerRecord],
    accepted: Iterable[VerRecord],
) -> dict[str, Any]:
    return check(
        HISTORY,
        {
            "$schema": SCHEMA_IDS[HISTORY],
            "certificationPackageOverviewUri": package_uri,
            "generatedAt": stamp(generated_at),
            "activeVulnerabilities": [
                vulnerability_detail(r) for r in _ordered(active)
            ],
            "acceptedVulnerabilities": [accepted_info(r) for r in _ordered(accepted)],
        },
    )


def document_bytes(document: dict[str, Any]) -> bytes:
    """The bytes a document is downloaded and bundled as: sorted keys, two
    spaces, UTF-8, a final newline (the same document gives the same bytes)."""
    return (
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    ).encode("utf-8")
