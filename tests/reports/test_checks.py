"""A report is checked against itself and the ledger before it is signed: each
check holds on a real report and fails, alone, on a report tampered with in
the way it guards against; a report that fails one is not signed, not offered,
named to staff and not built again; stored reports are checked again."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from apps.entitlements.models import Mirror
from apps.reports import bundle, poam
from apps.reports.checks.files import readme_names
from apps.reports.checks.runner import (
    CHECKS,
    check_names,
    report_checks,
    reports_check_stored,
)
from apps.reports.evidence.document import build_evidence, canonical_json
from apps.reports.formats.pdfa import write_pdf
from apps.reports.formats.poam_xlsx import OPEN_SHEET
from apps.reports.models import Report
from apps.reports.services import pipeline
from apps.reports.services.intake import report_request
from apps.sla.models import SlaClock
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

from .builders import DAY, add_clocks, compliance_org, report_for

pytestmark = pytest.mark.django_db

Kind = Report.Kind


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def names(violations) -> list[str]:
    return sorted({v.check for v in violations})


def messages(violations) -> str:
    return "\n".join(v.message for v in violations)


@pytest.fixture
def built():
    """A compliance scenario and the evidence of its report, which holds."""
    s = compliance_org()
    e = build_evidence(s.report)
    assert report_checks(report=s.report, evidence=e) == []
    return s, e


def tampered(e: dict, change) -> dict:
    e = copy.deepcopy(e)
    change(e)
    return e


def run(capture, s, kind, request_id):
    with capture(execute=True):
        report, _ = report_request(
            org=s.org,
            kind=kind,
            window_start=s.window[0],
            window_end=s.window[1],
            request_id=request_id,
            actor=s.staff[0],
        )
    report.refresh_from_db()
    return report


# --- real reports hold -------------------------------------------------------------


@pytest.mark.parametrize("kind", [Kind.ORG_COMPLIANCE, Kind.EVIDENCE_BUNDLE, Kind.POAM])
def test_a_real_report_passes_its_checks_built_and_stored(
    django_capture_on_commit_callbacks, kind
):
    s = compliance_org()
    report = run(django_capture_on_commit_callbacks, s, kind, f"real-{kind}")
    assert report.status == Report.Status.READY, (report.error, report.check_failures)
    assert report.check_failures == []
    assert reports_check_stored(report=report) == []
    assert reports_check_stored() == []


def test_every_check_applies_to_some_kind_and_names_are_unique():
    found = check_names()
    assert len(found) == len(set(found))
    for c in CHECKS:
        assert c.kinds <= set(Kind.values), c.name
        assert c.description, c.name


# --- (1) mirrored repositories vs the FIPS, STIG and ELS sections ------------------


def test_no_mirrored_repository_beside_entries_fails(built):
    s, e = built
    found = report_checks(
        report=s.report, evidence=tampered(e, lambda e: e.update(mirrors=[]))
    )
    assert names(found) == ["mirrors_cover_sections"]
    text = messages(found)
    assert "says no repository was mirrored, but the FIPS module inventory" in text
    assert "STIG results section lists 1 entry" in text


def test_entries_of_a_repository_not_mirrored_with_the_flag_fail(built):
    s, e = built

    def change(e):
        e["mirrors"][0]["include_stig"] = False
        e["fips_modules"][0]["carriers"][0]["repository"] = "someone-elses"

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert names(found) == ["mirrors_cover_sections"]
    text = messages(found)
    assert f"{s.repository.name} is mirrored without STIG" in text
    assert "someone-elses is not a mirrored repository" in text


def test_a_report_whose_mirror_came_after_the_window_holds(built):
    s, _ = built
    Mirror.objects.filter(org=s.org).update(created_at=timezone.now())
    e = build_evidence(s.report)
    assert e["mirrors"] == []
    assert report_checks(report=s.report, evidence=e) == []


# --- (2) clocks vs the ledger, appendix vs summary --------------------------------


def test_a_clock_the_ledger_had_but_the_report_lacks_fails(built):
    s, e = built
    (late,) = add_clocks(
        s.org,
        s.series,
        [("high", "open", 50, 80, None)],
        window_start=s.window[0],
        staff=s.staff,
    )
    SlaClock.objects.filter(pk=late.pk).update(
        created_at=s.report.data_cutoff - timedelta(hours=1)
    )
    found = report_checks(report=s.report, evidence=e)
    assert names(found) == ["clocks_match_ledger"]
    assert f"not in the report: {late.pk}" in messages(found)


def test_a_clock_the_ledger_does_not_have_fails(built):
    s, e = built

    def change(e):
        e["appendix"]["clocks"][0]["id"] = 10**9

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert "clocks_match_ledger" in names(found)
    assert f"not in the ledger: {10**9}" in messages(found)


def test_a_window_other_than_the_request_fails(built):
    s, e = built
    found = report_checks(
        report=s.report,
        evidence=tampered(e, lambda e: e["period"].update(end="2001-01-01T00:00:00Z")),
    )
    assert "clocks_match_ledger" in names(found)
    assert "The report states the window" in messages(found)


def test_zero_clocks_in_the_summary_beside_an_appendix_fails(built):
    s, e = built
    assert e["appendix"]["count"] == 13
    found = report_checks(
        report=s.report,
        evidence=tampered(e, lambda e: e["appendix"].update(count=0, states={})),
    )
    assert names(found) == ["appendix_matches_summary"]
    assert "The summary says 0 clocks ran during the window; appendix A lists 13." in (
        messages(found)
    )


def test_a_late_clock_missing_from_the_appendix_fails(built):
    s, e = built
    breached = next(c for c in e["late_clocks"] if c["state"] == "breached")

    def change(e):
        e["appendix"]["clocks"] = [
            c for c in e["appendix"]["clocks"] if c["id"] != breached["id"]
        ]

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert "appendix_matches_summary" in names(found)
    assert f"Section 4 names clock(s) {breached['id']}" in messages(found)


def test_late_clocks_other_than_the_figures_fail(built):
    s, e = built
    found = report_checks(
        report=s.report,
        evidence=tampered(
            e,
            lambda e: e.update(
                late_clocks=[c for c in e["late_clocks"] if c["state"] != "missed"]
            ),
        ),
    )
    assert names(found) == ["late_clocks_match_figures"]
    assert "Section 3.1 counts 2 missed (all severities); section 4 lists 0." in (
        messages(found)
    )


# --- (3) the POA&M vs the ledger ---------------------------------------------------


def poam_report(s) -> Report:
    return report_for(s.org, kind=Kind.POAM, window=s.window)


def drop_first_open_row(content: bytes) -> bytes:
    book = load_workbook(io.BytesIO(content))
    book[OPEN_SHEET].delete_rows(2)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_poam_open_items_are_the_running_clocks(built):
    s, _ = built
    report = poam_report(s)
    content = poam.poam_xlsx(report)
    assert report_checks(report=report, workbook=content) == []
    running = [c for c in s.clocks if c.state in SlaClock.RUNNING]
    assert len(running) == 4
    found = report_checks(report=report, workbook=drop_first_open_row(content))
    assert names(found) == ["poam_matches_ledger"]
    assert "The open items sheet counts 3 clocks" in messages(found)


def test_poam_missing_a_clock_on_a_newly_mirrored_repository_fails(built):
    # The ledger runs a clock on a repository mirrored before the cut-off,
    # which the workbook (made before) does not list.
    s, _ = built
    report = poam_report(s)
    content = poam.poam_xlsx(report)
    (extra,) = add_clocks(
        s.org,
        s.series,
        [("critical", "open", 80, 85, None)],
        window_start=s.window[0],
        staff=s.staff,
    )
    SlaClock.objects.filter(pk=extra.pk).update(created_at=report.data_cutoff - DAY)
    found = report_checks(report=report, workbook=content)
    assert names(found) == ["poam_matches_ledger"]
    assert f"not in the report: {extra.pk}" in messages(found)


# --- (4) the bundle's README and manifest vs the zip -------------------------------


def bundle_of(org, window=None) -> tuple[Report, bytes, bytes]:
    # Cut off now, so the scenario's STIG scan document is in scope.
    report = report_for(
        org, kind=Kind.EVIDENCE_BUNDLE, window=window, data_cutoff=timezone.now()
    )
    as_pdf = copy.copy(report)
    as_pdf.kind = Kind.ORG_COMPLIANCE
    evidence_json = canonical_json(build_evidence(as_pdf))
    pdf, _ = write_pdf(
        "<p>report</p>", evidence_json=evidence_json, created=report.data_cutoff
    )
    content = bundle.evidence_bundle(report, pdf=pdf, evidence_json=evidence_json)
    return report, content, evidence_json


def rewrite(content: bytes, change) -> bytes:
    with zipfile.ZipFile(io.BytesIO(content)) as source:
        files = {name: source.read(name) for name in source.namelist()}
    change(files)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name, data in files.items():
            target.writestr(name, data)
    return out.getvalue()


def test_a_real_bundle_holds_what_its_readme_and_manifest_say(built):
    s, _ = built
    report, content, evidence_json = bundle_of(s.org, s.window)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        names_in_zip = zf.namelist()
        readme = zf.read("README.txt").decode()
    assert any(n.startswith("attestations/") for n in names_in_zip)
    files, folders = readme_names(readme)
    assert "attestations/" in folders
    assert {"report.pdf", "evidence.json", "MANIFEST.sha256"} <= files
    assert (
        report_checks(report=report, bundle=content, evidence_json=evidence_json) == []
    )


def test_a_readme_naming_a_folder_the_zip_lacks_fails(built):
    s, _ = built
    report, content, evidence_json = bundle_of(s.org, s.window)

    def change(files):
        files["README.txt"] = files["README.txt"].replace(
            b"Contents\n", b"Contents\n  stig/             STIG checklists\n"
        )

    found = report_checks(
        report=report, bundle=rewrite(content, change), evidence_json=evidence_json
    )
    # The README changed, so its manifest line no longer matches either.
    assert names(found) == ["bundle_manifest_complete", "bundle_readme_lists_contents"]
    assert "README.txt names the folder stig/, which is not in the zip." in (
        messages(found)
    )


def test_a_file_outside_the_manifest_fails(built):
    s, _ = built
    report, content, evidence_json = bundle_of(s.org, s.window)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        dropped = next(n for n in zf.namelist() if n.startswith("attestations/"))

    def change(files):
        files["notes.txt"] = b"not listed"
        del files[dropped]

    found = report_checks(
        report=report, bundle=rewrite(content, change), evidence_json=evidence_json
    )
    assert "bundle_manifest_complete" in names(found)
    text = messages(found)
    assert "notes.txt is in the zip but not in MANIFEST.sha256." in text
    assert f"MANIFEST.sha256 lists {dropped}, which is not in the zip." in text


def test_a_bundle_without_documents_says_none_and_names_no_absent_folder():
    report, content, evidence_json = bundle_of(OrganizationFactory(name="Empty Co"))
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        # No build's documents (the OSCAL documents are in every bundle).
        assert not [n for n in zf.namelist() if n.startswith(("attestations/", "vex/"))]
    assert (
        report_checks(report=report, bundle=content, evidence_json=evidence_json) == []
    )


# --- other invariants --------------------------------------------------------------


def test_severities_that_do_not_add_up_to_the_total_fail(built):
    s, e = built

    def change(e):
        e["sla"]["contract"]["overall"]["met"] += 1

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert names(found) == ["severity_totals"]
    assert "met by severity add up to" in messages(found)


def test_overlay_counts_that_do_not_add_up_fail(built):
    s, e = built

    def change(e):
        e["sla"]["overlays"][0]["counts"]["met"] = 99

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert names(found) == ["overlay_totals"]


def test_stig_totals_that_do_not_add_up_fail(built):
    s, e = built

    def change(e):
        e["stig"][0]["scans"][0]["totals"][0] += 1

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert names(found) == ["stig_totals"]


def test_a_control_map_marking_absent_evidence_held_fails(built):
    s, e = built

    def change(e):
        e["els"] = []
        e["mirrors"][0]["include_els"] = False

    found = report_checks(report=s.report, evidence=tampered(e, change))
    assert names(found) == ["controls_match_sections"]
    assert "held; its section has 0 entries" in messages(found)


def test_a_dossier_s_counts_by_severity_are_its_findings(built):
    s, _ = built
    image = s.clocks[0].finding.digest
    report = report_for(s.org, kind=Kind.IMAGE_DOSSIER, digest=image)
    e = build_evidence(report)
    assert report_checks(report=report, evidence=e) == []
    found = report_checks(
        report=report,
        evidence=tampered(e, lambda e: e["finding_counts"].update(low=7)),
    )
    assert names(found) == ["findings_by_severity"]


def test_customers_that_do_not_add_up_to_all_customers_fail(built):
    s, _ = built
    report = report_for(None, kind=Kind.SLA_PERFORMANCE, window=s.window)
    e = build_evidence(report)
    assert report_checks(report=report, evidence=e) == []

    def change(e):
        for block in (e["customers"][0]["overall"], e["customers"][0]["severities"][0]):
            block["met"] += 1
            block["judged"] += 1
        e["customers"][0]["overall"]["attainment"] = None

    found = report_checks(report=report, evidence=tampered(e, change))
    assert names(found) == ["severity_totals"]
    assert "Customers' met add up to" in messages(found)


def test_a_pdf_not_carrying_its_evidence_fails(built):
    s, e = built
    evidence_json = canonical_json(e)
    other, _ = write_pdf(
        "<p>x</p>", evidence_json=b'{"other":1}\n', created=s.report.data_cutoff
    )
    found = report_checks(
        report=s.report, evidence=e, evidence_json=evidence_json, pdf=other
    )
    assert names(found) == ["pdf_carries_evidence"]
    right, _ = write_pdf(
        "<p>x</p>", evidence_json=evidence_json, created=s.report.data_cutoff
    )
    assert (
        report_checks(
            report=s.report, evidence=e, evidence_json=evidence_json, pdf=right
        )
        == []
    )


def test_a_check_that_cannot_read_the_evidence_fails_by_name(built):
    s, e = built
    found = report_checks(
        report=s.report, evidence=tampered(e, lambda e: e.pop("stig"))
    )
    assert "mirrors_cover_sections" in names(found)
    assert "could not read the report" in messages(found)


# --- the pipeline -----------------------------------------------------------------


def test_a_report_failing_a_check_is_not_signed_offered_or_retried(
    django_capture_on_commit_callbacks, monkeypatch, client_for
):
    s = compliance_org()
    staff = UserFactory(is_staff=True, email="desk@publisher.example")
    real = build_evidence

    def zero_clocks(report, *, progress=None):
        e = real(report, progress=progress)
        e["appendix"].update(count=0, states={})
        return e

    def never(*args, **kwargs):
        raise AssertionError("a report that fails a check is never signed")

    monkeypatch.setattr(pipeline, "build_evidence", zero_clocks)
    monkeypatch.setattr(pipeline, "sign_pdf", never)
    report = run(django_capture_on_commit_callbacks, s, Kind.ORG_COMPLIANCE, "bad-1")

    assert report.status == Report.Status.FAILED
    assert report.attempts == 1
    assert report.failed_checks == ["appendix_matches_summary"]
    assert "appendix A lists 13" in report.check_failures[0]["message"]
    assert (report.file.name, report.sha256, report.signer_key_id) == ("", "", "")
    assert report.error == "Failed consistency check: appendix_matches_summary."
    (told,) = [m for m in mail.outbox if staff.email in m.to]
    assert "appendix_matches_summary" in told.subject

    # Staff see the check by name, on their list and on the report's page.
    desk = client_for(staff)
    listing = desk.get(reverse("staff_reports")).content.decode()
    assert "failed consistency check: appendix_matches_summary" in listing
    page = desk.get(reverse("staff_report_detail", args=[report.public_id]))
    assert "appendix A lists 13" in page.content.decode()

    # The customer sees that it failed and that staff were told; no download.
    customer = client_for(MembershipFactory(org=s.org, role="owner").user)
    listing = customer.get(reverse("reports:list", args=[s.org.slug])).content.decode()
    assert "failed its consistency checks; staff were told" in listing
    assert "appendix_matches_summary" not in listing
    page = customer.get(
        reverse("reports:detail", args=[s.org.slug, report.public_id])
    ).content.decode()
    assert "Publisher staff were told" in page
    assert reverse("reports:download", args=[s.org.slug, report.public_id]) not in page
    download = customer.get(
        reverse("reports:download", args=[s.org.slug, report.public_id])
    )
    assert download.status_code == 404


# --- stored reports ----------------------------------------------------------------


def test_stored_reports_are_checked_again_from_their_files(
    django_capture_on_commit_callbacks,
):
    s = compliance_org()
    report = run(django_capture_on_commit_callbacks, s, Kind.ORG_COMPLIANCE, "st-1")
    assert reports_check_stored(report=report) == []

    # A clock opened after the report was built is not held against it.
    (later,) = add_clocks(
        s.org,
        s.series,
        [("high", "open", 50, 80, None)],
        window_start=s.window[0],
        staff=s.staff,
    )
    assert reports_check_stored(report=report) == []
    # One the ledger had before the build began, and the report lacks, is.
    SlaClock.objects.filter(pk=later.pk).update(
        created_at=report.started_at - timedelta(minutes=1)
    )
    found = reports_check_stored(report=report)
    assert names(found) == ["clocks_match_ledger"]
    assert found[0].subject == f"report {report.public_id}"
    assert found[0].as_dict()["check"] == "clocks_match_ledger"
    SlaClock.objects.filter(pk=later.pk).update(created_at=timezone.now())

    # A stored evidence file changed after issue fails its hash and what it says.
    with report.evidence_file.open("rb") as stored:
        e = json.loads(stored.read())
    e["appendix"]["count"] = 0
    storage = report.evidence_file.storage
    name = report.evidence_file.name
    storage.delete(name)
    storage.save(name, ContentFile(canonical_json(e)))
    found = reports_check_stored()
    assert names(found) == [
        "appendix_matches_summary",
        "pdf_carries_evidence",
        "stored_files_intact",
    ]
