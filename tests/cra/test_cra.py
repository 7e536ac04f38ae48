"""The CRA Article 14 desk: a vulnerability on CISA's real KEV catalog that
affects a catalog build opens a case with the three deadlines from the moment
both were known; staff see the field packs and the customers to inform,
record each stage sent (audited, once), and the SLA desk says what is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.cra import rules
from apps.cra.models import CraCase, CraSubmission
from apps.cra.selectors import cra_case_get
from apps.cra.services import cra_cases_open
from apps.cra.tasks import cases_open
from apps.entitlements.models import Mirror
from apps.registry.models import RegistryEvent
from apps.vulns.models import Finding
from apps.vulns.services.kev import kev_import
from tests.catalog import builders as catalog
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

KEV_FILE = (
    Path(__file__).resolve().parents[2]
    / "apps/vulns/testdata/kev/known_exploited_vulnerabilities.json"
)
# Log4Shell: on the KEV list since 2021-12-10, CISA due date 2021-12-24.
CVE = "CVE-2021-44228"
LISTED = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
DETECTED = datetime(2026, 10, 3, 14, 30, tzinfo=UTC)


@pytest.fixture
def world():
    repo = catalog.repository("java-runtime")
    line = catalog.series(repo, "21")
    image = catalog.build(line)
    other = catalog.build(catalog.series(catalog.repository("busybox2"), "1.37"))
    vuln = catalog.vulnerability(
        "GHSA-jfh8-c2jp-5v3q",
        severity="critical",
        aliases=[CVE],
        summary="Remote code injection in Log4j",
        cvss_v3_score="10.0",
        cvss_v3_vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
    )
    with time_machine.travel(LISTED, tick=False):
        report = kev_import(content=KEV_FILE.read_bytes(), source="test")
    assert report.flagged >= 1
    vuln.refresh_from_db()
    finding = Finding.objects.create(
        digest=image,
        vulnerability=vuln,
        component=catalog.component("log4j-core", "2.14.1", kind="maven"),
        severity="critical",
        detected_at=DETECTED,
    )
    mirroring = OrganizationFactory(name="Acme")
    Mirror.objects.create(org=mirroring, repository=repo, created_by=UserFactory())
    puller = OrganizationFactory(name="Initech")
    RegistryEvent.objects.create(
        event_id=str(uuid.uuid4()),
        action="pull",
        org=puller,
        repository="java-runtime",
        digest=image.digest,
        image=image,
        occurred_at=DETECTED,
    )
    bystander = OrganizationFactory(name="Umbrella")
    staff = UserFactory(is_staff=True, email="psirt@publisher.example")
    return {
        "repo": repo,
        "image": image,
        "other": other,
        "vuln": vuln,
        "finding": finding,
        "mirroring": mirroring,
        "puller": puller,
        "bystander": bystander,
        "staff": staff,
    }


def test_a_kev_vulnerability_on_a_build_opens_a_case_with_its_deadlines(client, world):
    vuln = world["vuln"]
    assert vuln.kev
    assert vuln.kev_flagged_at == LISTED
    assert vuln.kev_date_added.isoformat() == "2021-12-10"
    with time_machine.travel(DETECTED + timedelta(hours=2), tick=False):
        assert cases_open() == 1
        assert cra_cases_open() == 0  # once
    case = CraCase.objects.get()
    assert case.source == CraCase.Source.KEV
    # Aware when both were known here: listed on 10-01, detected on 10-03.
    assert case.aware_at == DETECTED
    assert AuditEvent.objects.filter(action="cra.case_opened").count() == 1

    client.force_login(world["staff"])
    with time_machine.travel(DETECTED + timedelta(hours=25), tick=False):
        desk = client.get(reverse("staff_cra"))
        page = client.get(reverse("staff_cra_case", args=[case.pk]))
        sla_desk = client.get(reverse("staff_sla_desk"))
    assert desk.status_code == 200
    text = page.content.decode()
    assert page.status_code == 200
    # Early warning 24 h after awareness (overdue now), notification 72 h,
    # the final report waits for a corrective measure.
    view = page.context["view"]
    due = {s.stage.key: (s.due, s.status) for s in view.stages}
    assert due == {
        "early_warning": (DETECTED + timedelta(hours=24), "overdue"),
        "notification": (DETECTED + timedelta(hours=72), "due"),
        "final_report": (None, "waiting"),
    }
    assert "overdue since 2026-10-04 14:30" in text
    # The field packs name the build, the KEV listing and the manufacturer.
    assert world["image"].digest in text
    assert "date added 2021-12-10" in text
    assert "CVE-2021-44228" in text
    # Customers to inform: the mirroring org and the org that pulled it.
    customers = [c.org.name for c in page.context["customers"]]
    assert customers == ["Acme", "Initech"]
    assert "Umbrella" not in text
    # The SLA desk points at it.
    assert 'id="cra-notice"' in sla_desk.content.decode()
    assert "1 overdue" in sla_desk.content.decode()

    # The early warning was sent late; the notification in time.
    with time_machine.travel(DETECTED + timedelta(hours=26), tick=False):
        response = client.post(
            reverse("staff_cra_submit", args=[case.pk]),
            {
                "stage": "early_warning",
                "submitted_at": "2026-10-04T16:00",
                "reference": "ENISA-EW-0001",
            },
        )
        assert response.status_code == 302
        again = client.post(
            reverse("staff_cra_submit", args=[case.pk]),
            {"stage": "early_warning", "submitted_at": "2026-10-04T16:05"},
        )
        assert again.status_code == 400
        assert "already recorded" in again.content.decode()
        final = client.post(
            reverse("staff_cra_submit", args=[case.pk]),
            {"stage": "final_report", "submitted_at": "2026-10-04T16:05"},
        )
        assert final.status_code == 400
        assert "corrective" in final.content.decode()
    with time_machine.travel(DETECTED + timedelta(hours=48), tick=False):
        sent = client.post(
            reverse("staff_cra_submit", args=[case.pk]),
            {"stage": "notification", "submitted_at": "2026-10-05T10:00"},
        )
        assert sent.status_code == 302
    states = {
        s.stage.key: s.status
        for s in cra_case_get(pk=case.pk, now=DETECTED + timedelta(days=2)).stages
    }
    assert states["early_warning"] == "sent_late"
    assert states["notification"] == "sent"
    assert CraSubmission.objects.count() == 2
    (event,) = [
        e
        for e in AuditEvent.objects.filter(action="cra.stage_submitted")
        if e.details["stage"] == "early_warning"
    ]
    assert event.details["late"] is True
    assert event.details["reference"] == "ENISA-EW-0001"

    # A fixed build is published: the final report is due 14 days later.
    fixed_at = DETECTED + timedelta(days=5)
    fix = catalog.build(world["image"].variant.series, built_at=fixed_at)
    Finding.objects.filter(pk=world["finding"].pk).update(
        status=Finding.Status.FIXED, fixed_published_at=fixed_at, fixed_in=fix
    )
    view = cra_case_get(pk=case.pk, now=fixed_at)
    final_state = view.stages[2]
    assert view.corrective_at == fixed_at
    assert final_state.due == fixed_at + timedelta(days=14)
    assert final_state.status == "due"


def test_awareness_before_the_date_of_application_counts_from_it():
    early = datetime(2026, 5, 1, tzinfo=UTC)
    stage = rules.STAGE_BY_KEY["early_warning"]
    assert rules.stage_due(stage, aware_at=early, corrective_at=None) == (
        rules.APPLIES_FROM + timedelta(hours=24)
    )
    final = rules.STAGE_BY_KEY["final_report"]
    assert rules.stage_due(final, aware_at=early, corrective_at=early) == (
        rules.APPLIES_FROM + timedelta(days=14)
    )


def test_a_vulnerability_dropped_from_kev_keeps_its_case_but_not_its_flag(world):
    with time_machine.travel(DETECTED, tick=False):
        cra_cases_open()
    # A later import of the same catalog keeps when it was first listed.
    with time_machine.travel(DETECTED + timedelta(days=3), tick=False):
        kev_import(content=KEV_FILE.read_bytes())
    world["vuln"].refresh_from_db()
    assert world["vuln"].kev_flagged_at == LISTED
    empty = (
        b'{"title": "x", "catalogVersion": "2026.12.01", "dateReleased": '
        b'"2026-12-01T00:00:00.000Z", "count": 0, "vulnerabilities": []}'
    )
    kev_import(content=empty)
    world["vuln"].refresh_from_db()
    assert (world["vuln"].kev, world["vuln"].kev_flagged_at) == (False, None)
    assert CraCase.objects.count() == 1


def test_staff_open_a_case_with_evidence(client, world):
    other_vuln = catalog.vulnerability("CVE-2026-99999", severity="high")
    client.force_login(world["staff"])
    url = reverse("staff_cra_open")
    digest = world["other"].digest
    good = {
        "vulnerability": "CVE-2026-99999",
        "digests": digest,
        "aware_at": "2026-10-10T08:00",
        "evidence": "Exploitation seen in the wild by our honeypots (ticket PSIRT-12).",
    }
    bad_cases = {
        "no evidence": {**good, "evidence": ""},
        "unknown vulnerability": {**good, "vulnerability": "CVE-1900-0001"},
        "unknown digest": {**good, "digests": "sha256:" + "0" * 64},
        "not a digest": {**good, "digests": "nginx:latest"},
        "future": {**good, "aware_at": "2999-01-01T00:00"},
        "not a time": {**good, "aware_at": "yesterday"},
        "huge evidence": {**good, "evidence": "x" * 5000},
        "no digests": {**good, "digests": "  "},
    }
    with time_machine.travel(datetime(2026, 10, 11, tzinfo=UTC), tick=False):
        for name, data in bad_cases.items():
            response = client.post(url, data)
            assert response.status_code == 400, name
            assert not CraCase.objects.exists(), name
        response = client.post(url, good)
        assert response.status_code == 302
        case = CraCase.objects.get()
        assert case.source == CraCase.Source.STAFF
        assert case.vulnerability == other_vuln
        assert list(case.digests.all()) == [world["other"]]
        assert case.aware_at == datetime(2026, 10, 10, 8, 0, tzinfo=UTC)
        twice = client.post(url, good)
        assert twice.status_code == 400
        assert "already has a case" in twice.content.decode()
        # A measure that is not a build starts the final report's 14 days.
        measure = client.post(
            reverse("staff_cra_measure", args=[case.pk]),
            {"measure_at": "2026-10-10T20:00", "measure": "Disable the JNDI lookup."},
        )
        assert measure.status_code == 302
    view = cra_case_get(pk=case.pk, now=datetime(2026, 10, 12, tzinfo=UTC))
    assert view.stages[2].due == datetime(2026, 10, 24, 20, 0, tzinfo=UTC)
    assert view.corrective_source == "staff recorded a measure"
    opened = AuditEvent.objects.get(action="cra.case_opened")
    assert opened.actor == world["staff"]
    assert opened.details["evidence"].startswith("Exploitation seen")


def test_bad_submissions_are_refused_and_nothing_is_written(client, world):
    with time_machine.travel(DETECTED, tick=False):
        cra_cases_open()
    case = CraCase.objects.get()
    client.force_login(world["staff"])
    url = reverse("staff_cra_submit", args=[case.pk])
    for data in (
        {"stage": "early_warning"},
        {"stage": "nope", "submitted_at": "2026-10-04T10:00"},
        {"stage": "early_warning", "submitted_at": "2999-10-04T10:00"},
        {"stage": "early_warning", "submitted_at": "1999-10-04T10:00"},
        {
            "stage": "early_warning",
            "submitted_at": "2026-10-04T10:00",
            "reference": "r" * 101,
        },
        {
            "stage": "early_warning",
            "submitted_at": "2026-10-04T10:00",
            "note": "n" * 4001,
        },
    ):
        response = client.post(url, data)
        assert response.status_code == 400, data
    assert not CraSubmission.objects.exists()
    assert (
        client.post(reverse("staff_cra_submit", args=[999999]), {}).status_code == 404
    )
    assert client.get(reverse("staff_cra_case", args=[999999])).status_code == 404


def test_customers_and_other_people_cannot_reach_the_desk(client, world):
    customer = UserFactory()
    client.force_login(customer)
    for name, args in (("staff_cra", []), ("staff_cra_open", [])):
        response = client.get(reverse(name, args=args))
        assert response.status_code in (302, 403, 405)
    with time_machine.travel(DETECTED, tick=False):
        cra_cases_open()
    case = CraCase.objects.get()
    response = client.post(
        reverse("staff_cra_submit", args=[case.pk]),
        {"stage": "early_warning", "submitted_at": "2026-10-04T10:00"},
    )
    assert response.status_code in (302, 403)
    assert not CraSubmission.objects.exists()


def test_the_desk_query_count_does_not_grow_with_cases(
    client, world, django_assert_num_queries
):
    client.force_login(world["staff"])
    with time_machine.travel(DETECTED, tick=False):
        cra_cases_open()
    url = reverse("staff_cra")
    client.get(url)
    with django_assert_num_queries(DESK_QUERIES):
        client.get(url)
    for i in range(8):
        vuln = catalog.vulnerability(f"CVE-2026-1{i:04d}", severity="high")
        CraCase.objects.create(
            vulnerability=vuln,
            source="staff",
            evidence="seen",
            aware_at=DETECTED,
            created_at=DETECTED,
        )
    with django_assert_num_queries(DESK_QUERIES):
        response = client.get(url)
    assert response.content.decode().count("Staff, with evidence") == 8


DESK_QUERIES = 13
