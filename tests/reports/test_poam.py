"""The FedRAMP POA&M workbook: the template's columns, one row per clock running
at the cut-off on a mirrored repository, nothing of another org, stable bytes."""

from __future__ import annotations

import hashlib
import io
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from apps.reports import poam
from apps.reports.models import Report
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaPolicyVersion
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers
from tests.factories import OrganizationFactory
from tests.sla.builders import NOW, finding, ledger_clock, mirror, repo_and_series

DAY = timedelta(days=1)
CUTOFF = NOW + 10 * DAY
WINDOW = ((NOW - 30 * DAY).date(), (NOW + 9 * DAY).date())

# The header row of FedRAMP's Rev 5 POA&M template, typed out here on purpose
# rather than read from the module under test.
TEMPLATE_HEADERS = [
    "POAM ID",
    "Controls",
    "Weakness Name",
    "Weakness Description",
    "Weakness Detector Source",
    "Weakness Source Identifier",
    "Asset Identifier",
    "Point of Contact",
    "Resources Required",
    "Overall Remediation Plan",
    "Original Detection Date",
    "Scheduled Completion Date",
    "Planned Milestones",
    "Milestone Changes",
    "Status Date",
    "Vendor Dependency",
    "Last Vendor Check-in Date",
    "Vendor Dependent Product Name",
    "Original Risk Rating",
    "Adjusted Risk Rating",
    "Risk Adjustment",
    "False Positive",
    "Operational Requirement",
    "Deviation Rationale",
    "Supporting Documents",
    "Comments",
    "Auto-Approve",
    "Binding Operational Directive 22-01 tracking",
    "Binding Operational Directive 22-01 Due Date",
    "CVE",
    "Service Name",
]


def policy_version() -> SlaPolicyVersion:
    ensure_tiers()
    version = SlaPolicyVersion.objects.first()
    if version is None:
        defaults_load()
        version = SlaPolicyVersion.objects.first()
    return version


def poam_report(org, *, cutoff: datetime = CUTOFF, window=WINDOW) -> Report:
    return Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.POAM,
        org=org,
        window_start=window[0],
        window_end=window[1],
        data_cutoff=cutoff,
    )


@dataclass
class Ledger:
    org: object
    other: object
    repo: object
    open_clocks: dict
    closed_clocks: dict
    other_clock: object
    unmirrored_clock: object


@pytest.fixture
def ledger(db):
    version = policy_version()
    org = OrganizationFactory(name="Northwind")
    other = OrganizationFactory(name="Globex")
    repo, series = repo_and_series("payments")
    mirror(org, repo)
    mirror(other, repo)
    fips_image = catalog.build(series, fips=True, built_at=NOW - 20 * DAY)

    def clock(
        severity,
        state="open",
        *,
        org=org,
        started=-5,
        due=20,
        stopped=None,
        image=None,
        kev_due_date=None,
    ):
        f = finding(
            series,
            severity=severity,
            detected_at=NOW + started * DAY,
            image=image,
            kev_due_date=kev_due_date,
        )
        return ledger_clock(
            org,
            f,
            version,
            severity=severity,
            state=state,
            started_at=NOW + started * DAY,
            due_at=NOW + due * DAY,
            stopped_at=None if stopped is None else NOW + stopped * DAY,
        )

    open_clocks = {
        "critical": clock("critical", due=2, kev_due_date=date(2026, 3, 20)),
        "medium": clock("medium", "breached", started=-40, due=-1),
        "low": clock("low", "at_risk", due=40, image=fips_image),
        # Fixed after the cut-off: still open as of the cut-off.
        "fixed_later": clock("high", "met", started=-3, due=30, stopped=12),
    }
    closed_clocks = {
        "met": clock("high", "met", started=-20, due=10, stopped=-2),
        "missed": clock("critical", "missed", started=-25, due=-10, stopped=-5),
    }
    # Started after the cut-off: not an item yet.
    clock("high", started=11, due=30)
    # Fixed before the window: in neither sheet.
    clock("high", "met", started=-90, due=-60, stopped=-70)
    other_repo, _ = repo_and_series("other-only")
    mirror(other, other_repo)
    other_clock = clock("critical", org=other)
    _, unmirrored_series = repo_and_series("not-mirrored")
    unmirrored_clock = ledger_clock(
        org,
        finding(unmirrored_series, severity="high", detected_at=NOW - DAY),
        version,
        started_at=NOW - DAY,
        due_at=NOW + 5 * DAY,
    )
    return Ledger(
        org, other, repo, open_clocks, closed_clocks, other_clock, unmirrored_clock
    )


def sheet_rows(content: bytes, name: str) -> tuple[list, list[dict]]:
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook[name]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    return header, [dict(zip(header, row, strict=True)) for row in rows[1:]]


def as_date(value):
    return value.date() if isinstance(value, datetime) else value


def test_header_row_is_the_fedramp_template_s(ledger):
    content = poam.poam_xlsx(poam_report(ledger.org))
    workbook = load_workbook(io.BytesIO(content))
    assert workbook.sheetnames == ["Open POA&M Items", "Closed POA&M Items"]
    for name in workbook.sheetnames:
        header, _ = sheet_rows(content, name)
        assert header == TEMPLATE_HEADERS


def test_one_row_per_clock_running_at_the_cutoff(ledger):
    report = poam_report(ledger.org)
    _, rows = sheet_rows(poam.poam_xlsx(report), "Open POA&M Items")
    expected = sorted(ledger.open_clocks.values(), key=lambda c: (c.due_at, c.pk))
    assert [row["POAM ID"] for row in rows] == [f"V-{c.pk}" for c in expected]
    by_id = {row["POAM ID"]: row for row in rows}
    for c in expected:
        row = by_id[f"V-{c.pk}"]
        f = c.finding
        image = f.digest
        assert row["Controls"] == "RA-5; SI-2"
        assert row["Weakness Source Identifier"] == f.vulnerability.vuln_id
        assert f.vulnerability.vuln_id in row["Weakness Name"]
        assert f.component.name in row["Weakness Name"]
        assert row["Weakness Description"] == f.vulnerability.summary
        assert row["Asset Identifier"].endswith("@" + image.digest)
        assert row["Asset Identifier"].startswith("payments:")
        assert as_date(row["Original Detection Date"]) == f.detected_at.date()
        assert as_date(row["Scheduled Completion Date"]) == c.due_at.date()
        assert as_date(row["Status Date"]) == CUTOFF.date()
        assert row["Vendor Dependency"] == "Yes"
        assert "Vendor Dependency" in row["Comments"]
        assert row["CVE"] == f.vulnerability.vuln_id


def test_fips_build_is_named_as_the_vendor_product(ledger):
    low = ledger.open_clocks["low"]
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.org)), "Open POA&M Items")
    row = next(r for r in rows if r["POAM ID"] == f"V-{low.pk}")
    assert row["Vendor Dependent Product Name"] == "payments:3.12-fips"
    assert row["Asset Identifier"] == f"payments:3.12-fips@{low.finding.digest.digest}"


@pytest.mark.parametrize(
    ("severity", "rating"),
    [("critical", "High"), ("high", "High"), ("medium", "Moderate"), ("low", "Low")],
)
def test_severity_maps_to_fedramp_risk_rating(severity, rating):
    assert poam.risk_rating(severity) == rating


def test_unknown_severity_has_no_rating():
    with pytest.raises(ValueError, match="unknown"):
        poam.risk_rating("unknown")


def test_rows_carry_the_rating_of_the_clock_severity(ledger):
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.org)), "Open POA&M Items")
    ratings = {row["POAM ID"]: row["Original Risk Rating"] for row in rows}
    clocks = ledger.open_clocks
    assert ratings[f"V-{clocks['critical'].pk}"] == "High"
    assert ratings[f"V-{clocks['medium'].pk}"] == "Moderate"
    assert ratings[f"V-{clocks['low'].pk}"] == "Low"


def test_kev_item_is_tracked_under_bod_22_01(ledger):
    critical = ledger.open_clocks["critical"]
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.org)), "Open POA&M Items")
    by_id = {row["POAM ID"]: row for row in rows}
    kev = by_id[f"V-{critical.pk}"]
    assert kev["Binding Operational Directive 22-01 tracking"] == "Yes"
    assert as_date(kev["Binding Operational Directive 22-01 Due Date"]) == date(
        2026, 3, 20
    )
    low = by_id[f"V-{ledger.open_clocks['low'].pk}"]
    assert low["Binding Operational Directive 22-01 tracking"] == "No"


def test_last_vendor_check_in_is_the_newest_vex_statement_by_the_cutoff(ledger):
    critical = ledger.open_clocks["critical"]
    f = critical.finding
    said = NOW + 3 * DAY
    catalog.vex(
        f.vulnerability,
        image=f.digest,
        status="under_investigation",
        timestamp=said,
    )
    # After the cut-off: not yet said at the cut-off.
    catalog.vex(
        f.vulnerability,
        image=f.digest,
        status="under_investigation",
        timestamp=CUTOFF + DAY,
    )
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.org)), "Open POA&M Items")
    by_id = {row["POAM ID"]: row for row in rows}
    assert as_date(by_id[f"V-{critical.pk}"]["Last Vendor Check-in Date"]) == (
        said.date()
    )
    # Without a statement: the clock's start (detection, here the same day).
    medium = ledger.open_clocks["medium"]
    assert as_date(by_id[f"V-{medium.pk}"]["Last Vendor Check-in Date"]) == (
        medium.started_at.date()
    )


def test_closed_sheet_lists_clocks_stopped_in_the_window(ledger):
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.org)), "Closed POA&M Items")
    expected = sorted(ledger.closed_clocks.values(), key=lambda c: (c.stopped_at, c.pk))
    assert [row["POAM ID"] for row in rows] == [f"V-{c.pk}" for c in expected]
    assert all("closed" in row["Comments"] for row in rows)
    assert [as_date(row["Status Date"]) for row in rows] == [
        c.stopped_at.date() for c in expected
    ]


def test_another_org_s_clocks_never_appear(ledger):
    content = poam.poam_xlsx(poam_report(ledger.org))
    ids = set()
    for name in ("Open POA&M Items", "Closed POA&M Items"):
        ids |= {row["POAM ID"] for row in sheet_rows(content, name)[1]}
    assert f"V-{ledger.other_clock.pk}" not in ids
    assert f"V-{ledger.unmirrored_clock.pk}" not in ids
    # And the other org's own workbook holds its clock only.
    _, rows = sheet_rows(poam.poam_xlsx(poam_report(ledger.other)), "Open POA&M Items")
    assert [row["POAM ID"] for row in rows] == [f"V-{ledger.other_clock.pk}"]


def test_empty_org_gets_the_headers_only(db):
    org = OrganizationFactory(name="Empty")
    content = poam.poam_xlsx(poam_report(org))
    for name in ("Open POA&M Items", "Closed POA&M Items"):
        header, rows = sheet_rows(content, name)
        assert header == TEMPLATE_HEADERS
        assert rows == []


def test_same_inputs_give_the_same_bytes(ledger, monkeypatch):
    report = poam_report(ledger.org)
    first = poam.poam_xlsx(report)
    # Days later by the wall clock: zip entries would otherwise carry it.
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3 * 86400 + 7)
    second = poam.poam_xlsx(report)
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_workbook_properties_are_fixed_to_the_cutoff(ledger, settings):
    settings.SITE_NAME = "Example Images"
    content = poam.poam_xlsx(poam_report(ledger.org))
    props = load_workbook(io.BytesIO(content)).properties
    assert props.creator == "Example Images"
    assert props.created == CUTOFF.replace(tzinfo=None)
    assert props.modified == CUTOFF.replace(tzinfo=None)
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        stamps = {info.date_time for info in archive.infolist()}
    assert stamps == {CUTOFF.timetuple()[:6]}


def test_a_later_cutoff_changes_the_bytes(ledger):
    first = poam.poam_xlsx(poam_report(ledger.org))
    second = poam.poam_xlsx(poam_report(ledger.org, cutoff=CUTOFF + DAY))
    assert first != second


def test_report_without_org_is_refused(db):
    report = Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=Report.Kind.POAM,
        data_cutoff=CUTOFF,
    )
    with pytest.raises(ValueError, match="organization"):
        poam.poam_xlsx(report)


def test_queries_do_not_grow_with_the_rows(ledger, django_assert_num_queries):
    report = poam_report(ledger.org)
    # One query per sheet, however many rows (the org is loaded with the report).
    with django_assert_num_queries(2):
        poam.poam_xlsx(report)
