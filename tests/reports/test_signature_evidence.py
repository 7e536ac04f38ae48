"""Signature verdicts in the reports: the image dossier lists each
attestation's verdict (who signed, with which key, when; which check failed;
no longer trusted) with counts its content check recounts, and prints them;
the compliance report counts the verdicts on the mirrored repositories'
attestations, and its check holds the counts to the attestations counted."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
import time_machine

from apps.reports.checks.runner import report_checks
from apps.reports.evidence.document import build_evidence
from apps.reports.models import Report
from tests.catalog import signing

from .builders import DAY, compliance_org, midnight, report_for
from .test_render import pdf_text, render, squash

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def signed():
    """A compliance scenario whose STIG build also carries an attestation of
    each verdict, loaded through the door inside the report's window."""
    s = compliance_org(with_fips=False, with_els=False)
    image = s.stig_scan.digest
    with time_machine.travel(midnight(s.window[0]) + DAY, tick=False):
        rows = signing.one_of_each(image)
    return s, image, rows


def _dossier(s, image) -> Report:
    return report_for(
        s.org,
        kind=Report.Kind.IMAGE_DOSSIER,
        digest=image,
        data_cutoff=s.report.data_cutoff + timedelta(days=2),
    )


def test_the_dossier_lists_each_attestation_s_verdict_and_counts_them(signed):
    s, image, rows = signed
    report = _dossier(s, image)
    e = build_evidence(report)
    by_sha = {a["sha256"]: a for a in e["attestations"]}
    verified = by_sha[rows["verified"].sha256]
    assert verified["signature_verified"] is True
    assert verified["signature"]["status"] == "verified"
    assert verified["signature"]["signer"] == "Catalog release key"
    assert verified["signature"]["identity"].startswith("ECDSA P-256 key ")
    assert verified["signature"]["checked_at"] == (
        rows["verified"].signature_checked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    invalid = by_sha[rows["invalid"].sha256]["signature"]
    assert (invalid["status"], invalid["check"]) == ("invalid", "signature")
    assert "changed after signing" in invalid["message"]
    revoked = by_sha[rows["revoked"].sha256]["signature"]
    assert (revoked["status"], revoked["check"]) == ("untrusted", "revoked")
    assert revoked["signer"] == "Retired build key"
    # The STIG scan the scenario loaded carries no signature.
    assert e["signature_counts"] == {
        "verified": 1,
        "unverified": 2,
        "invalid": 1,
        "untrusted": 2,
        "no_longer_trusted": 1,
    }
    assert by_sha[rows["untrusted"].sha256]["signature"]["check_label"] == (
        "signer not registered"
    )
    assert report_checks(report=report, evidence=e) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda e: e["signature_counts"].update(verified=2), "verified: 2 counted"),
        (
            lambda e: e["attestations"][0]["signature"].update(status="verified"),
            "counted",
        ),
        (
            lambda e: e["signature_counts"].update(no_longer_trusted=0),
            "have 1 untrusted by a revoked signer",
        ),
    ],
)
def test_a_dossier_whose_signature_counts_are_not_its_list_fails(signed, change, says):
    s, image, _ = signed
    report = _dossier(s, image)
    e = copy.deepcopy(build_evidence(report))
    change(e)
    found = report_checks(report=report, evidence=e)
    assert sorted({v.check for v in found}) == ["signature_counts"]
    assert says in "\n".join(v.message for v in found)


def test_the_dossier_prints_each_verdict(signed):
    s, image, _ = signed
    _, _, rendered = render(_dossier(s, image))
    text = squash(pdf_text(rendered.content)).replace("\u2010 ", "")
    assert (
        "1 verified, 2 unverified (no signature), 1 invalid, 2 untrusted "
        "(1 no longer trusted: signer revoked)" in text
    )
    assert "Verified by Catalog release key" in text
    assert "Invalid failed check: signature over the content" in text
    assert "No longer trusted" in text
    assert "Retired build key was revoked" in text
    assert "Untrusted signer not registered" in text


def test_the_compliance_report_counts_the_verdicts_and_its_check_holds_them(signed):
    s, _, _ = signed
    e = build_evidence(s.report)
    # The STIG scan was loaded after the window: not counted.
    assert e["attestation_signatures"] == {
        "verified": 1,
        "unverified": 1,
        "invalid": 1,
        "untrusted": 2,
        "no_longer_trusted": 1,
    }
    assert sum(e["attestation_kinds"].values()) == 5
    assert report_checks(report=s.report, evidence=e) == []
    e["attestation_signatures"]["unverified"] = 0
    found = report_checks(report=s.report, evidence=e)
    assert [v.check for v in found] == ["signature_counts"]
    assert "add up to 4, not the 5 attestations" in found[0].message
    _, _, rendered = render(s.report)
    text = squash(pdf_text(rendered.content)).replace("\u2010 ", "")
    assert "1 verified, 1 unverified (no signature), 1 invalid, 2 untrusted" in text


def test_reports_made_before_signatures_were_counted_still_check(signed):
    s, image, _ = signed
    report = _dossier(s, image)
    e = build_evidence(report)
    del e["signature_counts"]
    assert report_checks(report=report, evidence=e) == []
    e = build_evidence(s.report)
    del e["attestation_signatures"]
    assert report_checks(report=s.report, evidence=e) == []
