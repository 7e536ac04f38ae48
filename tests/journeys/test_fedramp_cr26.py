"""A FedRAMP customer from an empty database, through the public doors: the
publisher loads a build and its evidence, staff grant the SLA, the customer
mirrors it and states its class and the repository's exposure on its pages,
findings appear, time passes, an admin reduces one clock's impact with a
reason; every clock page shows its CR26 window, the API and the reports page
answer VER documents valid against FedRAMP's schemas with the same tracking
ids, and the signed compliance report and evidence bundle carry the same
documents byte for byte."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.fedramp.builders import PACKAGE, schema_errors

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MONGO_SBOM = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
OPENSSL_ADVISORY = ROOT / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
Scope = ApiToken.Scope
DAY = timedelta(days=1)


def _bearer(org, user, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="journey", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _ids(document: dict, key: str) -> set[str]:
    return {
        (item.get("vulnerabilityDetail") or item)["providerTrackingId"]
        for item in document[key]
    }


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()


def test_a_fedramp_customer_sees_cr26_windows_and_gets_valid_ver_documents(
    world, client, django_capture_on_commit_callbacks
):
    def run():
        return django_capture_on_commit_callbacks(execute=True)

    now = timezone.now()
    start = now - 30 * DAY
    staff = UserFactory(is_staff=True, email="staff@publisher.example")
    org = OrganizationFactory(features=(), name="Northwind", slug="northwind")
    owner = MembershipFactory(org=org, role="owner").user
    admin = MembershipFactory(org=org, role="admin").user

    with time_machine.travel(start, tick=True) as traveller:
        # The publisher's build and its SBOM; staff grant the SLA by contract.
        call_command("register_build", "mongo", "6.0", MONGO, "--tag", "6.0")
        call_command("import_sbom", MONGO, str(MONGO_SBOM))
        client.force_login(staff)
        with run():
            client.post(
                reverse("staff_entitlements"),
                {
                    "org": org.slug,
                    "feature": "sla",
                    "source": "contract",
                    "reference": "NW-FEDRAMP-1",
                },
            )
        # The customer mirrors mongo, states its class and mongo's exposure.
        client.force_login(owner)
        with run():
            client.post(f"/o/{org.slug}/mirrors/", {"repository": "mongo"})
        fedramp = reverse("sla:fedramp", args=[org.slug])
        refused = client.post(fedramp, {"certification_class": "C"})
        assert refused.status_code == 400
        assert "Certification Package Overview" in refused.content.decode()
        response = client.post(
            fedramp, {"certification_class": "C", "package_uri": PACKAGE}
        )
        assert response.status_code == 302
        mirror = org.mirrors.get()
        response = client.post(
            reverse("sla:fedramp_exposure", args=[org.slug, mirror.pk]),
            {f"m{mirror.pk}-internet_reachable": "yes", f"m{mirror.pk}-pain": "4"},
        )
        assert response.status_code == 302
        page = client.get(fedramp).content.decode()
        assert "Class C" in page
        assert "N4" in page

        # Findings appear: each clock is evaluated at once from the defaults.
        traveller.shift(DAY)
        with run():
            call_command("import_osv", str(OPENSSL_ADVISORY))
            call_command("match_findings")
        clocks = list(SlaClock.objects.filter(org=org).order_by("id"))
        assert clocks
        first, *others = clocks
        client.force_login(owner)  # a day on: the session of yesterday ended
        response = client.get(reverse("sla:clock_detail", args=[org.slug, first.pk]))
        assert response.status_code == 200, response
        body = response.content.decode()
        # CVE-2023-0286's CVSS vector: AV:N/PR:N/UI:N, likely exploitable;
        # Class C, N4, LEV + IRV: four days from evaluation.
        assert "Class C, N4, LEV + IRV: 4 days" in body
        assert "AV:N/PR:N/UI:N" in body

        # Two days on, the admin puts a filter in front: N3, with the reason.
        traveller.shift(2 * DAY)
        client.force_login(admin)
        response = client.post(
            reverse("sla:clock_evaluate", args=[org.slug, first.pk]),
            {"pain": "3", "reason": "The edge proxy rejects X.400 payloads"},
        )
        assert response.status_code == 302
        traveller.shift(10 * DAY)
        client.force_login(owner)
        for clock in clocks:
            body = client.get(
                reverse("sla:clock_detail", args=[org.slug, clock.pk])
            ).content.decode()
            assert 'id="overlay-fedramp_cr26"' in body
            if clock == first:
                assert "Class C, N3, LEV + IRV: 16 days" in body
                assert "The edge proxy rejects X.400 payloads" in body
            else:
                assert "Overdue" in body  # four days passed long ago

    # Now: the API answers the VER documents for the window.
    client.force_login(owner)
    headers = _bearer(org, owner, Scope.EVIDENCE_READ, Scope.REPORTS_WRITE)
    window = {"start": str(start.date()), "end": str(now.date())}
    listing = client.get("/api/v1/fedramp/documents/", **headers).json()
    assert set(listing["documents"]) == {"vdt", "avi", "history", "cmu"}
    documents = {}
    for kind in ("vdt", "avi", "history"):
        response = client.get(f"/api/v1/fedramp/documents/{kind}/", window, **headers)
        assert response.status_code == 200
        documents[kind] = response.json()
        assert schema_errors(kind, documents[kind]) == [], kind
    expected = {f"V-{c.pk}" for c in clocks}
    assert _ids(documents["vdt"], "vulnerabilities") == expected
    assert _ids(documents["history"], "activeVulnerabilities") == expected
    reduced = next(
        d
        for d in documents["vdt"]["vulnerabilities"]
        if d["providerTrackingId"] == f"V-{first.pk}"
    )
    assert [r["rating"] for r in reduced["painReductions"]] == [3]
    assert reduced["evaluationHistory"][-1]["by"] == admin.email
    for other in others:
        late = next(
            d
            for d in documents["vdt"]["vulnerabilities"]
            if d["providerTrackingId"] == f"V-{other.pk}"
        )
        assert late["overdueStatus"]["isOverdue"] is True
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.EVIDENCE_DOWNLOADED, org=org
    ).count() == len(documents)
    # The same document from the reports page, for the same window.
    web = client.get(reverse("reports:fedramp_vdt", args=[org.slug]), window)
    assert web.status_code == 200
    # Made a moment later: the period ends then; the records are the same.
    from_web = json.loads(web.content)
    assert from_web["vulnerabilities"] == documents["vdt"]["vulnerabilities"]
    assert from_web["reportPeriod"]["from"] == documents["vdt"]["reportPeriod"]["from"]
    bad = client.get(
        reverse("reports:fedramp_vdt", args=[org.slug]),
        {"start": str(now.date()), "end": str(start.date())},
    )
    assert bad.status_code == 400

    # The signed compliance report carries them, and the bundle as files.
    body = {
        "kind": "evidence_bundle",
        "window_start": window["start"],
        "window_end": window["end"],
        "request_id": "fedramp-bundle",
    }
    with run():
        created = client.post(
            "/api/v1/reports/", body, content_type="application/json", **headers
        )
    assert created.status_code in (200, 201, 202), created.content
    report = client.get(f"/api/v1/reports/{created.json()['id']}/", **headers).json()
    assert report["status"] == "ready", report
    evidence = json.loads(
        b"".join(client.get(report["links"]["evidence"], **headers).streaming_content)
    )
    block = evidence["fedramp"]
    assert block["certification_class"] == "C"
    assert _ids(block["documents"]["vdt"], "vulnerabilities") == expected
    zipped = b"".join(
        client.get(report["links"]["download"], **headers).streaming_content
    )
    with zipfile.ZipFile(io.BytesIO(zipped)) as zf:
        readme = zf.read("README.txt").decode()
        assert "fedramp/" in readme
        for kind, file in block["files"].items():
            content = zf.read(f"fedramp/{file['name']}")
            assert hashlib.sha256(content).hexdigest() == file["sha256"]
            part = client.get(
                reverse(f"reports:fedramp_part_{kind}", args=[org.slug, report["id"]])
            )
            assert part.status_code == 200
            assert part.content == content
            if kind != "cmu":
                assert schema_errors(kind, json.loads(content)) == []
