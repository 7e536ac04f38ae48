"""The evidence behind a report: the ledger's figures, canonical and stable."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.reports.evidence.common import figures_json, window_bounds
from apps.reports.evidence.document import build_evidence, canonical_json
from apps.reports.models import Report
from apps.sla.models import SlaClock
from apps.sla.selectors.metrics import sla_metrics
from apps.sla.selectors.overlay_figures import sla_overlay_figures

from .builders import compliance_org, report_for

pytestmark = pytest.mark.django_db


def sha(evidence: dict) -> str:
    return hashlib.sha256(canonical_json(evidence)).hexdigest()


def test_contract_figures_are_the_sla_selectors_figures():
    s = compliance_org()
    evidence = build_evidence(s.report)
    start, end = window_bounds(s.report)
    metrics = sla_metrics(org=s.org, start=start, end=end)
    contract = evidence["sla"]["contract"]
    by_severity = {row["severity"]: row for row in contract["severities"]}
    for severity, figures in metrics.severities.items():
        row = dict(by_severity[severity])
        row.pop("severity")
        assert row == figures_json(figures)
    assert contract["overall"] == figures_json(metrics.overall)
    # The builder's rows: 5 met, 2 missed, 2 breached in the window.
    assert (contract["overall"]["met"], contract["overall"]["missed"]) == (5, 2)
    assert contract["overall"]["breached"] == 2
    assert contract["overall"]["attainment"] == "55.6"


def test_overlay_figures_are_the_overlay_selectors_figures():
    s = compliance_org()
    evidence = build_evidence(s.report)
    start, end = window_bounds(s.report)
    figures = sla_overlay_figures(
        org=s.org, start=start, end=end, now=s.report.data_cutoff
    )
    rows = {row["key"]: row for row in evidence["sla"]["overlays"]}
    assert set(rows) == set(figures.summary)
    for key, entry in figures.summary.items():
        assert rows[key]["counts"] == entry["counts"]
        expected = entry["percent"]
        assert rows[key]["attainment"] == (
            None if expected is None else f"{expected:.1f}"
        )


def test_late_clocks_and_exemptions_carry_their_timelines_and_approvals():
    s = compliance_org()
    evidence = build_evidence(s.report)
    late = evidence["late_clocks"]
    assert sorted(c["state"] for c in late) == ["breached"] * 2 + ["missed"] * 2
    for clock in late:
        keys = [e["key"] for e in clock["timeline"]]
        assert {"started", "due", "detected"} <= set(keys)
    exempt = {e["stop_reason"]: e for e in evidence["exemptions"]}
    assert exempt["vex"]["vex"]["justification"] == (
        "vulnerable_code_not_in_execute_path"
    )
    waiver = exempt["waiver"]["waiver"]
    assert waiver["approved_by"] == s.staff[1].email
    assert waiver["requested_by"] == s.staff[0].email


def test_appendix_lists_every_clock_that_ran_in_the_window():
    s = compliance_org()
    evidence = build_evidence(s.report)
    appendix = evidence["appendix"]
    # Every builder row but the one fixed before the window.
    assert appendix["count"] == len(s.clocks) - 1
    ids = [row["id"] for row in appendix["clocks"]]
    assert s.clocks[-1].pk not in ids
    assert {row["vuln_id"] for row in appendix["clocks"]} == set(s.vuln_ids[:-1])
    started = [row["started_at"] for row in appendix["clocks"]]
    assert started == sorted(started)


def test_fips_stig_els_entitlements_and_controls_are_reported():
    s = compliance_org()
    evidence = build_evidence(s.report)
    assert [m["certificate"] for m in evidence["fips_modules"]] == [
        s.fips_module.certificate_number
    ]
    (build,) = evidence["stig"]
    (scan,) = build["scans"]
    assert scan["attestation_sha256"] == s.stig_scan.attestation.sha256
    assert scan["totals"] == [3, 1, 1, 0]
    els = {row["series"]: row for row in evidence["els"]}
    assert els["1.9"]["coverage"] == "extended"
    assert els["2.4"]["coverage"] == "supported"
    features = {row["feature"] for row in evidence["entitlements"]}
    assert {"sla", "fips", "stig"} <= features
    assert all(row["source"] == "contract" for row in evidence["entitlements"])
    kinds = {
        e["kind"]
        for control in evidence["controls"]
        for e in control["evidence"]
        if e["present"]
    }
    assert {"sla_ledger", "stig_scans", "fips_modules", "els_coverage"} <= kinds


def test_same_inputs_give_the_same_hash_and_one_change_another():
    s = compliance_org()
    first = canonical_json(build_evidence(s.report))
    assert canonical_json(build_evidence(s.report)) == first
    assert first.endswith(b"\n")
    assert json.loads(first)["report"]["id"] == str(s.report.public_id)
    clock = SlaClock.objects.get(pk=s.clocks[0].pk)
    clock.due_at += timedelta(seconds=1)
    clock.save(update_fields=["due_at"])
    assert sha(build_evidence(s.report)) != hashlib.sha256(first).hexdigest()


def test_fips_modules_are_those_of_the_window_s_mirrors():
    # The FIPS section once read today's FIPS mirrors while the scope
    # section read the window's: "No repository was mirrored" beside a FIPS
    # inventory, when the mirror was made after the window.
    s = compliance_org()
    assert build_evidence(s.report)["fips_modules"]
    Mirror.objects.filter(org=s.org).update(created_at=timezone.now())
    evidence = build_evidence(s.report)
    assert evidence["mirrors"] == []
    assert evidence["fips_modules"] == evidence["stig"] == evidence["els"] == []


def test_canonical_json_sorts_keys_and_keeps_unicode():
    assert canonical_json({"b": 1, "a": ["é", None]}) == (
        '{"a":["é",null],"b":1}\n'.encode()
    )
    with pytest.raises(ValueError, match="JSON compliant"):
        canonical_json({"x": float("nan")})


def test_progress_is_reported_in_increasing_steps():
    s = compliance_org(with_fips=False, with_stig=False, with_els=False)
    seen: list[tuple[int, str]] = []
    evidence = build_evidence(s.report, progress=lambda p, st: seen.append((p, st)))
    percents = [p for p, _ in seen]
    assert percents == sorted(percents)
    assert percents[-1] <= 100
    assert evidence["fips_modules"] == evidence["stig"] == []


def test_a_window_after_the_data_cutoff_is_refused():
    s = compliance_org(with_fips=False, with_stig=False, with_els=False)
    report = report_for(
        s.org, window=s.window, data_cutoff=window_bounds(s.report)[0] - timedelta(1)
    )
    with pytest.raises(ValueError, match="cut-off"):
        build_evidence(report)


def test_an_unknown_kind_is_refused():
    s = compliance_org(with_fips=False, with_stig=False, with_els=False)
    s.report.kind = Report.Kind.POAM
    with pytest.raises(ValueError, match="No evidence"):
        build_evidence(s.report)


def test_sla_performance_lists_each_customer_with_its_figures():
    a = compliance_org(with_fips=False, with_stig=False, with_els=False)
    b = compliance_org(with_fips=False, with_stig=False, with_els=False)
    report = report_for(None, kind=Report.Kind.SLA_PERFORMANCE, window=a.window)
    evidence = build_evidence(report)
    start, end = window_bounds(report)
    names = [c["org"]["name"] for c in evidence["customers"]]
    assert names == sorted([a.org.name, b.org.name])
    for customer, org in zip(
        evidence["customers"], sorted([a.org, b.org], key=lambda o: o.name), strict=True
    ):
        assert customer["overall"] == figures_json(
            sla_metrics(org=org, start=start, end=end).overall
        )
    assert evidence["all_customers"]["overall"]["met"] == 10


def test_image_dossier_lists_components_findings_vex_and_evidence():
    from tests.catalog import builders as catalog

    s = compliance_org(with_fips=False, with_els=False)
    image = s.stig_scan.digest
    comp = catalog.component("openssl", "3.0.13-r0")
    catalog.contains(image, comp)
    vuln = catalog.vulnerability("CVE-2026-99001", severity="critical")
    catalog.finding(image, vuln, comp)
    catalog.vex(vuln, image=image, impact_statement="Not reachable.")
    report = report_for(
        s.org,
        kind=Report.Kind.IMAGE_DOSSIER,
        digest=image,
        data_cutoff=s.report.data_cutoff + timedelta(days=2),
    )
    evidence = build_evidence(report)
    assert evidence["image"]["digest"] == image.digest
    assert [c["purl"] for c in evidence["components"]] == [comp.purl]
    (finding,) = evidence["findings"]
    assert finding["vuln_id"] == "CVE-2026-99001"
    assert finding["vex"][0]["status"] == "not_affected"
    kinds = [a["kind"] for a in evidence["attestations"]]
    assert "stig-scan" in kinds
    assert "sbom-cyclonedx" in kinds
    assert evidence["stig"][0]["totals"] == [3, 1, 1, 0]
