"""Importing a STIG scan: what is stored, and that a refused document stores
nothing at all."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.catalog.models import Attestation
from apps.stig.formats.parsed import ParsedRule, ParsedScan
from apps.stig.models import StigRuleResult, StigScan
from apps.stig.services import stig_scan_import
from tests.catalog import builders as catalog

from . import builders as b
from .test_xccdf import BILLION_LAUGHS

pytestmark = pytest.mark.django_db
CAT = {"high": "1", "medium": "2", "low": "3"}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def image():
    return b.stig_build()


def _stored() -> tuple[int, int, int]:
    return (
        Attestation.objects.count(),
        StigScan.objects.count(),
        StigRuleResult.objects.count(),
    )


def _files(settings) -> list:
    root = settings.MEDIA_ROOT
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _expected_counts(content: bytes, ns: str = b.NS) -> dict:
    """Results per CAT as the file states them, read with ElementTree."""
    root = ET.fromstring(content)  # noqa: S314 - a fixture of this repository
    counts: dict[str, Counter] = {}
    for rr in root.find(f"{{{ns}}}TestResult").iter(f"{{{ns}}}rule-result"):
        cat = CAT[rr.get("severity")]
        counts.setdefault(cat, Counter())[rr.find(f"{{{ns}}}result").text] += 1
    return {cat: dict(c) for cat, c in counts.items()}


def test_real_rhel8_results_are_stored(image):
    content = b.RHEL8.read_bytes()
    result = stig_scan_import(image=image, content=content)

    scan = StigScan.objects.get(pk=result.scan_id)
    assert scan.digest == image
    assert scan.counts == _expected_counts(content)
    assert scan.rule_count == content.count(b"<rule-result ") == 248
    assert scan.results.count() == 248
    assert Counter(scan.results.values_list("result", flat=True)) == {
        "pass": 61,
        "fail": 166,
        "error": 21,
    }
    assert (result.passed, result.failed, result.not_reviewed) == (61, 166, 21)
    assert result.not_applicable == 0
    assert result.rules == 248
    assert result.created is True
    assert result.score == "24.60"
    assert scan.score == Decimal("24.60")
    assert scan.benchmark_id == "RHEL_8_STIG"
    assert scan.source_format == "xccdf"

    attestation = scan.attestation
    assert attestation.kind == Attestation.Kind.STIG_SCAN
    assert attestation.media_type == "application/xml"
    assert attestation.spec_version == "1.2"
    assert attestation.document.open("rb").read() == content
    assert attestation.summary["open"] == 166
    assert attestation.summary["benchmark"] == "RHEL_8_STIG"

    rule = scan.results.get(rule_id="SV-230221r743913_rule")
    assert (rule.vuln_id, rule.stig_id, rule.cat, rule.result) == (
        "V-230221",
        "RHEL-08-010000",
        1,
        "pass",
    )
    assert rule.title == "RHEL 8 must be a vendor-supported release."
    assert rule.ccis == ["CCI-000366"]


def test_real_arf_and_xccdf_1_1_are_stored(image):
    arf = stig_scan_import(image=image, content=b.ARF_SAMPLE.read_bytes())
    old = stig_scan_import(image=image, content=b.RHSA_11.read_bytes())
    arf_scan = StigScan.objects.get(pk=arf.scan_id)
    assert arf_scan.source_format == "arf"
    assert arf_scan.counts == {"none": {"fail": 1}}
    assert arf_scan.attestation.spec_version == "1.2"
    old_scan = StigScan.objects.get(pk=old.scan_id)
    assert old_scan.attestation.spec_version == "1.1"
    assert old_scan.counts == _expected_counts(
        b.RHSA_11.read_bytes(), ns="http://checklists.nist.gov/xccdf/1.1"
    )


def test_the_same_document_twice_is_one_scan(image):
    content = b.xccdf([(1, "high", "fail"), (2, "low", "pass")])
    first = stig_scan_import(image=image, content=content)
    before = _stored()
    again = stig_scan_import(image=image, content=content)
    assert again.scan_id == first.scan_id
    assert again.created is False
    assert (again.failed, again.passed) == (1, 1)
    assert _stored() == before


def test_a_new_scan_of_the_same_build_is_kept_beside_the_old(image):
    b.scan(image, [(1, "high", "fail")], start="2024-05-01T10:00:00+00:00")
    b.scan(image, [(1, "high", "pass")], start="2024-06-01T10:00:00+00:00")
    assert StigScan.objects.filter(digest=image).count() == 2


def test_the_import_result_feeds_the_audit_summary(image):
    from apps.evidence.ingest import _summary

    result = stig_scan_import(image=image, content=b.xccdf([(1, "high", "fail")]))
    summary = _summary(result)
    assert summary["scan_id"] == result.scan_id
    assert summary["failed"] == 1
    assert summary["benchmark"] == "TEST_STIG"


def test_a_build_that_is_not_stig_is_refused(settings):
    plain = catalog.build(b.stig_series())
    with pytest.raises(ValidationError) as caught:
        stig_scan_import(image=plain, content=b.xccdf([(1, "high", "fail")]))
    assert "not a STIG variant" in str(caught.value.message_dict["digest"])
    assert _stored() == (0, 0, 0)
    assert _files(settings) == []


BAD_DOCUMENTS = {
    "malformed": (b"<Benchmark><TestResult></Benchmark>", "not well-formed XML"),
    "bomb": (BILLION_LAUGHS, "entities"),
    "external entity": (
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        "entities",
    ),
    "not results": (b"<html/>", "not XCCDF results"),
    "benchmark mismatch": (
        b.xccdf([(1, "high", "pass")], benchmark="xccdf_mil.disa.stig_benchmark_X"),
        "results are for benchmark",
    ),
    "unknown rule": (
        b.xccdf(
            [(1, "high", "pass"), (2, "low", "fail")], benchmark_rules=[(1, "high")]
        ),
        "does not have",
    ),
    "json not cklb": (b'{"rules": []}', 'object with "stigs"'),
    "broken json": (b'{"stigs": ', "not valid JSON"),
    "empty": (b"  \n", "empty"),
}


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_a_bad_document_is_refused_and_nothing_is_written(image, settings, name):
    content, error = BAD_DOCUMENTS[name]
    with pytest.raises(ValidationError) as caught:
        stig_scan_import(image=image, content=content)
    assert error in " ".join(caught.value.message_dict["document"])
    assert _stored() == (0, 0, 0)
    assert _files(settings) == []


def test_an_oversized_document_is_refused_before_reading(image, settings):
    settings.EVIDENCE_MAX_BYTES = 1000
    content = b.xccdf([(n, "medium", "pass") for n in range(1, 20)])
    assert len(content) > 1000
    with pytest.raises(ValidationError) as caught:
        stig_scan_import(image=image, content=content)
    assert "the limit is 1000" in str(caught.value)
    assert _stored() == (0, 0, 0)


def test_a_failure_while_writing_rows_leaves_no_scan_and_no_file(
    image, settings, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(StigRuleResult.objects, "bulk_create", broken)
    with pytest.raises(RuntimeError):
        stig_scan_import(image=image, content=b.xccdf([(1, "high", "fail")]))
    assert _stored() == (0, 0, 0)
    assert _files(settings) == []


def test_the_same_bytes_attached_as_other_evidence_are_refused(image):
    content = b.xccdf([(1, "high", "fail")])
    catalog.sbom(image, content=content, kind="sbom-cyclonedx")
    with pytest.raises(ValidationError) as caught:
        stig_scan_import(image=image, content=content)
    assert "already attached to the build as SBOM" in str(caught.value)


# --- STIG Viewer checklists go to their readers --------------------------------------


def _checklist_module(monkeypatch, **readers):
    """Stand-ins for the checklist readers (apps.stig.formats.ckl and .cklb): the
    dispatch is tested here, the readers in tests/stig/test_checklist*.py. The
    reader not given refuses to be called."""
    for name in ("ckl_parse", "cklb_parse"):
        reader = readers.get(name, lambda content, name=name: pytest.fail(name))
        monkeypatch.setattr(f"apps.stig.formats.{name[:-6]}.{name}", reader)


def _checklist_scan(source_format: str) -> ParsedScan:
    return ParsedScan(
        source_format=source_format,
        benchmark_id="RHEL_9_STIG",
        rules=[
            ParsedRule(rule_id="SV-1r1_rule", result="notapplicable", severity="low"),
            ParsedRule(rule_id="SV-2r1_rule", result="fail", severity="high"),
        ],
    )


def test_a_ckl_goes_to_the_checklist_reader(image, monkeypatch):
    seen = []

    def ckl_parse(content):
        seen.append(content)
        return _checklist_scan("ckl")

    _checklist_module(monkeypatch, ckl_parse=ckl_parse)
    content = b'<?xml version="1.0"?>\n<CHECKLIST><ASSET/></CHECKLIST>'
    result = stig_scan_import(image=image, content=content)
    assert seen == [content]
    scan = StigScan.objects.get(pk=result.scan_id)
    assert scan.source_format == "ckl"
    assert scan.attestation.media_type == "application/xml"
    assert scan.counts == {"1": {"fail": 1}, "3": {"notapplicable": 1}}


def test_a_cklb_goes_to_the_checklist_reader(image, monkeypatch):
    _checklist_module(monkeypatch, cklb_parse=lambda content: _checklist_scan("cklb"))
    content = json.dumps({"title": "x", "stigs": []}).encode()
    result = stig_scan_import(image=image, content=content)
    scan = StigScan.objects.get(pk=result.scan_id)
    assert scan.source_format == "cklb"
    assert scan.attestation.media_type == "application/json"
    assert (result.failed, result.not_applicable) == (1, 1)


def test_a_checklist_with_entities_never_reaches_its_reader(image, monkeypatch):
    _checklist_module(monkeypatch, ckl_parse=lambda content: pytest.fail("parsed"))
    content = b'<!DOCTYPE C [<!ENTITY x SYSTEM "file:///etc/passwd">]><CHECKLIST/>'
    with pytest.raises(ValidationError):
        stig_scan_import(image=image, content=content)


def test_a_reader_answer_with_a_duplicate_rule_is_refused(image, monkeypatch):
    scan = _checklist_scan("ckl")
    scan.rules.append(scan.rules[0])
    _checklist_module(monkeypatch, ckl_parse=lambda content: scan)
    with pytest.raises(ValidationError) as caught:
        stig_scan_import(image=image, content=b"<CHECKLIST/>")
    assert "two results" in str(caught.value)
    assert _stored() == (0, 0, 0)
