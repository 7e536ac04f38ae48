"""Evidence in, end to end through the public doors: the publisher's pipeline
registers a build over the API after a VEX naming it was already loaded; the
customer's clocks open when the build's SBOM and an advisory arrive and stop at
once by that VEX; a corrected VEX replaces the first and the clocks run again;
a third version stops them; staff withdraw it and they run again, deadlines
never moved. Counts, pages, downloads and the ledger check agree at each step."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.sla.defaults import defaults_load
from apps.sla.models import SlaClock
from apps.sla.tasks import transitions_run
from apps.vulns.models import VexDocument, VexStatement
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MONGO_SBOM = ROOT / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
OPENSSL_ADVISORY = ROOT / "apps/vulns/testdata/osv/ubuntu/CVE-2023-0286.json"
# The image the real mongo SBOM is about (its metadata.component).
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"
CVE = "CVE-2023-0286"
VEX_ID = "https://publisher.example/vex/mongo"
# A Monday, so the 7 business days of the Select policy are easy to read.
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
Action = AuditEvent.Action
State = SlaClock.State


def _ledger_check() -> dict:
    out = io.StringIO()
    code = 0
    try:
        call_command("ledger_check", "--json", stdout=out)
    except CommandError as failed:
        code = failed.returncode
    document = json.loads(out.getvalue())
    assert code == (0 if document["ok"] else 1)
    return document


def _vex(version: int, openssl_status: str, issued: datetime) -> bytes:
    """The publisher's OpenVEX for mongo: two statements, one naming the build
    in both spellings DHI uses, one naming two packages in every build."""
    first: dict = {
        "vulnerability": {"name": CVE},
        "products": [
            {"@id": f"pkg:oci/mongo@{MONGO}"},
            {"@id": f"pkg:docker/dhi/mongo@{MONGO}"},
        ],
        "status": openssl_status,
    }
    if openssl_status == "not_affected":
        first["justification"] = "vulnerable_code_not_in_execute_path"
    else:
        first["action_statement"] = "Update to the next mongo build."
    second = {
        "vulnerability": {"name": "CVE-2099-0001"},
        "products": [
            {
                "@id": "pkg:oci/mongo",
                "subcomponents": [
                    {"@id": "pkg:deb/ubuntu/zlib1g"},
                    {"@id": "pkg:deb/ubuntu/libzstd1"},
                ],
            }
        ],
        "status": "under_investigation",
    }
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": VEX_ID,
            "author": "Publisher Security",
            "timestamp": issued.isoformat(),
            "version": version,
            "statements": [first, second],
        }
    ).encode()


def _vex_links(client, *pages: str) -> list[str]:
    html = "".join(client.get(page).content.decode() for page in pages)
    return sorted(
        set(
            re.findall(r'href="(/catalog/[^"]*/vex/[^"]*)"', html.replace("&amp;", "&"))
        )
    )


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()
    defaults_load()


def test_a_build_registered_after_its_vex_gets_clocks_that_follow_every_version(
    world, client, django_capture_on_commit_callbacks
):
    def run():
        """Tasks run once the request commits, as on a worker."""
        return django_capture_on_commit_callbacks(execute=True)

    staff = UserFactory(is_staff=True, email="security@publisher.example")
    northwind = OrganizationFactory(features=(), name="Northwind", slug="northwind")
    owner = MembershipFactory(org=northwind, role="owner").user
    _, raw = api_token_create(
        org=OrganizationFactory(name="Publisher"),
        name="pipeline",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    pipeline = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}

    def load(kind: str, content: bytes, **fields) -> dict:
        with run():
            response = client.post(
                "/api/v1/evidence/",
                {"kind": kind, "document": io.BytesIO(content), **fields},
                **pipeline,
            )
        assert response.status_code == 201, response.content
        return response.json()

    def clocks() -> list[SlaClock]:
        return list(SlaClock.objects.filter(org=northwind).order_by("pk"))

    with time_machine.travel(START, tick=True) as traveller:
        # 1. Northwind holds the SLA by contract and mirrors mongo, which the
        # catalog does not have yet.
        client.force_login(staff)
        with run():
            response = client.post(
                reverse("staff_entitlements"),
                {
                    "org": "northwind",
                    "feature": "sla",
                    "source": "contract",
                    "reference": "NW-2026-11",
                },
            )
        assert response.status_code == 302

        # 2. The VEX arrives before the build is registered: its count is the
        # statements it states (2), not its rows; nothing in it is linked.
        v1 = load("vex", _vex(1, "not_affected", START))
        assert (v1["statements"], v1["about_catalog"], v1["replaced"]) == (2, 0, "")
        assert VexStatement.objects.count() == 3  # the build once, two packages
        assert not VexStatement.objects.filter(repository__isnull=False).exists()

        # 3. The pipeline registers the build over the API; again, only tags.
        body = {
            "repository": "mongo",
            "series": "6.0",
            "digest": MONGO,
            "built_at": (START - timedelta(days=3)).isoformat(),
            "tags": ["6.0"],
        }
        with run():
            response = client.post(
                "/api/v1/builds/", body, content_type="application/json", **pipeline
            )
        assert response.status_code == 201, response.content
        with run():
            again = client.post(
                "/api/v1/builds/",
                body | {"tags": ["6.0", "latest"]},
                content_type="application/json",
                **pipeline,
            )
        assert (again.status_code, again.json()["tags_moved"]) == (200, ["latest"])
        # Registering linked every statement naming mongo or the build.
        assert not VexStatement.objects.filter(repository__isnull=True).exists()
        assert VexStatement.objects.get(vulnerability__vuln_id=CVE).digest.digest == (
            MONGO
        )
        client.force_login(owner)
        with run():
            response = client.post("/o/northwind/mirrors/", {"repository": "mongo"})
        assert response.status_code == 302
        assert clocks() == []  # no SBOM yet: no findings, no clocks

        # Every VEX download the catalog pages offer answers with a document.
        pages = ("/catalog/mongo/", f"/catalog/digest/{MONGO}/")
        links = _vex_links(client, *pages)
        assert len(links) == 3
        for link in links:
            response = client.get(link)
            assert response.status_code == 200, link
            assert json.loads(response.content)

        # 4. The build's SBOM and the advisory arrive: the findings' clocks
        # open, and the VEX already in force stops them at once.
        traveller.shift(timedelta(hours=2))
        load("sbom", MONGO_SBOM.read_bytes(), digest=MONGO)
        load("osv", OPENSSL_ADVISORY.read_bytes())
        opened = clocks()
        assert len(opened) == 2  # libssl1.1 and openssl
        assert {c.finding.vulnerability.vuln_id for c in opened} == {CVE}
        assert {(c.state, c.stop_reason) for c in opened} == {(State.EXEMPT, "vex")}
        deadlines = {c.pk: c.due_at for c in opened}
        assert _ledger_check()["ok"]

        # 5. Two days on, a corrected version: affected after all. It replaces
        # the first (kept as history); the clocks run again, same deadlines.
        traveller.shift(timedelta(days=2))
        v2 = load("vex", _vex(2, "affected", START + timedelta(days=2)))
        assert (v2["statements"], v2["replaced"]) == (2, str(v1["id"]))
        first = VexDocument.objects.get(pk=v1["id"])
        assert first.superseded_by_id == v2["id"]
        assert {c.state for c in clocks()} == {State.OPEN}
        assert {c.pk: c.due_at for c in clocks()} == deadlines
        resumed = AuditEvent.objects.get(action=Action.SLA_CLOCKS_VEX_RESUMED)
        assert resumed.org == northwind
        # The same first bytes again change nothing; an older version with
        # other bytes is refused.
        assert load("vex", _vex(1, "not_affected", START))["id"] == v1["id"]
        with run():
            stale = client.post(
                "/api/v1/evidence/",
                {
                    "kind": "vex",
                    "document": io.BytesIO(_vex(1, "fixed", START + timedelta(days=1))),
                },
                **pipeline,
            )
        assert stale.status_code == 400
        assert "was imported before" in json.dumps(stale.json())
        assert {c.state for c in clocks()} == {State.OPEN}

        # 6. Version 3 says not affected again: the clocks stop by it.
        traveller.shift(timedelta(days=1))
        v3 = load("vex", _vex(3, "not_affected", START + timedelta(days=3)))
        assert {(c.state, c.vex_statement.document_id) for c in clocks()} == {
            (State.EXEMPT, v3["id"])
        }

        # 7. Staff withdraw it with a reason: out of force, clocks run again,
        # the page keeps who, when and why.
        traveller.shift(timedelta(days=1))
        client.force_login(staff)
        with run():
            response = client.post(
                reverse("staff_vex_withdraw", args=[v3["id"]]),
                {"reason": "The build does load libssl's vulnerable code path."},
            )
        assert response.status_code == 302
        page = client.get(reverse("staff_vex_document", args=[v3["id"]]))
        text = page.content.decode()
        assert "security@publisher.example: The build does load" in text
        assert '<dd id="statement-count">2</dd>' in text
        listing = client.get(reverse("staff_vex_documents")).content.decode()
        assert listing.count("superseded by") == 2
        assert listing.count("withdrawn 2026-11-06") == 1
        assert {c.state for c in clocks()} == {State.OPEN}
        assert {c.pk: c.due_at for c in clocks()} == deadlines
        withdrawn = AuditEvent.objects.get(action=Action.VEX_WITHDRAWN)
        assert withdrawn.actor == staff
        assert (
            AuditEvent.objects.filter(
                action=Action.SLA_CLOCKS_VEX_RESUMED, org=northwind
            ).count()
            == 2
        )
        # No VEX in force: no page offers a download.
        assert _vex_links(client, *pages) == []
        assert _ledger_check()["ok"]

        # 8. The deadlines pass: the clocks breach on the dates they always had.
        traveller.shift(timedelta(days=10))
        transitions_run.delay()
        assert {c.state for c in clocks()} == {State.BREACHED}
        assert _ledger_check()["ok"]
