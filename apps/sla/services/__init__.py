"""Writes to the SLA ledger: policies and their versions, assignments, clocks,
exemptions, waivers and the periodic transitions.

What a person does (policy edits, assignments, waivers, VEX exemptions) is
audit-logged. Opening clocks and the transitions are the system's bookkeeping:
their inputs (findings, mirrors, entitlements) carry their own audit trail.
"""

from .advisories import sla_clocks_follow_findings
from .clocks import (
    sla_clocks_exempt_by_vex,
    sla_clocks_open_for_entitlement,
    sla_clocks_open_for_finding,
    sla_clocks_open_for_mirror,
    sla_clocks_open_for_repositories,
    sla_clocks_resume_for_vex,
    sla_clocks_stop_for_unmirrored,
)
from .ledger import sla_ledger_check_run, sla_ledger_reconcile
from .policies import (
    VERSION_FIELDS,
    PolicyResolution,
    assignment_in_effect,
    default_policy,
    policy_resolution,
    policy_version_in_effect,
    sla_policy_assign,
    sla_policy_create,
    sla_policy_version_create,
    sla_policy_version_update,
)
from .transitions import sla_transitions_run
from .waivers import sla_waiver_approve, sla_waiver_reject, sla_waiver_request

__all__ = [
    "VERSION_FIELDS",
    "PolicyResolution",
    "assignment_in_effect",
    "default_policy",
    "policy_resolution",
    "policy_version_in_effect",
    "sla_clocks_exempt_by_vex",
    "sla_clocks_follow_findings",
    "sla_clocks_open_for_entitlement",
    "sla_clocks_open_for_finding",
    "sla_clocks_open_for_mirror",
    "sla_clocks_open_for_repositories",
    "sla_clocks_resume_for_vex",
    "sla_clocks_stop_for_unmirrored",
    "sla_ledger_check_run",
    "sla_ledger_reconcile",
    "sla_policy_assign",
    "sla_policy_create",
    "sla_policy_version_create",
    "sla_policy_version_update",
    "sla_transitions_run",
    "sla_waiver_approve",
    "sla_waiver_reject",
    "sla_waiver_request",
]
