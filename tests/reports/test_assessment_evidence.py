"""Reports state what may be said of vulnerabilities, and name the advisory
sources they rest on: per ecosystem, with their last import and records."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core.management import call_command

from apps.entitlements.models import Mirror
from apps.reports.evidence.document import build_evidence
from apps.reports.models import Report
from apps.reports.render import report_html
from apps.vulns.services import findings_match, osv_import
from tests.catalog import builders as catalog
from tests.vulns.feed_helpers import KEV, OSV

from .builders import compliance_org, report_for

pytestmark = pytest.mark.django_db

IMPORTED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def jammy_component(name: str):
    comp = catalog.component(name, "2.35-0ubuntu3.1", kind="deb")
    comp.namespace, comp.distro = "ubuntu", "ubuntu-22.04"
    comp.save()
    return comp


def feeds(at: datetime = IMPORTED) -> None:
    with time_machine.travel(at, tick=False):
        osv_import(path=OSV / "ubuntu", source="ubuntu")
        call_command(
            "import_kev", str(KEV / "known_exploited_vulnerabilities.json"), stdout=None
        )


def dossier(image, cutoff: datetime | None = None) -> tuple[Report, dict]:
    report = report_for(
        None, kind=Report.Kind.IMAGE_DOSSIER, digest=image, data_cutoff=cutoff
    )
    return report, build_evidence(report)


def html(report: Report, evidence: dict) -> str:
    return report_html(report, evidence, evidence_sha256="0" * 64)


def test_a_dossier_of_a_build_without_sbom_says_not_assessed():
    feeds()
    image = catalog.build(catalog.series(catalog.repository("busybox"), "1.37"))
    report, evidence = dossier(image)
    assert evidence["finding_counts"] == {}
    assert evidence["assessment"] == {
        "state": "not_assessed",
        "text": "Not assessed: no SBOM",
        "has_sbom": False,
        "open_vulnerabilities": None,
        "ecosystems": [],
    }
    assert evidence["advisory_sources"] == []
    page = html(report, evidence)
    assert "Not assessed: no SBOM" in page
    findings_row = page.split("<td>Findings</td>")[1].split("</tr>")[0]
    assert "none" not in findings_row
    assert "no known vulnerabilities" not in findings_row.lower()
    assert "No known vulnerabilities" not in page


def test_a_dossier_of_a_partly_covered_build_names_the_missing_ecosystem():
    feeds()
    image = catalog.build(catalog.series(catalog.repository("nginx"), "1.27"))
    attestation = catalog.sbom(image)
    catalog.contains(image, catalog.component("musl", "1.2.5-r0"), attestation)
    catalog.contains(image, jammy_component("zlib1g"), attestation)
    findings_match()
    report, evidence = dossier(image)
    assessment = evidence["assessment"]
    assert assessment["state"] == "partial"
    assert assessment["text"] == (
        "Partially assessed: no advisory source for alpine-3.20 (apk)"
    )
    by_key = {e["ecosystem"]: e for e in assessment["ecosystems"]}
    assert by_key["apk/alpine-3.20"]["covered"] is False
    assert by_key["apk/alpine-3.20"]["sources"] == []
    assert [s["name"] for s in by_key["deb/ubuntu-22.04"]["sources"]] == [
        "OSV Ubuntu:22.04:LTS"
    ]
    page = html(report, evidence)
    assert "No advisory source: not assessed" in page


def test_a_dossier_names_its_sources_per_ecosystem_with_import_time_and_records():
    feeds()
    image = catalog.build(catalog.series(catalog.repository("ubuntu-base"), "22.04"))
    catalog.contains(image, jammy_component("zlib1g"))
    findings_match()
    report, evidence = dossier(image)
    assert evidence["assessment"]["state"] == "assessed"
    assert evidence["assessment"]["open_vulnerabilities"] == 0
    assert evidence["advisory_sources"] == [
        {
            "name": "OSV Ubuntu:22.04:LTS",
            "ecosystem": "Ubuntu:22.04:LTS",
            "imported_at": "2026-03-02T09:00:00Z",
            "records": 1,
            "records_in_last_import": 1,
            "imported_from": "ubuntu",
            "covers": ["deb/ubuntu-22.04"],
        }
    ]
    kev = evidence["kev"]
    assert kev["imported_at"] == "2026-03-02T09:00:00Z"
    assert kev["imported_from"] == "known_exploited_vulnerabilities.json"
    page = html(report, evidence)
    findings_row = page.split("<td>Findings</td>")[1].split("</tr>")[0]
    assert "no known vulnerabilities" in findings_row
    assert "Assessed against OSV Ubuntu:22.04:LTS as of 2026-03-02 09:00 UTC" in page


def test_a_dossier_counts_only_sources_imported_by_its_cutoff():
    image = catalog.build(
        catalog.series(catalog.repository("ubuntu-base"), "22.04"),
        built_at=IMPORTED - timedelta(days=10),
    )
    catalog.contains(image, jammy_component("zlib1g"))
    feeds(IMPORTED)
    findings_match()
    _, before = dossier(image, cutoff=IMPORTED - timedelta(hours=1))
    assert before["assessment"]["state"] == "not_assessed"
    assert before["advisory_sources"] == []
    assert before["kev"] is None
    _, after = dossier(image, cutoff=IMPORTED + timedelta(hours=1))
    assert after["assessment"]["state"] == "assessed"


def test_the_compliance_report_states_the_assessment_of_mirrored_builds():
    feeds()
    s = compliance_org(with_stig=False, with_els=False)
    # The newest build of the runtime variant before the window's end.
    noon = datetime.combine(s.window[1], time(12), tzinfo=UTC)
    latest = catalog.build(s.series, built_at=noon)
    catalog.contains(latest, jammy_component("zlib1g"))
    findings_match()
    evidence = build_evidence(s.report)
    block = evidence["vulnerability_assessment"]
    by_digest = {b["digest"]: b for b in block["builds"]}
    assert by_digest[latest.digest]["state"] == "assessed"
    assert by_digest[latest.digest]["text"].startswith(
        "Assessed against OSV Ubuntu:22.04:LTS as of 2026-03-02 09:00 UTC"
    )
    # The FIPS build has no SBOM: not assessed, and no count is stated for it.
    others = [b for b in block["builds"] if b["digest"] != latest.digest]
    assert others
    assert {b["state"] for b in others} == {"not_assessed"}
    assert {b["open_vulnerabilities"] for b in others} == {None}
    assert block["states"] == {"assessed": 1, "not_assessed": len(others)}
    assert [(x["ecosystem"], x["covers"]) for x in block["advisory_sources"]] == [
        ("Ubuntu:22.04:LTS", ["deb/ubuntu-22.04"])
    ]
    page = html(s.report, evidence)
    assert f"1 of {1 + len(others)} latest builds assessed" in page
    assert "Not assessed: no SBOM" in page


def test_the_compliance_report_assesses_only_the_variants_the_org_mirrors():
    feeds()
    s = compliance_org(with_stig=False, with_els=False)
    fips = [b for b in build_evidence(s.report)["vulnerability_assessment"]["builds"]]
    assert any("fips" in b["image"] for b in fips)
    Mirror.objects.filter(org=s.org).update(include_fips=False)
    block = build_evidence(s.report)["vulnerability_assessment"]
    assert block["builds"]
    assert not any("fips" in b["image"] for b in block["builds"])
