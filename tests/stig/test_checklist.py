"""STIG Viewer checklists (.ckl, .cklb) read and written, checked against real
files: two .ckl (STIG Viewer 2.17 and Heimdall-written) from mitre/saf and a
.cklb from mitre/heimdall2 (see ATTRIBUTION.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from lxml import etree

from apps.stig.formats.checklist import (
    Checklist,
    Stig,
    StigInfo,
    Vuln,
    checklist_to_parsed,
)
from apps.stig.formats.ckl import ckl_dumps, ckl_loads, ckl_parse
from apps.stig.formats.cklb import CKLB_STATUS, cklb_dumps, cklb_loads, cklb_parse

DATA = Path(__file__).parent / "data"
SMALL_CKL = DATA / "saf__small_ckl_overrides.ckl"  # written by STIG Viewer 2.17
RHEL7_CKL = DATA / "saf__converted-rhel7_overrides.ckl"  # written by Heimdall
SAMPLE_CKLB = DATA / "heimdall2__converted-rhel8_sample_oneOfEachControlStatus.cklb"
REAL_CKL = [SMALL_CKL, RHEL7_CKL]

# Keys STIG Viewer 3 writes that the Heimdall-converted sample leaves out: the
# STIG's uuid and reference_identifier, each rule's stig_uuid/STIGUuid (the STIG's
# uuid again) and createdAt/updatedAt.
SV3_ONLY_STIG_KEYS = {"uuid", "reference_identifier"}
SV3_ONLY_RULE_KEYS = {"stig_uuid", "STIGUuid", "createdAt", "updatedAt"}


def _bytes(path: Path) -> bytes:
    return path.read_bytes()


def _refused(call, content: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        call(content)
    return caught.value.message_dict["document"][0]


# --- the real files -------------------------------------------------------------


@pytest.mark.parametrize("path", REAL_CKL, ids=lambda p: p.name)
def test_a_real_ckl_round_trips_every_field(path):
    first = ckl_loads(_bytes(path))
    again = ckl_loads(ckl_dumps(first))
    assert again == first
    assert first.stigs[0].vulns, "nothing was read"


def test_a_stig_viewer_ckl_is_written_back_byte_for_byte():
    content = _bytes(SMALL_CKL)
    assert ckl_dumps(ckl_loads(content)) == content


def test_a_heimdall_ckl_differs_only_in_the_header_comment():
    content = _bytes(RHEL7_CKL)
    ours = ckl_dumps(ckl_loads(content)).splitlines()
    theirs = content.splitlines()
    assert theirs[1] == b"<!--Heimdall Version :: 2.10.8-->"
    assert ours[1] == b"<!--DISA STIG Viewer :: 2.17-->"
    assert ours[:1] + ours[2:] == theirs[:1] + theirs[2:]


def test_the_small_ckl_reads_as_stig_viewer_wrote_it():
    checklist = ckl_loads(_bytes(SMALL_CKL))
    assert checklist.asset.marking == "CUI"
    assert checklist.asset.target_key == "5551"
    assert checklist.asset.web_or_database is False
    (stig,) = checklist.stigs
    assert stig.info.stigid == "RHEL_9_STIG"
    assert stig.info.releaseinfo == "Release: 3 Benchmark Date: 24 Apr 2024"
    assert stig.info.customname == ""  # an SI_DATA without SID_DATA
    assert len(stig.vulns) == 11
    first = stig.vulns[0]
    assert (first.vuln_num, first.rule_id, first.rule_ver) == (
        "V-257777",
        "SV-257777r925318_rule",
        "RHEL-09-211010",
    )
    assert first.status == "Not_Applicable"
    assert first.severity == "high"
    assert first.severity_override == "medium"
    assert first.severity_justification == "Testing both N/A and overidden"
    assert first.legacy_ids == ["", ""]
    assert first.ccis == ["CCI-000366"]
    assert len(stig.vulns[2].ccis) == 6
    assert [v.status for v in stig.vulns].count("Not_Reviewed") == 4


def _vuln_sequence(vuln: etree._Element) -> list[str]:
    return [
        c.findtext("VULN_ATTRIBUTE") if c.tag == "STIG_DATA" else c.tag for c in vuln
    ]


def _collapse(sequence: list[str]) -> list[str]:
    """Repeated LEGACY_ID / CCI_REF as one entry: their count varies by rule."""
    out: list[str] = []
    for name in sequence:
        if not (out and out[-1] == name and name in ("LEGACY_ID", "CCI_REF")):
            out.append(name)
    return out


def test_an_exported_ckl_has_the_element_names_and_order_of_real_ones():
    real = etree.fromstring(_bytes(SMALL_CKL))
    real_vuln_order = _collapse(_vuln_sequence(real.find(".//VULN")))
    real_si = [e.text for e in real.iterfind(".//SI_DATA/SID_NAME")]
    real_asset = [e.tag for e in real.find("ASSET")]

    vuln = Vuln(
        vuln_num="V-1",
        rule_id="SV-1r1_rule",
        severity="low",
        legacy_ids=["V-0", "SV-0"],
        ccis=["CCI-000001", "CCI-000002"],
        status="Open",
    )
    ours = etree.fromstring(
        ckl_dumps(
            Checklist(stigs=[Stig(info=StigInfo(stigid="X", title="X"), vulns=[vuln])])
        )
    )
    assert [e.tag for e in ours.find("ASSET")] == real_asset
    assert [e.text for e in ours.iterfind(".//SI_DATA/SID_NAME")] == real_si
    assert _collapse(_vuln_sequence(ours.find(".//VULN"))) == real_vuln_order
    for path in REAL_CKL:
        other = etree.fromstring(_bytes(path))
        for v in other.iterfind(".//VULN"):
            sequence = _collapse(_vuln_sequence(v))
            # The rhel7 file has no LEGACY_ID: the order is otherwise the same.
            assert [s for s in real_vuln_order if s in sequence] == sequence


def test_the_heimdall_cklb_round_trips_every_field():
    first = cklb_loads(_bytes(SAMPLE_CKLB))
    again = cklb_loads(cklb_dumps(first))
    assert again == first
    (stig,) = first.stigs
    assert [v.status for v in stig.vulns] == [
        "NotAFinding",
        "Open",
        "Not_Applicable",
        "Not_Reviewed",
    ]
    assert stig.vulns[1].finding_details.startswith(
        "failed :: TEST List of out-of-date packages"
    )
    assert stig.vulns[0].rule_id == "SV-230221r858734_rule"
    assert stig.vulns[0].ccis == ["CCI-000366"]
    assert stig.vulns[0].group_tree == []


def _key_sets(document: dict) -> dict[str, set[str]]:
    stig = document["stigs"][0]
    return {
        "top": set(document),
        "target_data": set(document["target_data"]),
        "stig": set(stig),
        "rule": set(stig["rules"][0]),
    }


@pytest.mark.parametrize(
    "source",
    [
        lambda: ckl_loads(_bytes(SMALL_CKL)),
        lambda: cklb_loads(_bytes(SAMPLE_CKLB)),
        lambda: Checklist(stigs=[Stig(info=StigInfo(stigid="X"), vulns=[Vuln()])]),
    ],
    ids=["from-ckl", "from-cklb", "minimal"],
)
def test_an_exported_cklb_has_the_samples_keys_and_stig_viewer_3s(source):
    sample = _key_sets(json.loads(_bytes(SAMPLE_CKLB)))
    ours = _key_sets(json.loads(cklb_dumps(source())))
    assert ours["top"] == sample["top"]
    assert ours["target_data"] == sample["target_data"]
    assert ours["stig"] == sample["stig"] | SV3_ONLY_STIG_KEYS
    assert ours["rule"] == sample["rule"] | SV3_ONLY_RULE_KEYS
    # Every sample rule has the same keys: the first stands for all.
    rules = json.loads(_bytes(SAMPLE_CKLB))["stigs"][0]["rules"]
    assert all(set(r) == sample["rule"] for r in rules)


def test_an_exported_cklb_links_rules_to_their_stig():
    document = json.loads(cklb_dumps(ckl_loads(_bytes(RHEL7_CKL))))
    (stig,) = document["stigs"]
    assert stig["size"] == len(stig["rules"]) == 4
    assert document["cklb_version"] == "1.0"
    for rule in stig["rules"]:
        assert rule["stig_uuid"] == rule["STIGUuid"]
        assert rule["status"] in CKLB_STATUS.values()
        assert rule["rule_id_src"].endswith("_rule")
        assert not rule["rule_id"].endswith("_rule")
    assert len({r["uuid"] for r in stig["rules"]}) == 4
    # The same checklist gives the same file: ids are derived, not random.
    assert cklb_dumps(ckl_loads(_bytes(RHEL7_CKL))) == cklb_dumps(
        ckl_loads(_bytes(RHEL7_CKL))
    )


def test_a_severity_override_survives_the_cklb():
    checklist = ckl_loads(_bytes(SMALL_CKL))
    document = json.loads(cklb_dumps(checklist))
    assert document["stigs"][0]["rules"][0]["overrides"] == {
        "severity": {"severity": "medium", "reason": "Testing both N/A and overidden"}
    }
    assert document["stigs"][0]["rules"][3]["overrides"] == {}


@pytest.mark.parametrize("path", REAL_CKL, ids=lambda p: p.name)
def test_ckl_to_cklb_to_ckl_keeps_the_review(path):
    first = ckl_loads(_bytes(path))
    back = ckl_loads(ckl_dumps(cklb_loads(cklb_dumps(first))))

    def review(c: Checklist):
        return [
            (
                v.rule_id,
                v.vuln_num,
                v.status,
                v.finding_details,
                v.comments,
                v.ccis,
                v.severity_override,
                v.severity_justification,
            )
            for v in c.stigs[0].vulns
        ]

    assert review(back) == review(first)
    assert back.asset.host_name == first.asset.host_name
    assert back.stigs[0].info.stigid == first.stigs[0].info.stigid
    assert back.stigs[0].info.releaseinfo == first.stigs[0].info.releaseinfo


def test_comments_reach_the_cklb_and_come_back():
    checklist = ckl_loads(_bytes(RHEL7_CKL))
    checklist.stigs[0].vulns[0].comments = "Reviewed by the ISSO <ok> & signed"
    back = ckl_loads(ckl_dumps(cklb_loads(cklb_dumps(checklist))))
    assert back.stigs[0].vulns[0].comments == "Reviewed by the ISSO <ok> & signed"


# --- what the importer gets -----------------------------------------------------


def test_ckl_parse_gives_the_importer_one_rule_per_vuln():
    scan = ckl_parse(_bytes(RHEL7_CKL))
    assert scan.source_format == "ckl"
    assert scan.benchmark_id == "disa_stig-el7"
    assert scan.benchmark_title == "DISA RedHat Enterprise Linux 7 STIG - v1r4"
    assert scan.release_info == "Release: 2"
    assert [(r.rule_id, r.result, r.severity, r.cat) for r in scan.rules] == [
        ("SV-86473r2_rule", "fail", "high", 1),
        ("SV-86479r2_rule", "notchecked", "low", 3),
        ("SV-86483r3_rule", "fail", "high", 1),
        ("SV-86485r3_rule", "fail", "low", 3),
    ]
    first = scan.rules[0]
    assert first.vuln_id == "V-71849"
    assert first.stig_id == "RHEL-07-010010"
    assert first.finding_details.startswith("failed :: TEST not important")
    assert first.ccis == ["CCI-001494", "CCI-001496"]
    # The override is not the benchmark's severity: it goes to the comments.
    assert "Severity overridden to medium: This system is not important" in (
        scan.rules[1].comments
    )


def test_cklb_parse_maps_the_four_statuses():
    scan = cklb_parse(_bytes(SAMPLE_CKLB))
    assert scan.source_format == "cklb"
    assert scan.benchmark_id == "redhat-enterprise-linux-8-stig-baseline"
    assert [r.result for r in scan.rules] == [
        "pass",
        "fail",
        "notapplicable",
        "notchecked",
    ]
    assert [r.severity for r in scan.rules] == ["high", "medium", "high", "medium"]


def test_empty_cci_refs_do_not_become_ccis():
    checklist = Checklist(
        stigs=[
            Stig(info=StigInfo(stigid="S"), vulns=[Vuln(rule_id="R", ccis=["", " "])])
        ]
    )
    assert checklist_to_parsed(checklist).rules[0].ccis == []


def test_a_checklist_of_several_stigs_is_refused_naming_them():
    checklist = ckl_loads(_bytes(RHEL7_CKL))
    second = dataclasses.replace(
        checklist.stigs[0], info=StigInfo(stigid="Second_STIG")
    )
    checklist.stigs.append(second)
    content = ckl_dumps(checklist)
    message = _refused(ckl_parse, content)
    assert "holds 2 STIGs (disa_stig-el7, Second_STIG)" in message
    assert "one checklist per STIG" in message


def test_a_rule_twice_is_refused():
    checklist = ckl_loads(_bytes(RHEL7_CKL))
    checklist.stigs[0].vulns.append(checklist.stigs[0].vulns[0])
    assert "SV-86473r2_rule appears twice" in _refused(ckl_parse, ckl_dumps(checklist))


# --- bad input ------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE CHECKLIST [
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
<CHECKLIST><ASSET><HOST_NAME>&lol9;</HOST_NAME></ASSET>
<STIGS><iSTIG><VULN><STIG_DATA><VULN_ATTRIBUTE>Rule_ID</VULN_ATTRIBUTE>
<ATTRIBUTE_DATA>&lol9;</ATTRIBUTE_DATA></STIG_DATA></VULN></iSTIG></STIGS></CHECKLIST>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE CHECKLIST [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<CHECKLIST><ASSET><HOST_NAME>&xxe;</HOST_NAME></ASSET><STIGS><iSTIG><VULN>
<STIG_DATA><VULN_ATTRIBUTE>Rule_ID</VULN_ATTRIBUTE><ATTRIBUTE_DATA>R</ATTRIBUTE_DATA>
</STIG_DATA></VULN></iSTIG></STIGS></CHECKLIST>
"""

PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE CHECKLIST [<!ENTITY % remote SYSTEM "http://example.invalid/x.dtd"> %remote;]>
<CHECKLIST/>
"""


# The same in UTF-16, where the bytes "<!ENTITY" do not occur: the parser's
# view of the DOCTYPE refuses it.
EXTERNAL_ENTITY_UTF16 = (
    EXTERNAL_ENTITY.decode()
    .replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    .encode("utf-16")
)


@pytest.mark.parametrize(
    "content",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY, EXTERNAL_ENTITY_UTF16],
    ids=["billion-laughs", "external-entity", "parameter-entity", "utf-16"],
)
def test_entity_declarations_are_refused(content):
    message = _refused(ckl_loads, content)
    assert "declares XML entities" in message
    assert "root:" not in message  # /etc/passwd was not read


def test_malformed_xml_is_refused_naming_the_line():
    content = _bytes(RHEL7_CKL).replace(b"</HOST_NAME>", b"</HOST>", 1)
    message = _refused(ckl_loads, content)
    assert message.startswith("The checklist is not well-formed XML (line 8,")
    assert "HOST_NAME" in message


def test_xml_that_is_not_a_checklist_is_refused():
    message = _refused(ckl_loads, b"<Benchmark><title>x</title></Benchmark>")
    assert "root element is <Benchmark>" in message


def test_a_ckl_without_stigs_is_refused():
    assert "no STIG in it" in _refused(ckl_loads, b"<CHECKLIST><ASSET/></CHECKLIST>")


def test_an_unknown_ckl_status_is_refused_naming_the_rule():
    content = _bytes(RHEL7_CKL).replace(
        b"<STATUS>Not_Reviewed</STATUS>", b"<STATUS>Maybe</STATUS>", 1
    )
    message = _refused(ckl_loads, content)
    assert "Rule SV-86479r2_rule" in message
    assert "'Maybe'" in message


def test_an_unknown_cklb_status_is_refused_naming_the_rule():
    document = json.loads(_bytes(SAMPLE_CKLB))
    document["stigs"][0]["rules"][2]["status"] = "passed"
    message = _refused(cklb_loads, json.dumps(document).encode())
    assert "Rule SV-230223r928585_rule" in message
    assert "'passed'" in message
    assert "not_a_finding" in message


def test_malformed_json_is_refused_naming_the_line():
    content = _bytes(SAMPLE_CKLB)[:5000]
    message = _refused(cklb_loads, b'{\n  "stigs": [\n    {"rules": [}\n')
    assert message.startswith("The checklist is not valid JSON (line 3,")
    assert "not valid JSON" in _refused(cklb_loads, content)


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"title": "x", "target_data": {}}, 'has no "stigs"'),
        ({"stigs": []}, 'has no "stigs"'),
        ([{"stigs": []}], "is a JSON object"),
        ({"stigs": ["x"]}, "STIG 1 of the .cklb is not an object"),
        ({"stigs": [{"stig_name": "S", "rules": {}}]}, "rules of STIG 'S'"),
        ({"stigs": [{"stig_name": "S", "rules": [{"ccis": "CCI-1"}]}]}, "not a list"),
        ({"stigs": [{"rules": []}], "target_data": []}, "target_data"),
        ({"stigs": [{"rules": [{"rule_id": "R", "status": ["open"]}]}]}, "Rule R"),
    ],
)
def test_cklb_documents_of_the_wrong_shape_are_refused(document, fragment):
    assert fragment in _refused(cklb_loads, json.dumps(document).encode())


def test_deeply_nested_json_is_refused():
    content = b'{"stigs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert "nested too deeply" in _refused(cklb_loads, content)


def test_deeply_nested_xml_is_refused():
    content = b"<CHECKLIST>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</CHECKLIST>"
    assert "not well-formed XML" in _refused(ckl_loads, content)


@pytest.mark.parametrize("call", [ckl_loads, cklb_loads])
def test_an_oversized_checklist_is_refused(call, settings):
    settings.EVIDENCE_MAX_BYTES = 1000
    message = _refused(call, b" " * 1001)
    assert message == "The checklist is 1001 bytes; the limit is 1000."


@pytest.mark.parametrize("call", [ckl_loads, cklb_loads])
def test_an_empty_checklist_is_refused(call):
    assert _refused(call, b"  \n") == "The checklist is empty."


def test_control_characters_in_text_do_not_break_the_ckl():
    vuln = Vuln(rule_id="R", finding_details="bell\x07 and escape\x1b gone")
    checklist = Checklist(stigs=[Stig(info=StigInfo(stigid="S"), vulns=[vuln])])
    back = ckl_loads(ckl_dumps(checklist))
    assert back.stigs[0].vulns[0].finding_details == "bell and escape gone"
