"""What a STIG results document says, independent of its format.

The XCCDF/ARF reader and the STIG Viewer checklist readers all return a
``ParsedScan``; the importer stores it as a ``StigScan`` with its rule results,
and the checklist writers take one built from a stored scan.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from apps.catalog.formats.subject import NOT_STATED, StatedSubject

# XCCDF severity -> DISA category.
SEVERITY_CAT = {"high": 1, "medium": 2, "low": 3}

# XCCDF rule result -> STIG Viewer status, and back.
RESULT_STATUS = {
    "pass": "NotAFinding",
    "fixed": "NotAFinding",
    "fail": "Open",
    "notapplicable": "Not_Applicable",
}
STATUS_NOT_REVIEWED = "Not_Reviewed"
STATUS_RESULT = {
    "NotAFinding": "pass",
    "Open": "fail",
    "Not_Applicable": "notapplicable",
    "Not_Reviewed": "notchecked",
}


def status_for(result: str) -> str:
    """The STIG Viewer status of an XCCDF result (error, notchecked and the
    rest were not reviewed)."""
    return RESULT_STATUS.get(result, STATUS_NOT_REVIEWED)


@dataclasses.dataclass
class ParsedRule:
    rule_id: str  # e.g. SV-230221r858734_rule (XCCDF prefixes stripped)
    result: str  # one of StigRuleResult.Result values
    severity: str  # high, medium, low or unknown
    vuln_id: str = ""  # V-230221
    stig_id: str = ""  # RHEL-08-010000
    title: str = ""
    description: str = ""
    check_text: str = ""
    fix_text: str = ""
    finding_details: str = ""
    comments: str = ""
    ccis: list[str] = dataclasses.field(default_factory=list)
    weight: Decimal | None = None

    @property
    def cat(self) -> int | None:
        return SEVERITY_CAT.get(self.severity)


@dataclasses.dataclass
class ParsedScan:
    source_format: str  # xccdf, arf, ckl, cklb
    benchmark_id: str
    benchmark_title: str = ""
    benchmark_version: str = ""
    release_info: str = ""
    profile_id: str = ""
    profile_title: str = ""
    scanner: str = ""
    target: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    score: Decimal | None = None
    score_max: Decimal | None = None
    score_system: str = ""
    rules: list[ParsedRule] = dataclasses.field(default_factory=list)
    # The image the scan says it was run on, where its target names a digest.
    subject: StatedSubject = NOT_STATED
