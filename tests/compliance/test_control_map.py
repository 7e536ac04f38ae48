"""The control map as data: the shipped map, its page, and bad maps refused
with the stored map left as it was."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.compliance.models import Control, ControlEvidence
from apps.compliance.selectors import control_map, controls_supported_by
from apps.compliance.services import DEFAULT_MAP, control_map_load

pytestmark = pytest.mark.django_db

REQUIRED = {
    ("nist-800-53r5", "SI-2"),
    ("nist-800-53r5", "RA-5"),
    ("nist-800-53r5", "CM-6"),
    ("nist-800-53r5", "SC-13"),
    ("nist-800-53r5", "SA-22"),
    ("fedramp", "RA-5(d)"),
    ("pci-dss-4", "6.3.3"),
}


@pytest.fixture
def shipped():
    control_map_load()


def _doc(**changes) -> dict:
    doc = json.loads(DEFAULT_MAP.read_bytes())
    doc.update(changes)
    return doc


def test_the_shipped_map_covers_the_controls_and_every_kind_of_evidence(shipped):
    stored = {(c.framework, c.control_id) for c in Control.objects.all()}
    assert stored >= REQUIRED
    assert any(f == "eu-cra" for f, _ in stored)
    kinds = set(ControlEvidence.objects.values_list("kind", flat=True))
    assert kinds == {
        "sla_ledger",
        "stig_scans",
        "fips_modules",
        "els_coverage",
        "sbom",
        "vex",
        "provenance",
    }
    sc13 = Control.objects.get(control_id="SC-13")
    assert list(sc13.evidence.values_list("kind", flat=True)) == ["fips_modules"]
    cm6 = Control.objects.get(control_id="CM-6")
    assert list(cm6.evidence.values_list("kind", flat=True)) == ["stig_scans"]


def test_loading_twice_changes_nothing(shipped):
    before = list(
        ControlEvidence.objects.values_list("control__control_id", "kind", "rationale")
    )
    result = control_map_load()
    assert result.removed == 0
    after = list(
        ControlEvidence.objects.values_list("control__control_id", "kind", "rationale")
    )
    assert sorted(before) == sorted(after)


def test_a_new_map_replaces_the_old_one(shipped):
    doc = _doc()
    doc["controls"] = [c for c in doc["controls"] if c["control_id"] != "SA-22"]
    doc["controls"][0]["evidence"] = {"sla_ledger": "Only the ledger."}
    result = control_map_load(content=json.dumps(doc).encode())
    assert result.removed == 1
    assert not Control.objects.filter(control_id="SA-22").exists()
    si2 = Control.objects.get(control_id="SI-2")
    assert list(si2.evidence.values_list("kind", "rationale")) == [
        ("sla_ledger", "Only the ledger.")
    ]


def test_controls_supported_by_lists_only_the_given_evidence(shipped):
    rows = controls_supported_by({"fips_modules"})
    assert [c.control_id for c in rows] == ["SC-13"]
    assert [e.kind for e in rows[0].supported] == ["fips_modules"]
    ledger = {c.control_id for c in controls_supported_by({"sla_ledger"})}
    assert {"SI-2", "RA-5", "RA-5(d)", "6.3.3"} <= ledger


def _bad(mutate):
    doc = _doc()
    mutate(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[]", '"controls" list'),
        (json.dumps({"controls": []}).encode(), "no controls"),
        (
            _bad(lambda d: d["controls"][0].update(framework="iso-27001")),
            "unknown framework",
        ),
        (
            _bad(lambda d: d["controls"][0].update(evidence={"hunch": "x"})),
            "unknown evidence kind",
        ),
        (
            _bad(lambda d: d["controls"][0].update(evidence={"sbom": ""})),
            "needs a rationale",
        ),
        (_bad(lambda d: d["controls"][0].update(evidence={})), "evidence"),
        (_bad(lambda d: d["controls"][0].pop("title")), "'title'"),
        (
            _bad(lambda d: d["controls"][0].update(control_id="X" * 65)),
            "longer than 64",
        ),
        (_bad(lambda d: d["controls"].append(d["controls"][0])), "listed twice"),
        (_bad(lambda d: d["controls"].append("SI-2")), "expected an object"),
    ],
)
def test_bad_maps_are_refused_and_the_stored_map_kept(shipped, content, fragment):
    before = sorted(ControlEvidence.objects.values_list("control__control_id", "kind"))
    with pytest.raises(ValidationError) as caught:
        control_map_load(content=content)
    assert fragment in " ".join(caught.value.messages)
    assert (
        sorted(ControlEvidence.objects.values_list("control__control_id", "kind"))
        == before
    )


def test_an_oversized_map_is_refused(shipped, settings):
    settings.EVIDENCE_MAX_BYTES = 100
    with pytest.raises(ValidationError, match="limit"):
        control_map_load()


def test_the_command_loads_and_reports_bad_files(tmp_path, shipped):
    out = StringIO()
    call_command("controls_load", stdout=out)
    assert "13 controls" in out.getvalue()
    bad = tmp_path / "map.json"
    bad.write_text('{"controls": [{"framework": "nist-800-53r5"}]}')
    with pytest.raises(CommandError, match="control_id"):
        call_command("controls_load", str(bad))
    with pytest.raises(CommandError, match="no such file"):
        call_command("controls_load", str(tmp_path / "missing.json"))
    assert Control.objects.count() == 13


def test_the_page_lists_every_control_in_two_queries(
    client, shipped, django_assert_num_queries
):
    with django_assert_num_queries(2):
        response = client.get("/compliance/controls/")
    page = response.content.decode()
    assert response.status_code == 200
    for _, control_id in REQUIRED:
        assert f"<strong>{control_id}</strong>" in page
    assert page.count('class="evidence-row"') == ControlEvidence.objects.count()
    assert len(list(control_map())) == 13
