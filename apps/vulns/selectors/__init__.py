"""Reads of vulnerabilities, by concern: ``findings`` (components,
vulnerabilities, findings), ``vex`` (statements in force, documents, exports)
and ``assessment`` (what may be said of a build, on what evidence; its states
in ``assessment_states``).

The reads of findings and VEX that pages, API and staff views share are
exported here.
"""

from .findings import (
    ComponentFilter,
    FindingFilter,
    SeverityCount,
    VulnerabilityFilter,
    component_list,
    digest_component_list,
    digest_finding_list,
    digest_severity_counts,
    finding_list,
    vulnerability_list,
)
from .vex import (
    NoVexStatements,
    StatementSummary,
    VexStatementFilter,
    cyclonedx_vex_export_for_digest,
    digest_vex_statements,
    openvex_export_for_digest,
    openvex_export_for_repository,
    repository_has_vex,
    vex_document_list,
    vex_document_statements,
    vex_document_subjects,
    vex_statement_list,
)

__all__ = [
    "ComponentFilter",
    "FindingFilter",
    "NoVexStatements",
    "SeverityCount",
    "StatementSummary",
    "VexStatementFilter",
    "VulnerabilityFilter",
    "component_list",
    "cyclonedx_vex_export_for_digest",
    "digest_component_list",
    "digest_finding_list",
    "digest_severity_counts",
    "digest_vex_statements",
    "finding_list",
    "openvex_export_for_digest",
    "openvex_export_for_repository",
    "repository_has_vex",
    "vex_document_list",
    "vex_document_statements",
    "vex_document_subjects",
    "vex_statement_list",
    "vulnerability_list",
]
