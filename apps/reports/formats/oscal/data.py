"""The plain data the OSCAL writers take, the names and namespaces they use,
and how a subject's UUID is made."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

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
