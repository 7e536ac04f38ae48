"""Truth end to end, through the public doors: the publisher registers builds
and loads evidence by command, staff grant one customer the SLA by contract,
another buys it through Stripe, both mirror, findings appear, time passes;
every page, API answer, report and POA&M states what the ledger holds, and
``ledger_check`` agrees. Then invariants are broken on purpose and the check
or the door catches each one."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation, ImageDigest
from apps.entitlements.models import Entitlement, Mirror
from apps.reports.models import Report
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from apps.sla.tasks import ledger_reconcile, transitions_run
from tests.billing.conftest import deliver_all
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MONGO_SBOM = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
OPENSSL_ADVISORY = ROOT / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
# The image the real mongo SBOM is about (its metadata.component).
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
UNSCANNED = "sha256:" + "0d" * 32
FIPS_BUILD = "sha256:" + "f1" * 32
CMVP_4282 = ROOT / "apps/fips/testdata/cmvp-cert-4282.json"
# Three weeks before the real CMVP #4282 record's sunset date (2026-09-21).
START = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
Scope = ApiToken.Scope


def _command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _ledger_check() -> dict:
    """manage.py ledger_check --json: its document, and exit 1 exactly when a
    violation is found."""
    out = io.StringIO()
    code = 0
    try:
        call_command("ledger_check", "--json", stdout=out)
    except CommandError as failed:
        code = failed.returncode
    document = json.loads(out.getvalue())
    assert code == (0 if document["ok"] else 1)
    return document


def _bearer(org, user, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="journey", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _report(client, run, headers, **body) -> dict:
    """Request a report over the API; the worker builds it once the request
    commits; its status is then read back."""
    with run():
        response = client.post(
            "/api/v1/reports/", body, content_type="application/json", **headers
        )
    assert response.status_code in (200, 201, 202), response.content
    detail = client.get(f"/api/v1/reports/{response.json()['id']}/", **headers).json()
    assert detail["status"] == "ready", detail
    return detail


def _download(client, url, headers) -> bytes:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()


def test_the_ledger_reports_and_pages_tell_the_truth_and_the_checks_catch_lies(
    world,
    client,
    fake_stripe,
    stripe_prices,
    django_capture_on_commit_callbacks,
):
    def run():
        """Tasks run once the request or command commits, as on a worker."""
        return django_capture_on_commit_callbacks(execute=True)

    start = START
    # Now, not later: the signing key made for the reports must be valid for
    # the tests that run after this one.
    end = timezone.now()
    staff = UserFactory(is_staff=True, email="staff@publisher.example")
    northwind = OrganizationFactory(features=(), name="Northwind", slug="northwind")
    contoso = OrganizationFactory(features=(), name="Contoso", slug="contoso")
    nw_owner = MembershipFactory(org=northwind, role="owner").user
    co_owner = MembershipFactory(org=contoso, role="owner").user

    with time_machine.travel(start, tick=True) as traveller:
        # 1. The publisher registers builds and loads their evidence.
        _command(
            "register_build", "mongo", "6.0", MONGO, "--tag", "6.0",
            "--built-at", (start - timedelta(days=3)).isoformat(),
        )  # fmt: skip
        _command("register_build", "mongo", "6.0", UNSCANNED, "--flavor", "dev")
        _command("import_sbom", MONGO, str(MONGO_SBOM))
        # A FIPS build carrying the real CMVP #4282 module, attested over the API.
        _command("fips_modules_import", str(CMVP_4282))
        _command(
            "register_build", "mongo", "6.0", FIPS_BUILD, "--fips", "--tag", "6.0-fips"
        )
        _, raw = api_token_create(
            org=OrganizationFactory(name="Publisher"),
            name="pipeline",
            scopes=[Scope.CATALOG_WRITE],
            expires_at=None,
            actor=staff,
        )
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": "registry.example/mongo", "digest": {"sha256": FIPS_BUILD[7:]}}
            ],
            "predicateType": "https://hardened-images.dev/attestation/fips/v1",
            "predicate": {
                "modules": [
                    {
                        "name": "OpenSSL FIPS Provider",
                        "vendor": "The OpenSSL Project",
                        "version": "3.0.8",
                        "certificate": 4282,
                        "standard": "FIPS 140-2",
                        "package": "pkg:deb/debian/openssl-provider-fips@3.0.8",
                    }
                ]
            },
        }
        response = client.post(
            "/api/v1/evidence/",
            {
                "kind": "fips",
                "digest": FIPS_BUILD,
                "document": io.BytesIO(json.dumps(statement).encode()),
            },
            HTTP_AUTHORIZATION=f"Bearer {raw}",
        )
        assert response.status_code == 201, response.content

        # 2. Northwind gets the SLA by contract at the staff page, and mirrors.
        client.force_login(staff)
        with run():
            response = client.post(
                reverse("staff_entitlements"),
                {
                    "org": "northwind",
                    "feature": "sla",
                    "source": "contract",
                    "reference": "NW-2026-01",
                },
            )
            assert response.status_code == 302, response.content.decode()[-1500:]
            client.post(
                reverse("staff_entitlements"),
                {
                    "org": "northwind",
                    "feature": "fips",
                    "source": "contract",
                    "reference": "NW-2026-01",
                },
            )
        client.force_login(nw_owner)
        with run():
            response = client.post(
                "/o/northwind/mirrors/", {"repository": "mongo", "include_fips": "on"}
            )
        assert response.status_code == 302
        assert not SlaClock.objects.exists()  # nothing affected is known yet
        fips_api = {"path": "/api/v1/fips/modules/"} | _bearer(
            northwind, nw_owner, Scope.EVIDENCE_READ
        )
        (module,) = client.get(**fips_api).json()["modules"]
        assert (module["certificate_number"], module["status"]) == (4282, "active")

        # 3. Findings appear: the advisory comes in and is matched.
        traveller.shift(timedelta(days=1))
        with run():
            _command("import_osv", str(OPENSSL_ADVISORY))
            _command("match_findings")
        image = ImageDigest.objects.get(digest=MONGO)
        in_scope = image.findings.filter(
            status="affected", severity__in=["critical", "high"]
        )
        assert in_scope.count() >= 2
        assert set(
            SlaClock.objects.filter(org=northwind).values_list("finding", flat=True)
        ) == set(in_scope.values_list("pk", flat=True))

        # 4. Contoso buys Select through Stripe after the findings, then mirrors.
        traveller.shift(timedelta(days=1))
        client.force_login(co_owner)
        response = client.post(
            "/o/contoso/billing/checkout/", {"price": stripe_prices["select_month"].pk}
        )
        assert response.status_code == 303
        session = response["Location"].rsplit("/", 1)[-1]
        with run():
            deliver_all(client, fake_stripe.checkout_complete(session))
            client.force_login(co_owner)
            client.post("/o/contoso/mirrors/", {"repository": "mongo"})
        assert SlaClock.objects.filter(org=contoso).count() == in_scope.count()
        for org in (northwind, contoso):
            # Each clock starts from the evidence (the upstream fix, else the
            # detection), bounded by the entitlement's start; never from when
            # the mirror was added.
            entitled = Entitlement.objects.get(org=org, feature__key="sla")
            mirrored = Mirror.objects.get(org=org).created_at
            for clock in SlaClock.objects.filter(org=org).select_related("finding"):
                evidence = {
                    "upstream_fix": clock.finding.upstream_fix_at,
                    "detection": clock.finding.detected_at,
                    "coverage": entitled.starts_at,
                }
                assert clock.started_at == evidence[clock.start_event]
                assert clock.started_at != mirrored

        # 5. Time passes; the transitions run as beat runs them.
        traveller.shift(timedelta(days=20))
        transitions_run.delay()
        assert set(SlaClock.objects.values_list("state", flat=True)) == {"breached"}
        # The certificate's sunset date has passed: historical, whatever the
        # registry row still says.
        (module,) = client.get(**fips_api).json()["modules"]
        assert (module["status"], module["registry_status"]) == (
            "historical",
            "active",
        )
        assert "sunset passed" in module["status_label"]

    # 6. What the customers see: the pages and the API say what the ledger holds.
    with time_machine.travel(end, tick=True):
        transitions_run.delay()
        for org, owner in ((northwind, nw_owner), (contoso, co_owner)):
            client.force_login(owner)
            page = client.get(f"/o/{org.slug}/sla/")
            assert page.context["counts"]["breached"] == in_scope.count()
            assert 'id="policy"' in page.content.decode()
            api = client.get(
                "/api/v1/sla/clocks/", **_bearer(org, owner, Scope.SLA_READ)
            ).json()
            assert len(api["results"]) == in_scope.count()

        # 7. The signed compliance report's figures equal the ledger's.
        headers = _bearer(northwind, nw_owner, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ)
        window = {
            "window_start": str(start.date()),
            "window_end": str(end.date()),
        }
        report = _report(
            client, run, headers, kind="org_compliance", request_id="nw-1", **window
        )
        evidence = json.loads(_download(client, report["links"]["evidence"], headers))
        ledger = SlaClock.objects.filter(org=northwind)
        assert evidence["appendix"]["count"] == ledger.count()
        assert evidence["appendix"]["states"] == {"breached": ledger.count()}
        assert {c["id"] for c in evidence["appendix"]["clocks"]} == set(
            ledger.values_list("pk", flat=True)
        )
        assert evidence["sla"]["contract"]["overall"]["breached"] == ledger.count()

        # 8. The POA&M lists every open clock.
        poam = _report(client, run, headers, kind="poam", request_id="nw-2", **window)
        book = openpyxl.load_workbook(
            io.BytesIO(_download(client, poam["links"]["download"], headers))
        )
        sheet = book["Open POA&M Items"]
        listed = [row for row in sheet.iter_rows(values_only=True) if row and row[0]]
        cves = {c.finding.vulnerability.vuln_id for c in ledger}
        text = json.dumps(listed, default=str)
        assert all(cve in text for cve in cves)

        # The dossier of the build nobody scanned says so; it claims nothing.
        dossier = _report(
            client,
            run,
            headers,
            kind="image_dossier",
            digest=UNSCANNED,
            request_id="nw-3",
            **window,
        )
        dossier_evidence = json.loads(
            _download(client, dossier["links"]["evidence"], headers)
        )
        assessment = dossier_evidence["assessment"]
        assert (assessment["state"], assessment["has_sbom"]) == ("not_assessed", False)
        assert assessment["open_vulnerabilities"] is None
        # And the compliance report names the advisory sources it relied on.
        sources = json.dumps(evidence["vulnerability_assessment"])
        assert "Ubuntu" in sources
        fips_rows = json.dumps(evidence["fips_modules"])
        assert "4282" in fips_rows
        assert "historical" in fips_rows

        # 9. The ledger check is clean.
        assert _ledger_check()["ok"] is True

        # 10. Lost triggers. Fabrikam mirrors mongo, then gets the SLA by
        # contract, and the task that would open its clocks is lost.
        fabrikam = OrganizationFactory(features=(), name="Fabrikam", slug="fabrikam")
        fb_owner = MembershipFactory(org=fabrikam, role="owner").user
        client.force_login(fb_owner)
        with run():
            client.post("/o/fabrikam/mirrors/", {"repository": "mongo"})
        client.force_login(staff)
        with django_capture_on_commit_callbacks(execute=False):
            client.post(
                reverse("staff_entitlements"),
                {
                    "org": "fabrikam",
                    "feature": "sla",
                    "source": "contract",
                    "reference": "FB-1",
                },
            )
        found = _ledger_check()
        assert found["ok"] is False
        assert found["checks"]["clock_missing"] == 1
        (violation,) = found["violations"]
        assert (violation["org"], violation["check"]) == ("fabrikam", "clock_missing")
        assert "mongo" in violation["subject"]
        # Contoso stops mirroring mongo (its clocks stop, kept), mirrors it
        # again, and the task that resumes them is lost.
        client.force_login(co_owner)
        mirror = Mirror.objects.get(org=contoso)
        with run():
            client.post(f"/o/contoso/mirrors/{mirror.pk}/remove/")
        assert set(
            SlaClock.objects.filter(org=contoso).values_list("stop_reason", flat=True)
        ) == {"unmirrored"}
        with django_capture_on_commit_callbacks(execute=False):
            client.post("/o/contoso/mirrors/", {"repository": "mongo"})
        found = _ledger_check()
        assert found["checks"]["clock_stopped_while_mirrored"] == in_scope.count()
        # The hourly sweep repairs both and records each repair.
        with run():
            ledger_reconcile.delay()
        assert _ledger_check()["ok"] is True
        assert SlaClock.objects.filter(org=fabrikam).count() == in_scope.count()
        assert AuditEvent.objects.filter(
            action=AuditEvent.Action.SLA_LEDGER_REPAIRED, org=fabrikam
        ).exists()
        assert AuditEvent.objects.filter(
            action=AuditEvent.Action.SLA_CLOCKS_RESUMED, org=contoso
        ).exists()
        assert set(
            SlaClock.objects.filter(org=contoso).values_list("state", flat=True)
        ) == {"breached"}

        # A stored report altered after issue no longer passes its checks.
        stored = Report.objects.get(public_id=report["id"])
        tampered = json.loads(stored.evidence_file.read())
        stored.evidence_file.close()
        tampered["appendix"]["count"] += 1
        storage, name = stored.evidence_file.storage, stored.evidence_file.name
        storage.delete(name)
        storage.save(name, ContentFile(json.dumps(tampered).encode()))
        found = _ledger_check()
        assert found["checks"]["report_inconsistent"] >= 1
        assert all(
            v["subject"] == f"report {report['id']}" for v in found["violations"]
        )

        # 11. A document about another image is refused at the door.
        with pytest.raises(CommandError, match="subject"):
            _command("import_sbom", UNSCANNED, str(MONGO_SBOM))
        assert not Attestation.objects.filter(digest__digest=UNSCANNED).exists()
