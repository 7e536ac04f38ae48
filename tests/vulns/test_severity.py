"""The severity rule of DESIGN.md section 4, from real advisories."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.vulns.formats.osv import osv_parse
from apps.vulns.models import Finding, Severity, Vulnerability
from apps.vulns.services import findings_match, osv_import
from apps.vulns.severity import (
    CvssError,
    cvss_v3_score,
    cvss_v4_score,
    severity_decide,
    severity_from_score,
    vendor_severity,
)

from .feed_helpers import build, osv_record, variant

V3_OPENSSL = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:H"  # CVE-2023-0286
V4_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
V4_LOW = "CVSS:4.0/AV:L/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"


@pytest.fixture
def now():
    return datetime(2025, 6, 2, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ("10.0", Severity.CRITICAL),
        ("9.0", Severity.CRITICAL),
        ("8.9", Severity.HIGH),
        ("7.0", Severity.HIGH),
        ("6.9", Severity.MEDIUM),
        ("4.0", Severity.MEDIUM),
        ("3.9", Severity.LOW),
        ("0.1", Severity.LOW),
        ("0.0", Severity.NONE),
        (None, Severity.UNKNOWN),
    ],
)
def test_score_thresholds(score, expected):
    assert severity_from_score(None if score is None else Decimal(score)) == expected


def test_vendor_severity_wins_over_cvss():
    assert (
        severity_decide(
            vendor=Severity.LOW,
            cvss_v4_score=Decimal("9.3"),
            cvss_v3_score=Decimal("9.8"),
        )
        == Severity.LOW
    )


def test_cvss_v4_wins_over_v3():
    assert (
        severity_decide(cvss_v4_score=Decimal("2.0"), cvss_v3_score=Decimal("9.8"))
        == Severity.LOW
    )
    assert severity_decide(cvss_v3_score=Decimal("9.8")) == Severity.CRITICAL
    assert severity_decide() == Severity.UNKNOWN


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("CRITICAL", Severity.CRITICAL),  # GitHub
        ("HIGH", Severity.HIGH),
        ("MODERATE", Severity.MEDIUM),  # GitHub says moderate
        ("Medium", Severity.MEDIUM),  # Docker Hardened Images
        ("important", Severity.HIGH),  # Red Hat
        ("low", Severity.LOW),
        ("negligible", ""),  # Ubuntu: says nothing about impact, CVSS decides
        ("untriaged", ""),
        (None, ""),
        (3, ""),
    ],
)
def test_vendor_labels(label, expected):
    assert vendor_severity(label) == expected


def test_scores_are_computed_from_vectors():
    assert cvss_v3_score(V3_OPENSSL) == Decimal("7.4")
    assert cvss_v3_score("CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H") == Decimal(
        "9.8"
    )
    assert cvss_v4_score(V4_CRITICAL) == Decimal("9.3")


@pytest.mark.parametrize(
    "vector",
    [
        "CVSS:3.1/AV:N/AC:H/garbage",
        "CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P",
    ],
)
def test_unscorable_v3_vectors_are_refused(vector):
    with pytest.raises(CvssError):
        cvss_v3_score(vector)


def test_unscorable_v4_vector_is_refused():
    with pytest.raises(CvssError, match="CVSS v4"):
        cvss_v4_score("CVSS:4.0/AV:N")


def test_github_rating_decides_for_ghsa_records():
    # GHSA-2gwj-7jmv-h26r (Django CVE-2022-28346): GitHub says CRITICAL, 9.8.
    parsed = osv_parse(osv_record("ghsa-pysec/GHSA-2gwj-7jmv-h26r.json"))
    assert parsed.vendor_severity == Severity.CRITICAL
    assert parsed.cvss_v3_score == Decimal("9.8")
    assert parsed.severity == Severity.CRITICAL
    # GHSA-5h86-8mv2-jq9f (aiohttp): MODERATE, 5.9.
    parsed = osv_parse(osv_record("ghsa-pysec/GHSA-5h86-8mv2-jq9f.json"))
    assert parsed.cvss_v3_score == Decimal("5.9")
    assert parsed.severity == Severity.MEDIUM


def test_ubuntu_priority_is_the_vendor_severity():
    record = osv_record("ubuntu/CVE-2023-0286.json")
    parsed = osv_parse(record)
    assert parsed.vendor_severity == Severity.HIGH
    assert parsed.cvss_v3_vector == V3_OPENSSL
    assert parsed.cvss_v3_score == Decimal("7.4")
    assert parsed.severity == Severity.HIGH

    # Had Ubuntu rated it low, its rating would beat the 7.4 (high) score.
    for affected in record["affected"]:
        if "ubuntu_priority" in affected.get("ecosystem_specific", {}):
            affected["ecosystem_specific"]["ubuntu_priority"] = "low"
    parsed = osv_parse(record)
    assert parsed.cvss_v3_score == Decimal("7.4")
    assert parsed.severity == Severity.LOW


def test_dhi_rating_and_per_package_vector():
    # DHI CVE-2021-4189: no top-level vector; affected[0].severity has one and
    # database_specific says "Medium".
    parsed = osv_parse(osv_record("dhi-python/CVE-2021-4189.json"))
    assert parsed.cvss_v3_score == Decimal("5.3")
    assert parsed.vendor_severity == Severity.MEDIUM
    assert parsed.severity == Severity.MEDIUM


def test_record_with_nothing_to_go_on_is_unknown():
    # PYSEC-2022-190 carries neither a rating nor a vector.
    parsed = osv_parse(osv_record("ghsa-pysec/PYSEC-2022-190.json"))
    assert (parsed.vendor_severity, parsed.cvss_v3_score) == ("", None)
    assert parsed.severity == Severity.UNKNOWN


def test_v4_vector_decides_without_vendor_rating():
    parsed = osv_parse(
        {
            "id": "TEST-2025-0001",
            "modified": "2025-01-01T00:00:00Z",
            "severity": [
                {
                    "type": "CVSS_V3",
                    "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                },
                {"type": "CVSS_V4", "score": V4_LOW},
            ],
        }
    )
    assert parsed.cvss_v3_score == Decimal("9.8")
    assert parsed.cvss_v4_vector == V4_LOW
    assert parsed.severity == severity_from_score(parsed.cvss_v4_score)
    assert parsed.severity == Severity.LOW


@pytest.mark.django_db
def test_findings_carry_the_severity_and_follow_a_changed_rating(now):
    record = osv_record("ubuntu/CVE-2023-0286.json")
    osv_import(records=[record])
    build(
        variant(),
        now,
        ["pkg:deb/ubuntu/openssl@1.1.1f-1ubuntu2.16?arch=amd64&distro=ubuntu-20.04"],
    )
    findings_match(now=now)
    finding = Finding.objects.get()
    assert finding.severity == Severity.HIGH

    # Ubuntu re-rates the CVE: the advisory and its findings change together.
    for affected in record["affected"]:
        affected.get("ecosystem_specific", {})["ubuntu_priority"] = "medium"
    osv_import(records=[record])
    assert Vulnerability.objects.get().severity == Severity.MEDIUM
    finding.refresh_from_db()
    assert finding.severity == Severity.MEDIUM
