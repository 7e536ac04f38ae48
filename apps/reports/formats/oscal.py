"""OSCAL 1.1.2 JSON: a Plan of Action and Milestones, Assessment Results and a
Component Definition, built with compliance-trestle's models of OSCAL 1.1.2
and read back with them.

Plain data in (the dataclasses below), bytes out; no database. Each writer
builds the document from trestle's pydantic models, serializes it, parses the
bytes back with the model of its kind and serializes that again: a document
that does not survive the round trip unchanged is never returned
(``OscalInvalid``). ``oscal_read`` is the same parse for bytes from anywhere.

Identity: OSCAL asks that a UUID name the same subject across revisions of a
document. Every UUID here is given by the caller, who derives it with
``oscal_uuid`` (a version 5 UUID of a namespace and the subject's own ids), so
the same data gives the same UUIDs, and so the same bytes: timestamps are the
caller's (a report's data cut-off), never the clock's.

Where the FedRAMP OSCAL POA&M guide defines an extension (``POAM-ID``,
``impacted-control-id``, ``vendor-dependency``, ``kev-catalog``,
``kev-due-date``), it is used in FedRAMP's namespace; the portal's own facts
(the SLA clock, its policy, CVSS vectors) are properties in ``NS``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic.v1 import ValidationError
from trestle.common.err import TrestleError
from trestle.oscal import OSCAL_VERSION, common
from trestle.oscal import assessment_results as ar
from trestle.oscal import component as cd
from trestle.oscal import poam as pm

MEDIA_TYPE = "application/json"
# The portal's namespace for properties and facets OSCAL and FedRAMP do not define.
NS = "https://hardened-images.dev/ns/oscal"
FEDRAMP_NS = "https://fedramp.gov/ns/oscal"
CVE_SYSTEM = "http://cve.mitre.org"
NIST_800_53_REV5 = (
    "https://raw.githubusercontent.com/usnistgov/oscal-content/main/nist.gov/"
    "SP800-53/rev5/json/NIST_SP-800-53_rev5_catalog.json"
)

EVIDENCE_STATES = ("assessed", "partial", "not-assessed")

POAM = "plan-of-action-and-milestones"
ASSESSMENT_RESULTS = "assessment-results"
COMPONENT_DEFINITION = "component-definition"
_MODELS: dict[str, Any] = {
    POAM: pm.PlanOfActionAndMilestones,
    ASSESSMENT_RESULTS: ar.AssessmentResults,
    COMPONENT_DEFINITION: cd.ComponentDefinition,
}

__all__ = [
    "ASSESSMENT_RESULTS",
    "COMPONENT_DEFINITION",
    "OSCAL_VERSION",
    "POAM",
    "Build",
    "DefinedComponent",
    "Family",
    "Head",
    "Item",
    "LogEntry",
    "Milestone",
    "OscalEmpty",
    "OscalInvalid",
    "Party",
    "Requirement",
    "Results",
    "Tool",
    "assessment_results_json",
    "component_definition_json",
    "oscal_read",
    "oscal_uuid",
    "poam_json",
]


class OscalInvalid(ValueError):
    """The bytes are not a valid OSCAL 1.1.2 document of the kind expected."""


class OscalEmpty(OscalInvalid):
    """The document would have nothing OSCAL requires at least one of (a
    POA&M's items): there is no such document to make."""


def oscal_uuid(namespace: uuid.UUID, *parts: object) -> str:
    """A version 5 UUID naming one subject: the same parts, the same UUID."""
    return str(uuid.uuid5(namespace, "/".join(str(p) for p in parts)))


# --- plain data in ---------------------------------------------------------------

Props = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Party:
    uuid: str
    name: str
    href: str = ""


@dataclass(frozen=True)
class Head:
    """The document: its UUID (per subject), title, version and parties."""

    uuid: str
    title: str
    last_modified: datetime
    version: str
    publisher: Party
    customer: Party
    props: Props = ()
    remarks: str = ""


@dataclass(frozen=True)
class Tool:
    """What found the findings: a component and the platform that runs it."""

    uuid: str
    platform_uuid: str
    title: str
    description: str


@dataclass(frozen=True)
class Family:
    """An image family (a catalog repository): a software component."""

    uuid: str
    name: str
    title: str
    description: str
    href: str


@dataclass(frozen=True)
class Build:
    """One image digest of a family: an inventory item."""

    uuid: str
    family_uuid: str
    digest: str
    image: str
    href: str


@dataclass(frozen=True)
class Milestone:
    uuid: str
    title: str
    description: str
    on: datetime


@dataclass(frozen=True)
class LogEntry:
    uuid: str
    title: str
    description: str
    start: datetime
    status_change: str = ""


@dataclass(frozen=True)
class Item:
    """One SLA clock: the finding observed, its risk, and its remediation."""

    clock_id: int
    observation_uuid: str
    risk_uuid: str
    item_uuid: str
    recommendation_uuid: str
    plan_uuid: str
    title: str
    description: str
    statement: str
    vuln_id: str
    cve_id: str
    severity: str
    risk_rating: str
    status: str
    deadline: datetime
    detected_at: datetime
    detection_source: str
    package_url: str
    family_uuid: str
    build_uuid: str
    build_title: str
    evidence_href: str
    evidence_description: str
    recommendation: str
    plan: str
    plan_lifecycle: str = "planned"
    controls: tuple[str, ...] = ("ra-5", "si-2")
    kev: bool = False
    kev_due: date | None = None
    cvss_v3_vector: str = ""
    milestones: tuple[Milestone, ...] = ()
    log: tuple[LogEntry, ...] = ()
    # The portal's facts about the clock and the finding, in NS.
    props: Props = ()
    # Assessment Results only: SI-2(c) met (satisfied) or not, or not decided.
    objective_status: str = ""
    objective_remarks: str = ""


@dataclass(frozen=True)
class Results:
    """One set of results of Assessment Results: its window and controls."""

    uuid: str
    title: str
    description: str
    start: datetime
    end: datetime
    controls: tuple[str, ...]
    remarks: str = ""


@dataclass(frozen=True)
class Requirement:
    """How one component stands on one control, said from the evidence only."""

    uuid: str
    control_id: str
    description: str
    # What the evidence allows: "assessed", "partial" or "not-assessed".
    evidence: str
    props: Props = ()
    remarks: str = ""


@dataclass(frozen=True)
class DefinedComponent:
    uuid: str
    implementation_uuid: str
    name: str
    title: str
    description: str
    href: str
    requirements: tuple[Requirement, ...]
    props: Props = ()


# --- model pieces ----------------------------------------------------------------


def _one_line(value: object) -> str:
    """A property, facet or party value: one line, trimmed (OSCAL's string)."""
    return " ".join(str(value).split())


def _prop(name: str, value: object, ns: str = NS) -> common.Property | None:
    text = _one_line(value)
    if not text:
        return None
    return common.Property(name=name, value=text, ns=ns)


def _props(pairs: Iterable[tuple[str, object]], ns: str = NS) -> list:
    found = [_prop(name, value, ns) for name, value in pairs]
    return [p for p in found if p is not None]


def _text(value: str, default: str) -> str:
    value = (value or "").strip()
    return value or default


def _metadata(head: Head) -> common.Metadata:
    parties = [
        common.Party(
            uuid=p.uuid,
            type=common.PartyTypeValidValues.organization,
            name=_one_line(p.name),
            links=[common.Link(href=p.href)] if p.href else None,
        )
        for p in (head.publisher, head.customer)
    ]
    return common.Metadata(
        title=head.title,
        last_modified=head.last_modified,
        version=_one_line(head.version),
        oscal_version=common.OscalVersion(__root__=OSCAL_VERSION),
        props=_props(head.props) or None,
        roles=[
            common.Role(id="prepared-by", title="Prepared By"),
            common.Role(id="prepared-for", title="Prepared For"),
        ],
        parties=parties,
        responsible_parties=[
            common.ResponsibleParty(
                role_id="prepared-by", party_uuids=[head.publisher.uuid]
            ),
            common.ResponsibleParty(
                role_id="prepared-for", party_uuids=[head.customer.uuid]
            ),
        ],
        remarks=head.remarks or None,
    )


def _tool_actor(tool: Tool, **extra: Any) -> common.OriginActor:
    return common.OriginActor(
        type=common.OriginActorValidValues.tool, actor_uuid=tool.uuid, **extra
    )


def _tool_origin(tool: Tool) -> common.Origin:
    return common.Origin(actors=[_tool_actor(tool)])


def _assets(tool: Tool) -> common.AssessmentAssets:
    return common.AssessmentAssets(
        components=[
            common.SystemComponent(
                uuid=tool.uuid,
                type=common.SystemComponentTypeValidValues.software,
                title=tool.title,
                description=tool.description,
                status=common.Status(
                    state=common.SystemComponentOperationalStateValidValues.operational
                ),
            )
        ],
        assessment_platforms=[
            common.AssessmentPlatform(
                uuid=tool.platform_uuid,
                title=tool.title,
                uses_components=[common.UsesComponent(component_uuid=tool.uuid)],
            )
        ],
    )


def _families(families: Sequence[Family]) -> list[common.SystemComponent]:
    return [
        common.SystemComponent(
            uuid=f.uuid,
            type=common.SystemComponentTypeValidValues.software,
            title=f.title,
            description=_text(f.description, f"The {f.name} container image family."),
            props=_props([("image-family", f.name)]),
            links=[common.Link(href=f.href, rel="reference")],
            status=common.Status(
                state=common.SystemComponentOperationalStateValidValues.operational
            ),
        )
        for f in families
    ]


def _builds(builds: Sequence[Build]) -> list[common.InventoryItem]:
    return [
        common.InventoryItem(
            uuid=b.uuid,
            description=f"The container image {b.image} at {b.digest}.",
            props=_props([("image", b.image), ("image-digest", b.digest)]),
            links=[common.Link(href=b.href, rel="reference")],
            implemented_components=[
                common.ImplementedComponent(component_uuid=b.family_uuid)
            ],
        )
        for b in builds
    ]


def _observation(item: Item, tool: Tool) -> common.Observation:
    return common.Observation(
        uuid=item.observation_uuid,
        title=item.title,
        description=_text(item.description, f"{item.vuln_id} was found."),
        props=_props(
            [
                ("vulnerability-id", item.vuln_id),
                ("package-url", item.package_url),
                ("detection-source", item.detection_source),
            ]
        ),
        methods=[common.Methods.TEST],
        types=[common.ObservationTypeValidValues.finding],
        origins=[_tool_origin(tool)],
        subjects=[
            common.SubjectReference(
                subject_uuid=item.build_uuid,
                type=common.SubjectReferenceValidValues.inventory_item,
                title=item.build_title,
            ),
            common.SubjectReference(
                subject_uuid=item.family_uuid,
                type=common.SubjectReferenceValidValues.component,
            ),
        ],
        relevant_evidence=[
            common.RelevantEvidence(
                href=item.evidence_href, description=item.evidence_description
            )
        ],
        collected=item.detected_at,
    )


def cvss_metrics(vector: str) -> tuple[str, list[tuple[str, str]]]:
    """The FIRST naming system of a CVSS v3 vector and its metrics in order:
    ``CVSS:3.1/AV:N/...`` -> (``http://www.first.org/cvss/v3.1``, [(AV, N)...])."""
    parts = [p for p in vector.strip().split("/") if p]
    if not parts or not parts[0].startswith("CVSS:3."):
        return "", []
    system = f"http://www.first.org/cvss/v{parts[0].removeprefix('CVSS:')}"
    metrics = []
    for part in parts[1:]:
        name, sep, value = part.partition(":")
        if sep and name and value:
            metrics.append((name, value))
    return system, metrics


def _characterization(item: Item, tool: Tool) -> common.Characterization:
    facets = []
    if item.cve_id:
        facets.append(
            common.Facet(name="vulnerability-id", system=CVE_SYSTEM, value=item.cve_id)
        )
    facets.append(common.Facet(name="severity", system=NS, value=item.severity))
    facets.append(common.Facet(name="risk-rating", system=NS, value=item.risk_rating))
    system, metrics = cvss_metrics(item.cvss_v3_vector)
    facets += [
        common.Facet(name=name, system=system, value=value) for name, value in metrics
    ]
    actor = _tool_actor(
        tool, props=_props([("vulnerability-id", item.vuln_id)], FEDRAMP_NS)
    )
    return common.Characterization(origin=common.Origin(actors=[actor]), facets=facets)


def _milestone(m: Milestone) -> common.Task:
    return common.Task(
        uuid=m.uuid,
        type=common.TaskValidValues.milestone,
        title=m.title,
        description=m.description or None,
        timing=common.Timing(on_date=common.OnDate(date=m.on)),
    )


def _risk(item: Item, tool: Tool, publisher: Party) -> common.Risk:
    fedramp = [("impacted-control-id", c) for c in item.controls]
    if item.status in ("open", "investigating", "remediating", "deviation-requested"):
        fedramp.append(("vendor-dependency", "tracking"))
    else:
        fedramp.append(("vendor-dependency", "resolved"))
    if item.kev:
        fedramp.append(("kev-catalog", "yes"))
    if item.kev_due is not None:
        fedramp.append(("kev-due-date", item.kev_due.isoformat()))
    party = common.Origin(
        actors=[
            common.OriginActor(
                type=common.OriginActorValidValues.party, actor_uuid=publisher.uuid
            )
        ]
    )
    log = [
        common.Entry(
            uuid=e.uuid,
            title=e.title,
            description=e.description or None,
            start=e.start,
            status_change=common.RiskStatus(__root__=e.status_change)
            if e.status_change
            else None,
        )
        for e in item.log
    ]
    return common.Risk(
        uuid=item.risk_uuid,
        title=item.title,
        description=_text(item.description, f"{item.vuln_id} was found."),
        statement=_text(item.statement, "No risk statement."),
        props=_props(fedramp, FEDRAMP_NS) + _props(item.props),
        status=common.RiskStatus(__root__=item.status),
        origins=[_tool_origin(tool)],
        characterizations=[_characterization(item, tool)],
        deadline=item.deadline,
        remediations=[
            common.Response(
                uuid=item.recommendation_uuid,
                lifecycle=common.Lifecycle.recommendation,
                title="Recommended remediation",
                description=item.recommendation,
                origins=[_tool_origin(tool)],
            ),
            common.Response(
                uuid=item.plan_uuid,
                lifecycle=item.plan_lifecycle,
                title="Publisher's remediation plan",
                description=item.plan,
                origins=[party],
                tasks=[_milestone(m) for m in item.milestones] or None,
            ),
        ],
        risk_log=common.RiskLog(entries=log) if log else None,
        related_observations=[
            common.RelatedObservation(observation_uuid=item.observation_uuid)
        ],
    )


def _clock_props(item: Item) -> list[common.Property]:
    return _props([("sla-clock", item.clock_id)])


# --- serialization -----------------------------------------------------------------


def _serialized(model: Any, kind: str) -> bytes:
    """The document's bytes, once it survives a parse back unchanged."""
    content = model.oscal_serialize_json_bytes(pretty=True) + b"\n"
    again = oscal_read(content, kind)
    if again.oscal_serialize_json_bytes(pretty=True) + b"\n" != content:
        raise OscalInvalid(f"The {kind} does not survive a parse back unchanged.")
    return content


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


# --- the documents ------------------------------------------------------------------


def poam_json(
    *,
    head: Head,
    tool: Tool,
    families: Sequence[Family],
    builds: Sequence[Build],
    items: Sequence[Item],
    ssp_href: str,
    ssp_remarks: str,
) -> bytes:
    """A POA&M: one poam-item per item, each with its observation and risk
    (milestones in the risk's planned remediation). OSCAL requires at least
    one poam-item: without items this raises ``OscalEmpty``."""
    if not items:
        raise OscalEmpty(
            "No POA&M item: OSCAL 1.1.2 requires at least one, and no SLA clock "
            "was running at the data cut-off."
        )
    document = pm.PlanOfActionAndMilestones(
        uuid=head.uuid,
        metadata=_metadata(head),
        import_ssp=common.ImportSsp(href=ssp_href, remarks=ssp_remarks),
        local_definitions=pm.LocalDefinitions(
            components=_families(families) or None,
            inventory_items=_builds(builds) or None,
            assessment_assets=_assets(tool),
        ),
        observations=[_observation(i, tool) for i in items] or None,
        risks=[_risk(i, tool, head.publisher) for i in items] or None,
        poam_items=[
            pm.PoamItem(
                uuid=i.item_uuid,
                title=i.title,
                description=_text(i.statement, i.title),
                props=_props([("POAM-ID", f"V-{i.clock_id}")], FEDRAMP_NS)
                + _clock_props(i),
                related_observations=[
                    common.RelatedObservation(observation_uuid=i.observation_uuid)
                ],
                related_risks=[common.RelatedRisk(risk_uuid=i.risk_uuid)],
            )
            for i in items
        ],
    )
    return _serialized(document, POAM)


def _finding(item: Item, tool: Tool) -> common.Finding:
    status = None
    if item.objective_status:
        satisfied = item.objective_status == "satisfied"
        status = common.ObjectiveStatus(
            state=common.ObjectiveStatusStateValidValues(item.objective_status),
            reason=common.Reason.pass_ if satisfied else common.Reason.fail,
        )
    return common.Finding(
        uuid=item.item_uuid,
        title=item.title,
        description=_text(item.statement, item.title),
        props=_clock_props(item),
        origins=[_tool_origin(tool)],
        target=common.FindingTarget(
            type=common.FindingTargetTypeValidValues.statement_id,
            target_id="si-2_smt.c",
            title="SI-2(c): security-relevant updates installed in time",
            status=status,
            remarks=item.objective_remarks or None,
        ),
        related_observations=[
            common.RelatedObservation(observation_uuid=item.observation_uuid)
        ],
        related_risks=[common.RelatedRisk(risk_uuid=item.risk_uuid)],
    )


def assessment_results_json(
    *,
    head: Head,
    tool: Tool,
    families: Sequence[Family],
    builds: Sequence[Build],
    items: Sequence[Item],
    results: Results,
    ap_href: str,
    ap_remarks: str,
) -> bytes:
    """Assessment Results: one set of results for the window, a finding,
    an observation and a risk per item."""
    document = ar.AssessmentResults(
        uuid=head.uuid,
        metadata=_metadata(head),
        import_ap=ar.ImportAp(href=ap_href, remarks=ap_remarks),
        results=[
            ar.Result(
                uuid=results.uuid,
                title=results.title,
                description=results.description,
                start=results.start,
                end=results.end,
                local_definitions=ar.LocalDefinitions1(
                    components=_families(families) or None,
                    inventory_items=_builds(builds) or None,
                    assessment_assets=_assets(tool),
                ),
                reviewed_controls=common.ReviewedControls(
                    control_selections=[
                        common.ControlSelection(
                            include_controls=[
                                common.SelectControlById(control_id=c)
                                for c in results.controls
                            ]
                        )
                    ]
                ),
                observations=[_observation(i, tool) for i in items] or None,
                risks=[_risk(i, tool, head.publisher) for i in items] or None,
                findings=[_finding(i, tool) for i in items] or None,
                remarks=results.remarks or None,
            )
        ],
    )
    return _serialized(document, ASSESSMENT_RESULTS)


def _requirement(r: Requirement) -> cd.ImplementedRequirement:
    if r.evidence not in EVIDENCE_STATES:
        raise OscalInvalid(f"Unknown evidence state {r.evidence!r}.")
    return cd.ImplementedRequirement(
        uuid=r.uuid,
        control_id=r.control_id,
        description=r.description,
        props=_props([("evidence", r.evidence), *r.props]),
        remarks=r.remarks or None,
    )


def component_definition_json(
    *, head: Head, components: Sequence[DefinedComponent], source: str = ""
) -> bytes:
    """A Component Definition: each component with one set of control
    implementations against ``source`` (NIST SP 800-53 Rev. 5 by default)."""
    document = cd.ComponentDefinition(
        uuid=head.uuid,
        metadata=_metadata(head),
        components=[
            cd.DefinedComponent(
                uuid=c.uuid,
                type="software",
                title=c.title,
                description=_text(c.description, f"The {c.name} container images."),
                props=_props([("image-family", c.name), *c.props]),
                links=[common.Link(href=c.href, rel="reference")],
                control_implementations=[
                    cd.ControlImplementation(
                        uuid=c.implementation_uuid,
                        source=source or NIST_800_53_REV5,
                        description=(
                            f"What the publisher's evidence shows for {c.title}."
                        ),
                        implemented_requirements=[
                            _requirement(r) for r in c.requirements
                        ],
                    )
                ],
            )
            for c in components
        ]
        or None,
    )
    return _serialized(document, COMPONENT_DEFINITION)


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
