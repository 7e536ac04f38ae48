"""The FedRAMP documents of an organization for a window: valid against
FedRAMP's schemas (checked here with the jsonschema package, apart from the
portal's own jsonschema-rs check), on demo-like data and on the edges (no
vulnerabilities, accepted ones, overrides, KEV due dates, false positives,
remediations); tracking ids the same in every document and window."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone

from apps.reports.evidence.fedramp import fedramp_pack
from apps.reports.formats import cmu, fedramp_ver
from apps.sla.models import SlaClock
from apps.sla.services import fedramp as services
from apps.vulns.models import Vulnerability
from tests.entitlements.builders import entitle
from tests.sla.ledger_rows import Row, seed

from .builders import PACKAGE, exposure, fedramp_customer, schema_errors

pytestmark = pytest.mark.usefixtures("sla_defaults")
DAY = timedelta(days=1)
LOCAL = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"
NETWORK = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def _valid(pack) -> None:
    for kind, document in pack.documents.items():
        assert schema_errors(kind, document) == [], kind
        if kind == "cmu":
            assert cmu.problems(document) == []
        else:
            assert fedramp_ver.problems(kind, document) == []


def _ids(document: dict, key: str = "vulnerabilities") -> list[str]:
    items = document[key]
    return [(i.get("vulnerabilityDetail") or i)["providerTrackingId"] for i in items]


@pytest.fixture
def customer(org, owner):
    """A Class C customer since 60 days ago, with six clocks of every kind."""
    now = timezone.now()
    entitle(org, "sla", starts_at=now - timedelta(days=400))
    with time_machine.travel(now - 60 * DAY, tick=False):
        fedramp_customer(org, owner.user)
    clocks = seed(
        org,
        [
            Row("open", started=20, due=10),
            Row("breached", started=30, due=-5, kev=True),
            Row("met", started=25, due=-5, stopped=10),
            Row("exempt", started=15, due=20, stopped=3),
            Row("open", started=12, due=10),
            Row("open", started=10, due=10),
        ],
    )
    for clock in clocks:
        # The ledger held each clock from its start (as the services open them).
        SlaClock.objects.filter(pk=clock.pk).update(created_at=clock.started_at)
    SlaClock.objects.filter(pk=clocks[3].pk).update(stop_reason="vex")
    vulns = [c.finding.vulnerability_id for c in clocks]
    Vulnerability.objects.filter(pk__in=vulns).update(cvss_v3_vector=LOCAL)
    # The KEV clock: listed long ago, due before its window would end.
    Vulnerability.objects.filter(pk=vulns[1]).update(
        cvss_v3_vector=NETWORK,
        kev_date_added=date(2021, 12, 10),
        kev_due_date=(now - 29 * DAY).date(),
    )
    repository = clocks[0].finding.digest.variant.series.repository
    with time_machine.travel(now - 40 * DAY, tick=False):
        exposure(org, owner.user, repository, irv=True, pain=4)
    fresh = {c.pk: SlaClock.objects.select_related("org").get(pk=c.pk) for c in clocks}
    with time_machine.travel(now - 8 * DAY, tick=False):
        services.fedramp_clock_evaluate(
            clock=fresh[clocks[0].pk],
            actor=owner.user,
            pain=3,
            reason="WAF rule rejects the payload",
        )
        services.fedramp_clock_evaluate(
            clock=fresh[clocks[4].pk],
            actor=owner.user,
            accepted=True,
            reason="Replaced next quarter; not rebuilt before then",
        )
        services.fedramp_clock_evaluate(
            clock=fresh[clocks[5].pk],
            actor=owner.user,
            disposition="false_positive",
            reason="The module is not loaded in our deployment",
        )
    return org, clocks, now


def test_every_document_is_valid_and_says_what_happened(customer):
    org, clocks, now = customer
    pack = fedramp_pack(org=org, start=now - 30 * DAY, end=now)
    _valid(pack)
    vdt, avi, history = (pack.documents[k] for k in ("vdt", "avi", "history"))
    assert vdt["certificationPackageOverviewUri"] == PACKAGE
    ids = {c.pk: f"V-{c.pk}" for c in clocks}
    detailed = {d["providerTrackingId"]: d for d in vdt["vulnerabilities"]}
    accepted = {
        a["vulnerabilityDetail"]["providerTrackingId"]: a
        for a in avi["acceptedVulnerabilities"]
    }
    open_, kev, met, vex, declared, false_positive = (ids[c.pk] for c in clocks)
    # The accepted one is in the AVI only, with why.
    assert set(accepted) == {declared}
    assert declared not in detailed
    assert "Replaced next quarter" in accepted[declared]["acceptanceRationale"]
    assert set(detailed) == {open_, kev, met, vex, false_positive}
    # A PAIN reduction, with when, who and why.
    reduced = detailed[open_]
    assert [r["rating"] for r in reduced["painReductions"]] == [3]
    assert reduced["currentRating"] == 3
    step = reduced["evaluationHistory"][-1]
    assert (step["change"], step["by"], step["reason"]) == (
        "reduction",
        org.memberships.get(role="owner").user.email,
        "WAF rule rejects the payload",
    )
    assert reduced["projectedNextReduction"]["targetRating"] == 2
    # The KEV's due date is earlier than its window: it is due then, and late.
    listed = detailed[kev]
    assert listed["isLikelyExploitable"] is True
    assert listed["deadlines"]["dueAt"] == listed["deadlines"]["kevDueAt"]
    assert listed["deadlines"]["kevDueAt"] < listed["deadlines"]["windowEndsAt"]
    assert listed["overdueStatus"]["isOverdue"] is True
    assert "CISA KEV due date" in listed["overdueStatus"]["explanation"]
    # Remediated: the schema has no final disposition for it; the portal says.
    fixed = detailed[met]
    assert "finalDisposition" not in fixed
    assert fixed["remediation"]["basis"]
    # False positives: by the publisher's VEX, or by the customer's evaluation.
    assert detailed[vex]["finalDisposition"] == "False Positive"
    assert detailed[false_positive]["finalDisposition"] == "False Positive"
    # The history holds the same records under the same ids.
    assert set(_ids(history, "activeVulnerabilities")) == set(detailed)
    assert set(_ids(history, "acceptedVulnerabilities")) == {declared}


def test_tracking_ids_are_the_same_in_every_window(customer):
    org, clocks, now = customer
    this = fedramp_pack(org=org, start=now - 30 * DAY, end=now)
    earlier = fedramp_pack(org=org, start=now - 20 * DAY, end=now - 9 * DAY)
    _valid(earlier)
    both = set(_ids(this.documents["vdt"])) & set(_ids(earlier.documents["vdt"]))
    assert both
    # Nine days ago the declared acceptance had not been made: detailed then.
    declared = f"V-{clocks[4].pk}"
    assert declared in _ids(earlier.documents["vdt"])
    assert _ids(earlier.documents["avi"], "acceptedVulnerabilities") == []


def test_a_window_before_the_clocks_has_no_vulnerabilities(customer):
    org, _clocks, now = customer
    pack = fedramp_pack(org=org, start=now - 59 * DAY, end=now - 50 * DAY)
    _valid(pack)
    assert pack.documents["vdt"]["vulnerabilities"] == []
    assert pack.documents["avi"]["acceptedVulnerabilities"] == []
    assert pack.documents["history"]["activeVulnerabilities"] == []


def test_192_days_on_an_unmitigated_one_is_accepted(customer):
    org, clocks, now = customer
    later = now + 200 * DAY
    with time_machine.travel(later, tick=False):
        pack = fedramp_pack(org=org, start=later - 30 * DAY, end=later)
    _valid(pack)
    accepted = {
        a["vulnerabilityDetail"]["providerTrackingId"]: a
        for a in pack.documents["avi"]["acceptedVulnerabilities"]
    }
    assert f"V-{clocks[0].pk}" in accepted
    assert "VER-TFR-MAV" in accepted[f"V-{clocks[0].pk}"]["acceptanceRationale"]


def test_a_customer_without_vulnerabilities_gets_empty_valid_documents(org, owner):
    fedramp_customer(org, owner.user, klass="D")
    now = timezone.now()
    pack = fedramp_pack(org=org, start=now - 30 * DAY, end=now)
    _valid(pack)
    assert set(pack.documents) == {"vdt", "avi", "history", "cmu"}
    assert pack.documents["cmu"]["images"] == []


def test_without_a_class_only_the_crypto_inventory_is_made(org):
    now = timezone.now()
    pack = fedramp_pack(org=org, start=now - 30 * DAY, end=now)
    assert set(pack.documents) == {"cmu"}
    _valid(pack)


# --- the schemas and the check in the code path -------------------------------------

SCHEMAS = Path(fedramp_ver.SCHEMA_DIR)
# FedRAMP's files as copied (their PROVENANCE.md): a change here is a change
# to FedRAMP's schemas, which is not ours to make.
FEDRAMP_FILES = {
    "fedramp-accepted-vulnerability-info-schema-2026-06-24.json": (
        "173181d49cba35bd00984448361e9259ff9ec66afcee2d3c48b6021e24fca19a"
    ),
    "fedramp-common-definitions-schema-2026-06-24.json": (
        "b6cffd3632ba524cc5a5e44f6c62e6fdcae7993221e558d32761f15d212117c1"
    ),
    "fedramp-historical-ver-activity-schema-2026-06-24.json": (
        "146597fc1468afb6b05a8b35e1ac4abb9f537b4e90f4ea46cc934051bc927666"
    ),
    "fedramp-vulnerability-detail-report-schema-2026-06-24.json": (
        "07bd49ac5d83e45aeb99306cf9bc18b9c499ff9405729c822dd704e6ef065ec7"
    ),
}


def test_fedramps_schemas_are_kept_as_copied():
    for name, digest in FEDRAMP_FILES.items():
        assert hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest() == digest


def test_schemas_are_found_by_id_and_nothing_is_fetched():
    common = fedramp_ver.COMMON_ID
    pointer = fedramp_ver.retrieve(f"{common}/$defs/nRating")
    assert pointer["$ref"] == f"{common}#/$defs/nRating"
    for uri in (
        "https://fedramp.gov/schemas/other.json",
        f"{common}/$defs/noSuchDefinition",
        "http://169.254.169.254/latest/meta-data",
    ):
        with pytest.raises(ValueError, match="refusing to fetch"):
            fedramp_ver.retrieve(uri)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda d: d.update(reportPeriod={"from": "yesterday", "to": "now"}),
            "/reportPeriod/from",
        ),
        (
            lambda d: d.pop("certificationPackageOverviewUri"),
            "certificationPackageOverviewUri",
        ),
        (lambda d: d["vulnerabilities"][0].update(currentRating=6), "currentRating"),
        (
            lambda d: d["vulnerabilities"][0]["overdueStatus"].update(
                isOverdue=True, explanation=None
            ),
            "explanation",
        ),
        (
            lambda d: (
                d["vulnerabilities"][0]["overdueStatus"].pop("explanation")
                and d["vulnerabilities"][0]["overdueStatus"].update(isOverdue=True)
            ),
            "explanation",
        ),
        (
            lambda d: d["vulnerabilities"][0].update(finalDisposition="Remediated"),
            "finalDisposition",
        ),
        (
            lambda d: d["vulnerabilities"][0]["painReductions"].append(
                {"reducedAt": "x", "rating": 3}
            ),
            "painReductions",
        ),
        (
            lambda d: d["vulnerabilities"][0]["evaluationHistory"][0].update(
                change="sideways"
            ),
            "evaluationHistory",
        ),
    ],
)
def test_the_code_path_refuses_a_document_that_breaks_a_schema(customer, change, where):
    import copy

    org, _clocks, now = customer
    document = copy.deepcopy(
        fedramp_pack(org=org, start=now - 30 * DAY, end=now).documents["vdt"]
    )
    change(document)
    with pytest.raises(fedramp_ver.VerInvalid) as refused:
        fedramp_ver.check("vdt", document)
    assert where in " ".join(refused.value.problems)
    assert schema_errors("vdt", document) or where in (
        "painReductions",
        "evaluationHistory",
    )
