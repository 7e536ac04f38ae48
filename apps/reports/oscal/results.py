"""The organization's Assessment Results for a report's window: the clocks
that ran during it (the compliance report's appendix, chosen by the same
query) as findings against SI-2(c), each with its observation and risk, in one
set of results spanning the window."""

from __future__ import annotations

from django.conf import settings

from ..evidence.common import window_bounds
from ..evidence.ledger import clocks_in_window
from ..formats import oscal as fmt
from ..models import Report
from . import common

AP_REMARKS = (
    "Replace this href with the location of the assessment plan these results "
    "belong to: {placeholder} is a placeholder. The results are the "
    "publisher's continuous monitoring of the container images this "
    "organization mirrors: every SLA clock that ran during the window."
)


def oscal_assessment_results(report: Report) -> bytes:
    """Assessment Results for the report's window, states as of its cut-off."""
    org = common.report_org(report)
    cutoff = report.data_cutoff
    start, end = window_bounds(report)
    items, families, builds = common.items_and_subjects(
        clocks_in_window(org, start, end), cutoff=cutoff, item_kind="finding"
    )
    window = f"{report.window_start} to {report.window_end}"
    subject = f"org/{org.pk}/window/{report.window_start}/{report.window_end}"
    head = common.head(
        report,
        kind="assessment-results",
        title=f"Assessment Results: {org.name}, {window}",
        subject=subject,
        remarks=(
            f"What {settings.SITE_NAME}'s SLA ledger shows of the images "
            f"{org.name} mirrors for the window {window}."
        ),
    )
    results = fmt.Results(
        uuid=common.identity("results", subject),
        title=f"SLA ledger, {window}",
        description=(
            "Every SLA clock that ran during the window: a vulnerability the "
            "SBOM matching found in a mirrored image, and whether the publisher "
            "shipped a fixed image by the deadline (SI-2(c)). States are as of "
            "the data cut-off."
        ),
        start=start,
        end=end,
        controls=common.CONTROLS,
    )
    return fmt.assessment_results_json(
        head=head,
        tool=common.tool(),
        families=families,
        builds=builds,
        items=common.sorted_items(items),
        results=results,
        ap_href=common.AP_PLACEHOLDER,
        ap_remarks=AP_REMARKS.format(placeholder=common.AP_PLACEHOLDER),
    )
