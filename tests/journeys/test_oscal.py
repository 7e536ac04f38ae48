"""OSCAL out, end to end through the public doors: from an empty database the
publisher registers a build and loads its SBOM, FIPS attestation, an
advisory, the KEV catalog and a VEX statement; a customer holds the SLA by
contract and mirrors the image; time passes. The customer then asks for the
OSCAL POA&M on the reports page and for the Assessment Results, the
Component Definition and the evidence bundle over the API. Each document
parses with compliance-trestle's OSCAL 1.1.2 models and says what the ledger
holds; the XLSX POA&M (legacy) lists the same items; another organization
sees none of it; a later POA&M names the same items by the same UUIDs."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import openpyxl
import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from trestle.oscal import assessment_results as trestle_ar
from trestle.oscal import component as trestle_cd
from trestle.oscal import poam as trestle_poam

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.fips.models import CryptoModule
from apps.reports.models import Report
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from apps.sla.tasks import transitions_run
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MONGO_SBOM = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
OPENSSL_ADVISORY = ROOT / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
CMVP_4282 = ROOT / "apps/fips/testdata/cmvp-cert-4282.json"
# The image the real mongo SBOM is about (its metadata.component).
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
FIPS_BUILD = "sha256:" + "f1" * 32
CVE = "CVE-2023-0286"
Scope = ApiToken.Scope
FEDRAMP_NS = "https://fedramp.gov/ns/oscal"
NS = "https://hardened-images.dev/ns/oscal"


def _command(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _props(holder: dict, ns: str = NS) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for p in holder.get("props", []):
        if p.get("ns") == ns:
            found.setdefault(p["name"], []).append(p["value"])
    return found


def _kev_catalog(due: str, added: str) -> bytes:
    return json.dumps(
        {
            "title": "CISA Catalog of Known Exploited Vulnerabilities",
            "catalogVersion": added.replace("-", "."),
            "dateReleased": f"{added}T12:00:00.000Z",
            "count": 1,
            "vulnerabilities": [
                {
                    "cveID": CVE,
                    "vendorProject": "OpenSSL",
                    "product": "OpenSSL",
                    "vulnerabilityName": "OpenSSL X.400 Type Confusion",
                    "dateAdded": added,
                    "shortDescription": "A type confusion in X.400 address processing.",
                    "requiredAction": "Apply updates per vendor instructions.",
                    "dueDate": due,
                    "knownRansomwareCampaignUse": "Unknown",
                    "notes": "",
                }
            ],
        }
    ).encode()


def _vex_for(component_purl: str, issued: datetime) -> bytes:
    """The publisher's OpenVEX: one package of the build is not affected."""
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://publisher.example/vex/mongo-oscal",
            "author": "Publisher Security",
            "timestamp": issued.isoformat(),
            "version": 1,
            "statements": [
                {
                    "vulnerability": {"name": CVE},
                    "products": [
                        {
                            "@id": f"pkg:oci/mongo@{MONGO}",
                            "subcomponents": [{"@id": component_purl}],
                        }
                    ],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ],
        }
    ).encode()


def _fips_statement() -> bytes:
    return json.dumps(
        {
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
    ).encode()


def _bearer(org, user, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="journey", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _download(client, url: str, headers: dict | None = None) -> bytes:
    response = client.get(url, **(headers or {}))
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def _poam_items(raw: dict) -> dict[int, str]:
    """Clock id -> poam-item UUID."""
    return {
        int(_props(i)["sla-clock"][0]): i["uuid"]
        for i in raw["plan-of-action-and-milestones"]["poam-items"]
    }


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()


def test_a_customer_takes_its_oscal_documents_through_the_public_doors(
    world, client, tmp_path, django_capture_on_commit_callbacks
):
    def run():
        """Tasks run once the request or command commits, as on a worker."""
        return django_capture_on_commit_callbacks(execute=True)

    # Reports are built and signed now (the signing key made for them must be
    # valid for the tests that run after this one); the story before is told
    # in the six weeks up to now.
    end = timezone.now()
    start = datetime.combine((end - timedelta(days=42)).date(), time(9), tzinfo=UTC)
    staff = UserFactory(is_staff=True, email="security@publisher.example")
    northwind = OrganizationFactory(features=(), name="Northwind", slug="northwind")
    globex = OrganizationFactory(features=(), name="Globex", slug="globex")
    owner = MembershipFactory(org=northwind, role="owner").user
    globex_owner = MembershipFactory(org=globex, role="owner").user
    _, raw = api_token_create(
        org=OrganizationFactory(name="Publisher"),
        name="pipeline",
        scopes=[Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    pipeline = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def load(kind: str, content: bytes, **fields) -> None:
        with run():
            response = client.post(
                "/api/v1/evidence/",
                {"kind": kind, "document": io.BytesIO(content), **fields},
                **pipeline,
            )
        assert response.status_code == 201, response.content

    with time_machine.travel(start, tick=True) as traveller:
        # 1. The publisher registers the builds and loads their evidence.
        _command(
            "register_build", "mongo", "6.0", MONGO, "--tag", "6.0",
            "--built-at", (start - timedelta(days=3)).isoformat(),
        )  # fmt: skip
        _command("import_sbom", MONGO, str(MONGO_SBOM))
        _command("fips_modules_import", str(CMVP_4282))
        _command(
            "register_build", "mongo", "6.0", FIPS_BUILD, "--fips", "--tag", "6.0-fips"
        )
        load("fips", _fips_statement(), digest=FIPS_BUILD)

        # 2. Northwind holds the SLA and FIPS by contract and mirrors mongo.
        client.force_login(staff)
        for feature in ("sla", "fips"):
            with run():
                response = client.post(
                    reverse("staff_entitlements"),
                    {
                        "org": "northwind",
                        "feature": feature,
                        "source": "contract",
                        "reference": "NW-OSCAL-1",
                    },
                )
            assert response.status_code == 302
        client.force_login(owner)
        with run():
            response = client.post(
                "/o/northwind/mirrors/", {"repository": "mongo", "include_fips": "on"}
            )
        assert response.status_code == 302

        # 3. The advisory arrives and is matched; CISA lists it as exploited.
        traveller.shift(timedelta(days=1))
        with run():
            _command("import_osv", str(OPENSSL_ADVISORY))
            _command("match_findings")
        kev = tmp_path / "kev.json"
        kev.write_bytes(
            _kev_catalog(
                due=str((start + timedelta(days=22)).date()),
                added=str((start + timedelta(days=1)).date()),
            )
        )
        with run():
            _command("import_kev", str(kev))
        clocks = list(SlaClock.objects.filter(org=northwind).select_related("finding"))
        assert len(clocks) >= 2

        # 4. The publisher states one package of the build is not affected:
        # its clock stops.
        traveller.shift(timedelta(days=2))
        spared = clocks[0]
        load("vex", _vex_for(spared.finding.component.purl, timezone.now()))
        spared.refresh_from_db()
        assert spared.state == SlaClock.State.EXEMPT

        # 5. Three weeks pass; the clocks move as beat moves them.
        traveller.shift(timedelta(days=21))
        transitions_run.delay()

    running = set(
        SlaClock.objects.filter(org=northwind, stopped_at__isnull=True).values_list(
            "pk", flat=True
        )
    )
    assert spared.pk not in running
    assert running
    window = {
        "window_start": str(start.date()),
        "window_end": str((end - timedelta(days=1)).date()),
    }

    with time_machine.travel(end, tick=True):
        # 6. On the reports page the OSCAL kinds are offered and the XLSX is
        # the legacy format; the owner asks for the OSCAL POA&M there.
        client.force_login(owner)
        page = client.get("/o/northwind/reports/").content.decode()
        assert "OSCAL POA&amp;M (JSON)" in page
        assert "FedRAMP POA&amp;M (XLSX, legacy)" in page
        with run():
            response = client.post(
                "/o/northwind/reports/",
                {"kind": "oscal_poam", "request_id": "nw-oscal-1", **window},
            )
        assert response.status_code == 302
        detail = client.get(response["Location"]).content.decode()
        assert "REPLACE-WITH-YOUR-SSP.json" in detail
        report = Report.objects.get(org=northwind, request_id="nw-oscal-1")
        assert report.status == Report.Status.READY, report.error
        listing = client.get("/o/northwind/reports/").content.decode()
        download = reverse("reports:download", args=["northwind", report.public_id])
        assert download in listing
        content = _download(client, download)
        poam = json.loads(content)
        trestle_poam.Model.parse_obj(poam)
        body = poam["plan-of-action-and-milestones"]
        assert body["metadata"]["oscal-version"] == "1.1.2"
        assert set(_poam_items(poam)) == running
        assert str(spared.finding.component.purl) not in json.dumps(
            body["observations"]
        )
        # The KEV listing and its due date are on every item's risk.
        for risk in body["risks"]:
            fedramp = _props(risk, FEDRAMP_NS)
            assert fedramp["kev-catalog"] == ["yes"]
            assert fedramp["kev-due-date"] == [str((start + timedelta(days=22)).date())]
        assert body["import-ssp"]["href"] == "REPLACE-WITH-YOUR-SSP.json"

        # 7. The legacy XLSX POA&M lists the same items.
        headers = _bearer(northwind, owner, Scope.REPORTS_WRITE, Scope.EVIDENCE_READ)

        def api_report(kind: str, request_id: str) -> dict:
            with run():
                response = client.post(
                    "/api/v1/reports/",
                    {"kind": kind, "request_id": request_id, **window},
                    content_type="application/json",
                    **headers,
                )
            assert response.status_code == 201, response.content
            found = client.get(
                f"/api/v1/reports/{response.json()['id']}/", **headers
            ).json()
            assert found["status"] == "ready", found
            return found

        xlsx = api_report("poam", "nw-xlsx-1")
        book = openpyxl.load_workbook(
            io.BytesIO(_download(client, xlsx["links"]["download"], headers))
        )
        ids = [
            r[0]
            for r in book["Open POA&M Items"].iter_rows(min_row=2, values_only=True)
        ]
        assert {int(re.fullmatch(r"V-(\d+)", i).group(1)) for i in ids} == running

        # 8. Assessment Results and the Component Definition over the API.
        results = api_report("oscal_results", "nw-ar-1")
        assert results["media_type"] == "application/json"
        ar = json.loads(_download(client, results["links"]["download"], headers))
        trestle_ar.Model.parse_obj(ar)
        (result,) = ar["assessment-results"]["results"]
        by_clock = {int(_props(f)["sla-clock"][0]): f for f in result["findings"]}
        assert set(by_clock) == {c.pk for c in clocks}
        risks = {r["uuid"]: r for r in result["risks"]}
        spared_risk = risks[by_clock[spared.pk]["related-risks"][0]["risk-uuid"]]
        assert spared_risk["status"] == "closed"
        assert "VEX not_affected" in json.dumps(spared_risk["risk-log"])

        components = api_report("oscal_components", "nw-cd-1")
        cd = json.loads(_download(client, components["links"]["download"], headers))
        trestle_cd.Model.parse_obj(cd)
        (component,) = cd["component-definition"]["components"]
        assert _props(component)["image-family"] == ["mongo"]
        requirements = {
            r["control-id"]: r
            for r in component["control-implementations"][0]["implemented-requirements"]
        }
        assert "#4282" in requirements["sc-13"]["description"]
        module = CryptoModule.objects.get(certificate_number=4282)
        lapsed = module.sunset_date is not None and module.sunset_date <= end.date()
        assert _props(requirements["sc-13"])["evidence"] == [
            "partial" if lapsed else "assessed"
        ]
        assert _props(requirements["si-2"])["evidence"] == ["assessed"]
        assert "OSV Ubuntu" in requirements["ra-5"]["description"]
        # No STIG variant of mongo: CM-6 says it was not assessed.
        assert _props(requirements["cm-6"])["evidence"] == ["not-assessed"]
        assert requirements["cm-6"]["description"].startswith("Not assessed:")

        # 9. The evidence bundle carries the three, the same items.
        bundle = api_report("evidence_bundle", "nw-bundle-1")
        with zipfile.ZipFile(
            io.BytesIO(_download(client, bundle["links"]["download"], headers))
        ) as zf:
            names = zf.namelist()
            inside = json.loads(zf.read("oscal/poam.json"))
            manifest = zf.read("MANIFEST.sha256").decode()
        for path in (
            "oscal/poam.json",
            "oscal/assessment-results.json",
            "oscal/component-definition.json",
        ):
            assert path in names
            assert f"  {path}\n" in manifest
        assert _poam_items(inside) == _poam_items(poam)

        # 10. Another organization sees none of it.
        outsider = _bearer(globex, globex_owner, Scope.EVIDENCE_READ)
        for found in (results, components, bundle):
            assert client.get(found["links"]["download"], **outsider).status_code == 404
        client.force_login(globex_owner)
        assert client.get(download).status_code == 404

    # 11. A day later the POA&M names the same items by the same UUIDs.
    with time_machine.travel(end + timedelta(days=1), tick=True):
        client.force_login(owner)
        with run():
            client.post(
                "/o/northwind/reports/",
                {"kind": "oscal_poam", "request_id": "nw-oscal-2", **window},
            )
        later = Report.objects.get(org=northwind, request_id="nw-oscal-2")
        again = json.loads(
            _download(
                client, reverse("reports:download", args=["northwind", later.public_id])
            )
        )
        assert again["plan-of-action-and-milestones"]["uuid"] == body["uuid"]
        assert _poam_items(again) == _poam_items(poam)
