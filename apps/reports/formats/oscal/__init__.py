"""OSCAL 1.1.2 JSON: a Plan of Action and Milestones, Assessment Results and a
Component Definition, built with compliance-trestle's models of OSCAL 1.1.2
and read back with them.

Plain data in (the dataclasses of ``data``), bytes out; no database. Each writer
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

from trestle.oscal import OSCAL_VERSION

from .data import (
    ASSESSMENT_RESULTS,
    COMPONENT_DEFINITION,
    CVE_SYSTEM,
    EVIDENCE_STATES,
    FEDRAMP_NS,
    MEDIA_TYPE,
    NIST_800_53_REV5,
    NS,
    POAM,
    Build,
    DefinedComponent,
    Family,
    Head,
    Item,
    LogEntry,
    Milestone,
    OscalEmpty,
    OscalInvalid,
    Party,
    Props,
    Requirement,
    Results,
    Tool,
    oscal_uuid,
)
from .read import Summary, oscal_read, oscal_summary
from .write import (
    assessment_results_json,
    component_definition_json,
    cvss_metrics,
    poam_json,
)

__all__ = [
    "ASSESSMENT_RESULTS",
    "COMPONENT_DEFINITION",
    "CVE_SYSTEM",
    "EVIDENCE_STATES",
    "FEDRAMP_NS",
    "MEDIA_TYPE",
    "NIST_800_53_REV5",
    "NS",
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
    "Props",
    "Requirement",
    "Results",
    "Summary",
    "Tool",
    "assessment_results_json",
    "component_definition_json",
    "cvss_metrics",
    "oscal_read",
    "oscal_summary",
    "oscal_uuid",
    "poam_json",
]
