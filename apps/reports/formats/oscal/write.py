"""The OSCAL 1.1.2 writers: plain data (``data``) into compliance-trestle's
models, serialized, and parsed back (``read``) before the bytes are returned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from trestle.oscal import OSCAL_VERSION, common
from trestle.oscal import assessment_results as ar
from trestle.oscal import component as cd
from trestle.oscal import poam as pm

from .data import (
    ASSESSMENT_RESULTS,
    COMPONENT_DEFINITION,
    CVE_SYSTEM,
    EVIDENCE_STATES,
    FEDRAMP_NS,
    NIST_800_53_REV5,
    NS,
    POAM,
    Build,
    DefinedComponent,
    Family,
    Head,
    Item,
    Milestone,
    OscalEmpty,
    OscalInvalid,
    Party,
    Requirement,
    Results,
    Tool,
)
from .read import oscal_read

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
                ("cve-id", item.cve_id if item.cve_id != item.vuln_id else ""),
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
