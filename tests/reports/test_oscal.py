"""The OSCAL 1.1.2 documents: each parses with compliance-trestle's model of
its kind, says what the ledger and the images' evidence say (and "not
assessed" where there is none), names each subject by the same UUID in every
run, and holds nothing of another organization."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version

import pytest
import trestle.oscal
from trestle.oscal import assessment_results as trestle_ar
from trestle.oscal import component as trestle_cd
from trestle.oscal import poam as trestle_poam

from apps.reports.checks.runner import report_checks
from apps.reports.formats import oscal as fmt
from apps.reports.models import Report
from apps.reports.oscal.documents import oscal_document
from apps.sla.models import SlaClock, SlaWaiver
from tests.catalog import builders as catalog
from tests.factories import OrganizationFactory, UserFactory

from .builders import compliance_org, report_for
from .test_poam import CUTOFF, NOW, ledger, poam_report  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
ROOTS = {
    Report.Kind.OSCAL_POAM: ("plan-of-action-and-milestones", trestle_poam.Model),
    Report.Kind.OSCAL_RESULTS: ("assessment-results", trestle_ar.Model),
    Report.Kind.OSCAL_COMPONENTS: ("component-definition", trestle_cd.Model),
}


def parsed(content: bytes, kind: str):
    """The document parsed by trestle's own model (not the portal's reader),
    and the JSON it was parsed from."""
    document = json.loads(content)
    root, model = ROOTS[kind]
    assert list(document) == [root]
    trestle_model = model.parse_obj(document)
    return getattr(trestle_model, root.replace("-", "_")), document[root]


def report_of(org, kind, *, window, cutoff=None) -> Report:
    return Report.objects.create(
        request_id=uuid.uuid4().hex,
        kind=kind,
        org=org,
        window_start=window[0],
        window_end=window[1],
        data_cutoff=cutoff or CUTOFF,
    )


def props(holder: dict, ns: str = fmt.NS) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in holder.get("props", []):
        if p.get("ns") == ns:
            found.setdefault(p["name"], []).append(p["value"])
    return found


def risks_of(raw: dict, clock: SlaClock) -> list[dict]:
    """The risks of ``clock``, found by the item that names it."""
    items = [i for i in raw["poam-items"] if props(i)["sla-clock"] == [str(clock.pk)]]
    wanted = {r["risk-uuid"] for i in items for r in i["related-risks"]}
    return [r for r in raw["risks"] if r["uuid"] in wanted]


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_the_models_are_trestle_3_7_0_s_oscal_1_1_2():
    assert version("compliance-trestle") == "3.7.0"
    assert trestle.oscal.OSCAL_VERSION == "1.1.2"


# --- the POA&M ----------------------------------------------------------------


WINDOW = ((NOW - 30 * DAY).date(), (NOW + 9 * DAY).date())


def test_poam_items_are_the_clocks_running_at_the_cutoff(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    content = oscal_document(report)
    poam, raw = parsed(content, Report.Kind.OSCAL_POAM)
    assert poam.metadata.oscal_version.__root__ == "1.1.2"
    expected = sorted(ledger.open_clocks.values(), key=lambda c: (c.due_at, c.pk))
    ids = [props(i, fmt.FEDRAMP_NS)["POAM-ID"] for i in raw["poam-items"]]
    assert ids == [[f"V-{c.pk}"] for c in expected]
    # Stopped before the cut-off, another org's, unmirrored, not started yet:
    # none of them.
    absent = [
        *ledger.closed_clocks.values(),
        ledger.other_clock,
        ledger.unmirrored_clock,
    ]
    text = content.decode()
    for clock in absent:
        assert clock.finding.vulnerability.vuln_id not in text
    assert "Globex" not in text
    assert report_checks(report=report, oscal=content) == []


def test_each_item_has_its_observation_risk_and_milestones(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    observations = {o["uuid"]: o for o in raw["observations"]}
    risks = {r["uuid"]: r for r in raw["risks"]}
    inventory = {i["uuid"]: i for i in raw["local-definitions"]["inventory-items"]}
    for item in raw["poam-items"]:
        clock = SlaClock.objects.get(pk=props(item)["sla-clock"][0])
        finding = clock.finding
        (related,) = item["related-observations"]
        observation = observations[related["observation-uuid"]]
        (risk_ref,) = item["related-risks"]
        risk = risks[risk_ref["risk-uuid"]]
        # The finding: CVE, component, digest, detection time and source.
        assert props(observation)["vulnerability-id"] == [finding.vulnerability.vuln_id]
        assert props(observation)["package-url"] == [finding.component.purl]
        assert ts(observation["collected"]) == finding.detected_at
        assert "SBOM" in props(observation)["detection-source"][0]
        assert observation["methods"] == ["TEST"]
        build = inventory[observation["subjects"][0]["subject-uuid"]]
        assert props(build)["image-digest"] == [finding.digest.digest]
        # The risk: severity, status, deadline.
        facets = {
            f["name"]: f["value"]
            for c in risk["characterizations"]
            for f in c["facets"]
        }
        assert facets["severity"] == clock.severity
        assert risk["status"] == "open"
        assert ts(risk["deadline"]) == clock.due_at
        assert props(risk, fmt.FEDRAMP_NS)["impacted-control-id"] == ["ra-5", "si-2"]
        # The milestones: at risk and due.
        (plan,) = [r for r in risk["remediations"] if r["lifecycle"] == "planned"]
        on = {t["title"]: ts(t["timing"]["on-date"]["date"]) for t in plan["tasks"]}
        assert on["SLA clock at risk"] == clock.at_risk_at
        assert on["Fixed image due"] == clock.due_at
        assert all(t["type"] == "milestone" for t in plan["tasks"])


def test_a_kev_item_carries_the_catalog_and_its_due_date(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    kev_clock = ledger.open_clocks["critical"]
    (risk,) = risks_of(raw, kev_clock)
    fedramp = props(risk, fmt.FEDRAMP_NS)
    assert fedramp["kev-catalog"] == ["yes"]
    assert fedramp["kev-due-date"] == ["2026-03-20"]
    (plan,) = [r for r in risk["remediations"] if r["lifecycle"] == "planned"]
    kev_due = [t for t in plan["tasks"] if t["title"] == "CISA KEV due date"]
    assert ts(kev_due[0]["timing"]["on-date"]["date"]).date() == date(2026, 3, 20)
    others = [r for r in raw["risks"] if r is not risk]
    assert all("kev-catalog" not in props(r, fmt.FEDRAMP_NS) for r in others)


def test_a_clock_fixed_after_the_cutoff_is_open_as_of_the_cutoff(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    (risk,) = risks_of(raw, ledger.open_clocks["fixed_later"])
    assert risk["status"] == "open"
    assert props(risk)["sla-state"] == ["open"]
    assert "SLA clock stopped" not in json.dumps(risk)


def test_the_ssp_to_import_is_a_placeholder_the_remarks_explain(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    ssp = raw["import-ssp"]
    assert ssp["href"] == "REPLACE-WITH-YOUR-SSP.json"
    assert "Replace this href" in ssp["remarks"]
    assert ssp["href"] in ssp["remarks"]


def test_a_pending_waiver_is_a_requested_deviation(ledger):  # noqa: F811
    clock = ledger.open_clocks["medium"]
    SlaWaiver.objects.create(
        clock=clock,
        requested_by=UserFactory(is_staff=True),
        reason="Not reachable from outside.",
        expires_at=CUTOFF + 90 * DAY,
        created_at=CUTOFF - 2 * DAY,
    )
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    (risk,) = risks_of(raw, clock)
    assert risk["status"] == "deviation-requested"
    log = {e["title"]: e for e in risk["risk-log"]["entries"]}
    assert log["Waiver requested"]["status-change"] == "deviation-requested"
    assert log["Waiver requested"]["description"] == "Not reachable from outside."


def test_no_running_clock_means_no_poam(db):
    org = OrganizationFactory(name="Quiet Co")
    report = report_of(org, Report.Kind.OSCAL_POAM, window=WINDOW)
    with pytest.raises(fmt.OscalEmpty, match="at least one"):
        oscal_document(report)


def test_uuids_name_the_same_subjects_in_every_run(ledger):  # noqa: F811
    first = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    again = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    later = report_of(
        ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW, cutoff=CUTOFF + DAY
    )
    a, b, c = (oscal_document(r) for r in (first, again, later))
    # The same report rebuilt is the same bytes.
    assert oscal_document(first) == a

    def uuids(content: bytes) -> tuple[str, dict[str, str]]:
        _, raw = parsed(content, Report.Kind.OSCAL_POAM)
        by_clock = {props(i)["sla-clock"][0]: i["uuid"] for i in raw["poam-items"]}
        return raw["uuid"], by_clock

    assert uuids(a) == uuids(b)
    doc_a, items_a = uuids(a)
    doc_c, items_c = uuids(c)
    assert doc_a == doc_c
    for clock_id in set(items_a) & set(items_c):
        assert items_a[clock_id] == items_c[clock_id]
    # Another organization's POA&M is another subject.
    other = report_of(ledger.other, Report.Kind.OSCAL_POAM, window=WINDOW)
    assert uuids(oscal_document(other))[0] != doc_a


# --- Assessment Results ---------------------------------------------------------


@pytest.fixture
def scenario(db):
    return compliance_org()


def test_results_hold_the_window_s_clocks_with_start_and_end(scenario):
    s = scenario
    report = report_for(s.org, kind=Report.Kind.OSCAL_RESULTS, window=s.window)
    content = oscal_document(report)
    _, raw = parsed(content, Report.Kind.OSCAL_RESULTS)
    (result,) = raw["results"]
    assert ts(result["start"]) == datetime.combine(
        s.window[0], datetime.min.time(), tzinfo=UTC
    )
    assert ts(result["end"]) == min(
        datetime.combine(s.window[1] + DAY, datetime.min.time(), tzinfo=UTC),
        report.data_cutoff,
    )
    controls = result["reviewed-controls"]["control-selections"][0]
    assert [c["control-id"] for c in controls["include-controls"]] == ["ra-5", "si-2"]
    found = sorted(int(props(f)["sla-clock"][0]) for f in result["findings"])
    # The window's clocks: all but the one fixed before the window.
    in_window = sorted(c.pk for c in s.clocks[:-1])
    assert found == in_window
    assert report_checks(report=report, oscal=content) == []


def test_findings_judge_si2_c_only_where_the_ledger_decided(scenario):
    s = scenario
    report = report_for(s.org, kind=Report.Kind.OSCAL_RESULTS, window=s.window)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_RESULTS)
    (result,) = raw["results"]
    risks = {r["uuid"]: r for r in result["risks"]}
    by_state: dict[str, list[tuple[dict, dict]]] = {}
    for f in result["findings"]:
        clock = SlaClock.objects.get(pk=props(f)["sla-clock"][0])
        risk = risks[f["related-risks"][0]["risk-uuid"]]
        by_state.setdefault(clock.state, []).append((f, risk))
    for f, risk in by_state["met"]:
        assert f["target"]["status"] == {"state": "satisfied", "reason": "pass"}
        assert risk["status"] == "closed"
    for state in ("missed", "breached"):
        for f, _ in by_state[state]:
            assert f["target"]["status"]["state"] == "not-satisfied"
    for state in ("open", "at_risk", "exempt"):
        for f, _ in by_state[state]:
            assert "status" not in f["target"]
            assert f["target"]["remarks"].startswith("Not judged")
    exempt = {r["status"] for _, r in by_state["exempt"]}
    # One exempted by VEX (closed), one by an approved waiver.
    assert exempt == {"closed", "deviation-approved"}


def test_results_of_a_window_without_clocks_are_valid(db):
    org = OrganizationFactory(name="Quiet Co")
    report = report_of(org, Report.Kind.OSCAL_RESULTS, window=WINDOW)
    content = oscal_document(report)
    _, raw = parsed(content, Report.Kind.OSCAL_RESULTS)
    (result,) = raw["results"]
    assert "findings" not in result
    assert report_checks(report=report, oscal=content) == []


# --- the Component Definition -------------------------------------------------------


def requirements(raw: dict) -> dict[str, dict[str, dict]]:
    found = {}
    for component in raw.get("components", []):
        name = props(component)["image-family"][0]
        found[name] = {
            r["control-id"]: r
            for r in component["control-implementations"][0]["implemented-requirements"]
        }
    return found


def test_one_component_per_image_family_with_four_controls(scenario):
    s = scenario
    report = report_for(s.org, kind=Report.Kind.OSCAL_COMPONENTS, window=s.window)
    content = oscal_document(report)
    _, raw = parsed(content, Report.Kind.OSCAL_COMPONENTS)
    found = requirements(raw)
    assert list(found) == [s.repository.name]
    controls = found[s.repository.name]
    assert sorted(controls) == ["cm-6", "ra-5", "sc-13", "si-2"]
    evidence = {c: props(r)["evidence"][0] for c, r in controls.items()}
    # FIPS modules, the ledger and a STIG scan are there; no SBOM: RA-5 has
    # no evidence and says so.
    assert evidence == {
        "sc-13": "assessed",
        "si-2": "assessed",
        "cm-6": "assessed",
        "ra-5": "not-assessed",
    }
    assert f"#{s.fips_module.certificate_number}" in controls["sc-13"]["description"]
    assert controls["ra-5"]["description"].startswith("Not assessed:")
    assert "no SBOM" in controls["ra-5"]["description"]
    assert "CAT I: 1 pass, 1 fail" in controls["cm-6"]["description"]
    assert "13 clock(s)" in controls["si-2"]["description"]
    assert report_checks(report=report, oscal=content) == []


def test_without_fips_stig_or_sla_the_controls_are_not_assessed(db):
    org = OrganizationFactory(name="Plain Co", features=())
    repo = catalog.repository("plain-app")
    series = catalog.series(repo, "1.0")
    catalog.build(series, built_at=NOW - 40 * DAY)
    from tests.sla.builders import mirror

    mirror(org, repo)
    report = report_of(org, Report.Kind.OSCAL_COMPONENTS, window=WINDOW)
    content = oscal_document(report)
    controls = requirements(parsed(content, Report.Kind.OSCAL_COMPONENTS)[1])[
        "plain-app"
    ]
    for control in ("sc-13", "si-2", "ra-5", "cm-6"):
        assert props(controls[control])["evidence"] == ["not-assessed"], control
        assert controls[control]["description"].startswith("Not assessed:")
    assert "no FIPS variant" in controls["sc-13"]["description"]
    assert "no STIG variant" in controls["cm-6"]["description"]
    assert "no CVE patch SLA" in controls["si-2"]["description"]
    assert report_checks(report=report, oscal=content) == []


def test_component_uuids_are_stable_and_another_org_sees_none_of_it(scenario):
    s = scenario
    first = report_for(s.org, kind=Report.Kind.OSCAL_COMPONENTS, window=s.window)
    again = report_for(s.org, kind=Report.Kind.OSCAL_COMPONENTS, window=s.window)
    a = parsed(oscal_document(first), Report.Kind.OSCAL_COMPONENTS)[1]
    b = parsed(oscal_document(again), Report.Kind.OSCAL_COMPONENTS)[1]
    assert a["uuid"] == b["uuid"]
    assert [c["uuid"] for c in a["components"]] == [c["uuid"] for c in b["components"]]
    other = compliance_org(name="Globex Health")
    theirs = report_for(
        other.org, kind=Report.Kind.OSCAL_COMPONENTS, window=other.window
    )
    content = oscal_document(theirs)
    assert s.repository.name not in content.decode()
    assert s.org.name not in content.decode()


# --- the checks catch a document that lies ------------------------------------------


def test_a_tampered_poam_fails_its_checks(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    document = json.loads(oscal_document(report))
    body = document["plan-of-action-and-milestones"]
    body["poam-items"].pop()
    dropped = json.dumps(document).encode()
    found = report_checks(report=report, oscal=dropped)
    assert [v.check for v in found] == ["oscal_poam_matches_ledger"]
    body["risks"][0]["status"] = "not a status"
    broken = json.dumps(document).encode()
    checks = {v.check for v in report_checks(report=report, oscal=broken)}
    assert "oscal_document_valid" in checks


def test_a_reference_to_an_undefined_uuid_fails(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    document = json.loads(oscal_document(report))
    item = document["plan-of-action-and-milestones"]["poam-items"][0]
    item["related-risks"][0]["risk-uuid"] = str(uuid.uuid4())
    found = report_checks(report=report, oscal=json.dumps(document).encode())
    assert [v.check for v in found] == ["oscal_document_valid"]
    assert "does not define" in found[0].message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", "Not JSON"),
        (b"[]", "one top-level key"),
        (b'{"catalog": {}}', "one top-level key"),
        (b'{"plan-of-action-and-milestones": {"uuid": "x"}}', "Not a valid OSCAL"),
    ],
)
def test_the_reader_refuses_what_is_not_an_oscal_poam(content, message):
    with pytest.raises(fmt.OscalInvalid, match=message):
        fmt.oscal_read(content, fmt.POAM)


def test_the_reader_refuses_another_oscal_version(ledger):  # noqa: F811
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    document = json.loads(oscal_document(report))
    document["plan-of-action-and-milestones"]["metadata"]["oscal-version"] = "1.1.3"
    with pytest.raises(fmt.OscalInvalid, match=r"not 1\.1\.2"):
        fmt.oscal_read(json.dumps(document).encode(), fmt.POAM)


def test_an_advisory_known_by_another_id_names_its_cve_too(ledger):  # noqa: F811
    clock = ledger.open_clocks["medium"]
    vulnerability = clock.finding.vulnerability
    vulnerability.vuln_id = "GHSA-4c2x-8r3q-mm9v"
    vulnerability.aliases = ["CVE-2026-31337"]
    vulnerability.save(update_fields=["vuln_id", "aliases"])
    report = report_of(ledger.org, Report.Kind.OSCAL_POAM, window=WINDOW)
    _, raw = parsed(oscal_document(report), Report.Kind.OSCAL_POAM)
    (risk,) = risks_of(raw, clock)
    (observation,) = [
        o
        for o in raw["observations"]
        if o["uuid"] == risk["related-observations"][0]["observation-uuid"]
    ]
    assert props(observation)["vulnerability-id"] == ["GHSA-4c2x-8r3q-mm9v"]
    assert props(observation)["cve-id"] == ["CVE-2026-31337"]
    facets = [f for c in risk["characterizations"] for f in c["facets"]]
    assert {
        "name": "vulnerability-id",
        "system": fmt.CVE_SYSTEM,
        "value": "CVE-2026-31337",
    } in facets
    others = [o for o in raw["observations"] if o is not observation]
    assert all("cve-id" not in props(o) for o in others)
