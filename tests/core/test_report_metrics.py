"""portal_report_duration_seconds: one observation per claimed report attempt,
labelled by kind and outcome."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from apps.reports.models import Report
from apps.reports.services import pipeline
from tests.reports.test_lifecycle import (  # noqa: F401
    FakeViolation,
    fakes,
    make_report,
)

Kind = Report.Kind


def observed(kind: str, outcome: str) -> float:
    labels = {"kind": kind, "outcome": outcome}
    count = REGISTRY.get_sample_value("portal_report_duration_seconds_count", labels)
    return count or 0.0


@pytest.mark.django_db
def test_a_built_report_is_observed_as_ready(org, owner, fakes):  # noqa: F811
    report = make_report(org, owner.user, kind=Kind.ORG_COMPLIANCE)
    before = observed(Kind.ORG_COMPLIANCE, "ready")
    report = pipeline.report_run(report_id=report.pk)
    assert report.status == Report.Status.READY
    assert observed(Kind.ORG_COMPLIANCE, "ready") == before + 1
    total = REGISTRY.get_sample_value(
        "portal_report_duration_seconds_sum",
        {"kind": Kind.ORG_COMPLIANCE, "outcome": "ready"},
    )
    assert total is not None
    assert total > 0


@pytest.mark.django_db
def test_a_failed_attempt_and_a_failed_check_are_observed_apart(org, owner, fakes):  # noqa: F811
    fakes.fail_times = 1
    report = make_report(org, owner.user, kind=Kind.ORG_COMPLIANCE)
    failed, ready = (
        observed(Kind.ORG_COMPLIANCE, "failed"),
        observed(Kind.ORG_COMPLIANCE, "ready"),
    )
    pipeline.report_run(report_id=report.pk)
    assert observed(Kind.ORG_COMPLIANCE, "failed") == failed + 1
    assert observed(Kind.ORG_COMPLIANCE, "ready") == ready

    fakes.violations = [FakeViolation("mirrors_cover_sections", "r", "Missing.")]
    checked = observed(Kind.ORG_COMPLIANCE, "check_failed")
    pipeline.report_run(report_id=report.pk)
    assert observed(Kind.ORG_COMPLIANCE, "check_failed") == checked + 1


@pytest.mark.django_db
def test_a_report_not_claimed_is_not_observed(org, owner, fakes):  # noqa: F811
    report = make_report(org, owner.user)
    pipeline.report_run(report_id=report.pk)
    before = observed(report.kind, "ready")
    pipeline.report_run(report_id=report.pk)
    assert observed(report.kind, "ready") == before
