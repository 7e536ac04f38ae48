"""Reading OpenSCAP results: real XCCDF 1.2, 1.1 and ARF files, and every way a
document can be wrong or hostile."""

from __future__ import annotations

import http.server
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from apps.stig.formats.xccdf import RESULT_PRECEDENCE, RESULTS, xccdf_parse
from apps.stig.models import StigRuleResult

from .builders import ARF_SAMPLE, BENCHMARK, NS, RHEL8, RHSA_11, result_xml, xccdf

XCCDF = f"{{{NS}}}"


def _refusal(content: bytes, **kwargs) -> str:
    with pytest.raises(ValidationError) as caught:
        xccdf_parse(content, **kwargs)
    return " ".join(caught.value.message_dict["document"])


def test_the_reader_knows_exactly_the_results_the_model_stores():
    # The reader holds no model; its result values must stay the model's choices.
    assert frozenset(StigRuleResult.Result.values) == RESULTS
    assert len(RESULT_PRECEDENCE) == len(RESULTS)


# --- the real RHEL 8 STIG results (OpenSCAP 1.3.5, XCCDF 1.2) ------------------


@pytest.fixture(scope="module")
def rhel8():
    return RHEL8.read_bytes()


@pytest.fixture(scope="module")
def rhel8_scan(rhel8):
    return xccdf_parse(rhel8)


def _expected_results(content: bytes) -> Counter:
    """Counted with a plain regex, not with the code under test."""
    return Counter(re.findall(rb"<result>([a-z]+)</result>", content))


def test_rhel8_counts_match_the_file(rhel8, rhel8_scan):
    expected = _expected_results(rhel8)
    assert expected == {b"pass": 61, b"fail": 166, b"error": 21}
    got = Counter(r.result.encode() for r in rhel8_scan.rules)
    assert got == expected
    assert len(rhel8_scan.rules) == rhel8.count(b"<rule-result ")


def test_rhel8_severities_match_the_file(rhel8, rhel8_scan):
    root = ET.fromstring(rhel8)  # noqa: S314 - a fixture of this repository
    test_result = root.find(f"{XCCDF}TestResult")
    expected = Counter(
        rr.get("severity") for rr in test_result.iter(f"{XCCDF}rule-result")
    )
    assert Counter(r.severity for r in rhel8_scan.rules) == expected
    cats = Counter(r.cat for r in rhel8_scan.rules)
    assert cats == {1: expected["high"], 2: expected["medium"], 3: expected["low"]}


def test_rhel8_scan_header(rhel8_scan):
    scan = rhel8_scan
    assert scan.source_format == "xccdf"
    assert scan.benchmark_id == "RHEL_8_STIG"
    assert scan.benchmark_title.startswith("Red Hat Enterprise Linux 8 Security")
    assert scan.benchmark_version == "001.003"
    assert scan.release_info == "Release: 1.3 Benchmark Date: 27 Oct 2021"
    assert scan.scanner == "OpenSCAP 1.3.5"
    assert scan.target == "localhost"
    assert scan.score == Decimal("24.60")
    assert scan.score_max == Decimal("100.00")
    assert scan.score_system == "urn:xccdf:scoring:default"
    assert scan.started_at.isoformat() == "2021-11-12T11:37:26-05:00"
    assert scan.finished_at.isoformat() == "2021-11-12T11:37:31-05:00"
    # OpenSCAP's default profile: the TestResult names none.
    assert scan.profile_id == ""


def test_rhel8_rule_metadata_comes_from_the_benchmark(rhel8_scan):
    rules = {r.rule_id: r for r in rhel8_scan.rules}
    rule = rules["SV-230223r792855_rule"]
    assert rule.vuln_id == "V-230223"
    assert rule.stig_id == "RHEL-08-010020"
    assert rule.result == "fail"
    assert rule.severity == "high"
    assert rule.cat == 1
    assert rule.title.startswith("RHEL 8 must implement NIST FIPS-validated")
    # The discussion, without DISA's pseudo-XML wrapper.
    assert rule.description.startswith("Use of weak or untested encryption")
    assert "<VulnDiscussion>" not in rule.description
    assert "FalsePositives" not in rule.description
    assert rule.fix_text.startswith("Configure the operating system to implement DoD")
    assert rule.ccis == ["CCI-000068"]
    assert rule.weight == Decimal("10.00")
    assert "oval:mil.disa.stig.rhel8:def:101" in rule.check_text
    # No id keeps DISA's XCCDF prefixes.
    assert not any(r.rule_id.startswith("xccdf_") for r in rhel8_scan.rules)
    assert all(r.vuln_id.startswith("V-") for r in rhel8_scan.rules)


# --- XCCDF 1.1 (OpenSCAP 1.2.17, OVAL RHSA content) ------------------------------


def test_xccdf_1_1_results_are_read():
    content = RHSA_11.read_bytes()
    scan = xccdf_parse(content)
    assert Counter(r.result for r in scan.rules) == {"pass": 7, "fail": 1}
    assert len(scan.rules) == content.count(b"<rule-result ")
    assert scan.benchmark_id == "generated-xccdf"
    assert scan.scanner == "OpenSCAP 1.2.17"
    assert scan.target == "sample.system"
    # A time without an offset is read as UTC.
    assert scan.started_at.isoformat() == "2019-03-04T07:43:35+00:00"
    (failed,) = [r for r in scan.rules if r.result == "fail"]
    assert failed.title.startswith("RHSA-")
    assert failed.vuln_id == ""  # no DISA group: no V-number


# --- ARF ---------------------------------------------------------------------------


def test_real_arf_report_is_read():
    content = ARF_SAMPLE.read_bytes()
    scan = xccdf_parse(content)
    assert scan.source_format == "arf"
    assert scan.benchmark_id == "xccdf_com.example.www_benchmark_dummy"
    assert scan.benchmark_title == "Test Benchmark"
    assert scan.profile_id == "xccdf_com.example.www_profile_test_single_rule"
    assert scan.profile_title == "xccdf_test_profile"
    assert scan.target == "rh-hony"
    assert scan.score == Decimal("0.00")
    (rule,) = scan.rules
    assert rule.rule_id == "xccdf_com.example.www_rule_test-fail"
    assert rule.result == "fail"
    assert rule.title == "This rule always fail"
    assert rule.severity == "unknown"
    assert rule.cat is None


def _arf_of(content: bytes) -> bytes:
    """Wrap a Benchmark and its TestResult in an ARF asset-report-collection
    as ``oscap xccdf eval --results-arf`` lays it out: the Benchmark as a
    data-stream component in the report request, the TestResult as a report."""
    from lxml import etree

    root = etree.fromstring(content)
    (test_result,) = root.findall(f"{XCCDF}TestResult")
    root.remove(test_result)
    arf = "http://scap.nist.gov/schema/asset-reporting-format/1.1"
    ds = "http://scap.nist.gov/schema/scap/source/1.2"
    collection = etree.Element(f"{{{arf}}}asset-report-collection", nsmap={"arf": arf})
    request = etree.SubElement(
        etree.SubElement(collection, f"{{{arf}}}report-requests"),
        f"{{{arf}}}report-request",
        id="collection1",
    )
    stream = etree.SubElement(
        etree.SubElement(request, f"{{{arf}}}content"),
        f"{{{ds}}}data-stream-collection",
        nsmap={"ds": ds},
    )
    etree.SubElement(stream, f"{{{ds}}}component", id="comp_xccdf").append(root)
    report = etree.SubElement(
        etree.SubElement(collection, f"{{{arf}}}reports"),
        f"{{{arf}}}report",
        id="xccdf1",
    )
    etree.SubElement(report, f"{{{arf}}}content").append(test_result)
    return etree.tostring(collection, xml_declaration=True, encoding="UTF-8")


def test_rhel8_results_wrapped_in_arf_read_the_same(rhel8, rhel8_scan):
    scan = xccdf_parse(_arf_of(rhel8))
    assert scan.source_format == "arf"
    assert scan.benchmark_id == rhel8_scan.benchmark_id
    assert [(r.rule_id, r.result, r.severity, r.title) for r in scan.rules] == [
        (r.rule_id, r.result, r.severity, r.title) for r in rhel8_scan.rules
    ]


# --- shapes of results ---------------------------------------------------------------


def test_bare_test_result_uses_its_own_severity_and_idents():
    content = result_xml([(1, "high", "fail"), (2, "low", "pass")], xmlns=True)
    scan = xccdf_parse(content.encode())
    assert scan.benchmark_id == "TEST_STIG"  # named by the TestResult's reference
    assert [(r.rule_id, r.severity, r.cat) for r in scan.rules] == [
        ("SV-1r1_rule", "high", 1),
        ("SV-2r1_rule", "low", 3),
    ]
    assert scan.rules[0].ccis == ["CCI-000001"]
    assert scan.rules[0].stig_id == "TEST-1"
    assert scan.rules[0].title == ""  # no benchmark: no rule text


def test_the_scanners_severity_wins_over_the_benchmarks():
    """A tailored profile may refine a rule's severity; the rule-result carries
    the severity the scan applied."""
    scan = xccdf_parse(xccdf([(1, "low", "fail")], benchmark_rules=[(1, "high")]))
    assert scan.rules[0].severity == "low"


def test_profile_and_messages_are_read():
    scan = xccdf_parse(xccdf([(7, "medium", "fail")], messages={7: "found <bad>"}))
    assert scan.profile_id == "MAC-1_Public"
    assert scan.profile_title == "I - Mission Critical Public"
    assert scan.rules[0].finding_details == "found <bad>"
    assert scan.rules[0].check_text == "Check rule 7."
    assert scan.rules[0].description == "Why rule 7 matters."


def test_several_results_of_one_rule_merge_to_the_worst():
    content = xccdf([(1, "medium", "pass"), (1, "medium", "fail"), (2, "low", "pass")])
    scan = xccdf_parse(content)
    assert [(r.rule_id, r.result) for r in scan.rules] == [
        ("SV-1r1_rule", "fail"),
        ("SV-2r1_rule", "pass"),
    ]


def test_two_test_results_are_refused_unless_one_is_named():
    one = result_xml([(1, "high", "pass")], result_id="first")
    two = result_xml([(1, "high", "fail")], result_id="second")
    content = xccdf([(1, "high", "pass")]).replace(
        b"</Benchmark>", f"{one}{two}</Benchmark>".encode()
    )
    message = _refusal(content)
    assert "3 TestResults" in message
    assert "first" in message
    assert "second" in message
    assert xccdf_parse(content, test_result_id="second").rules[0].result == "fail"
    assert "No TestResult 'nope'" in _refusal(content, test_result_id="nope")


# --- bad documents -----------------------------------------------------------------


def test_malformed_xml_says_where():
    message = _refusal(
        b'<?xml version="1.0"?>\n<Benchmark>\n<TestResult>\n</Benchmark>'
    )
    assert "not well-formed XML (line 4" in message


def test_a_document_that_is_not_results_is_refused():
    assert "root element is <html>" in _refusal(b"<html><body>hi</body></html>")
    other = _refusal(b'<Benchmark xmlns="urn:example"/>')
    assert "not XCCDF results or an ARF report" in other
    assert "urn:example" in other


def test_a_source_data_stream_is_refused():
    content = (
        b'<ds:data-stream-collection xmlns:ds="http://scap.nist.gov/schema/scap/'
        b'source/1.2"/>'
    )
    assert "source data stream" in _refusal(content)


def test_a_benchmark_without_results_is_refused():
    content = xccdf([(1, "high", "pass")])
    content = re.sub(rb"<TestResult.*</TestResult>", b"", content, flags=re.S)
    assert "no TestResult" in _refusal(content)


def test_results_for_another_benchmark_are_refused():
    content = xccdf([(1, "high", "pass")], benchmark="xccdf_mil.disa.stig_benchmark_X")
    message = _refusal(content)
    assert "results are for benchmark xccdf_mil.disa.stig_benchmark_X" in message
    assert f"the document's benchmark is {BENCHMARK}" in message


def test_results_naming_rules_the_benchmark_lacks_are_refused():
    content = xccdf(
        [(1, "high", "pass"), (99, "low", "fail")], benchmark_rules=[(1, "high")]
    )
    message = _refusal(content)
    assert "1 rule results name rules" in message
    assert "xccdf_mil.disa.stig_rule_SV-99r1_rule" in message
    assert f"the results are for benchmark {BENCHMARK}" in message


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        ((b"<result>fail</result>", b"<result>broken</result>"), "not an XCCDF result"),
        ((b'idref="xccdf_mil.disa.stig_rule_SV-1r1_rule"', b""), "no idref"),
        (
            (b'start-time="2024-05-01T10:00:00+00:00"', b'start-time="yesterday"'),
            "date",
        ),
    ],
)
def test_bad_rule_results_are_refused(edit, error):
    content = xccdf([(1, "high", "fail")]).replace(*edit)
    assert error in _refusal(content)


def test_results_without_rules_are_refused():
    content = result_xml([], xmlns=True).encode()
    assert "no rule results" in _refusal(content)


# --- hostile documents: nothing is resolved, nothing expands ------------------------


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">
  <benchmark id="b"/><target>&lol9;</target>
</TestResult>"""


def test_billion_laughs_is_refused_without_expanding():
    assert "declares XML entities" in _refusal(BILLION_LAUGHS)


def test_external_file_entity_is_refused_and_not_read():
    content = (
        b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">'
        b"<target>&x;</target></TestResult>"
    )
    message = _refusal(content)
    assert "entities" in message
    assert "root:" not in message


@pytest.fixture
def listener():
    """A local HTTP server that records every request it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "pwned">')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/general.xml">]>',
        '<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}/parameter.dtd"> %p;]>',
    ],
)
def test_network_entities_are_refused_and_never_fetched(listener, doctype):
    url, hits = listener
    content = (
        '<?xml version="1.0"?>\n'
        + doctype.format(url=url)
        + '<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">'
        "<target>&x;</target></TestResult>"
    ).encode()
    assert "entities" in _refusal(content)
    assert hits == []


def test_entities_in_a_utf16_document_are_refused_after_parsing():
    """The byte scan cannot see them in UTF-16; the DTD check after a parse
    that resolves nothing does."""
    content = (
        '<?xml version="1.0" encoding="UTF-16"?>\n'
        '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<TestResult xmlns="http://checklists.nist.gov/xccdf/1.2" id="t">'
        "<target>&x;</target></TestResult>"
    ).encode("utf-16")
    assert b"<!ENTITY" not in content
    message = _refusal(content)
    assert "DOCTYPE declares entities" in message
