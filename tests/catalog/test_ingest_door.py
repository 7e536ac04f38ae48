"""The evidence door shared by the staff upload form and the API."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog import services as catalog
from apps.catalog.models import Attestation
from apps.vulns.models import Component, Finding, Vulnerability
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
CATALOG_DATA = Path(__file__).resolve().parents[2] / "apps/catalog/testdata"
VULNS_DATA = Path(__file__).resolve().parents[2] / "apps/vulns/testdata"
# The image the real mongo SBOM is about (its metadata.component).
MONGO_DIGEST = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"


@pytest.fixture
def mongo_image(db):
    repository = catalog.repository_upsert(name="mongo", category="database")
    series = catalog.series_upsert(repository=repository, name="6.0")
    variant = catalog.variant_get_or_create(series=series)
    return catalog.digest_register(
        variant=variant,
        digest=MONGO_DIGEST,
        built_at=datetime(2023, 1, 10, tzinfo=UTC),
        tags=["6.0"],
    )


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    return client


def _upload(name: str, content: bytes):
    return SimpleUploadedFile(name, content, content_type="application/json")


def _counts():
    return (
        Attestation.objects.count(),
        Component.objects.count(),
        Vulnerability.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_IMPORTED).count(),
    )


def test_sbom_then_advisory_produce_a_real_finding(
    staff_client, mongo_image, django_capture_on_commit_callbacks
):
    sbom = (CATALOG_DATA / "guac__big-mongo-cyclonedx.json").read_bytes()
    response = staff_client.post(
        "/staff/evidence/",
        {"kind": "sbom", "digest": MONGO_DIGEST, "document": _upload("s.json", sbom)},
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    advisory = (VULNS_DATA / "osv/ubuntu/CVE-2023-0286.json").read_bytes()
    # Matching runs as a task once the import commits.
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            "/staff/evidence/", {"kind": "osv", "document": _upload("a.json", advisory)}
        )
    assert response.status_code == 302
    findings = Finding.objects.filter(vulnerability__vuln_id="CVE-2023-0286")
    # Both binary packages built from Ubuntu's openssl source are affected.
    assert sorted(f.component.name for f in findings) == ["libssl1.1", "openssl"]
    for finding in findings:
        assert finding.digest == mongo_image
        assert finding.component.version == "1.1.1f-1ubuntu2.16"
        assert finding.fixed_version == "1.1.1f-1ubuntu2.17"
    events = AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert [e.details["kind"] for e in events.order_by("id")] == ["sbom", "osv"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"kind": "sbom", "document": b"{}"}, "Name the image digest"),
        (
            {"kind": "sbom", "digest": "sha256:" + "cd" * 32, "document": b"{}"},
            "No image",
        ),
        (
            {"kind": "sbom", "digest": "latest", "document": b"{}"},
            "Not a sha256 digest",
        ),
        ({"kind": "vex", "document": b"{not json"}, ""),
        ({"kind": "sbom", "digest": MONGO_DIGEST, "document": b'{"hello": 1}'}, ""),
        ({"kind": "kev", "document": b'{"vulnerabilities": "no"}'}, ""),
        ({"kind": "osv", "document": b"   "}, "empty"),
        ({"kind": "nonsense", "document": b"{}"}, "nonsense"),
    ],
)
def test_bad_uploads_are_refused_and_write_nothing(
    staff_client, mongo_image, data, error
):
    before = _counts()
    payload = {**data, "document": _upload("d.json", data["document"])}
    response = staff_client.post("/staff/evidence/", payload)
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors
    assert error in json.dumps(form.errors)
    assert _counts() == before


def test_oversized_upload_is_refused_before_reading(
    staff_client, mongo_image, settings
):
    settings.EVIDENCE_MAX_BYTES = 100
    before = _counts()
    response = staff_client.post(
        "/staff/evidence/",
        {"kind": "vex", "document": _upload("big.json", b"{" + b" " * 200 + b"}")},
    )
    assert response.status_code == 400
    assert "limit is 100" in json.dumps(response.context["form"].errors)
    assert _counts() == before


def test_upload_page_is_for_staff_only(client, user):
    assert client.get("/staff/evidence/").status_code == 302
    client.force_login(user)
    assert client.get("/staff/evidence/").status_code == 403


@pytest.fixture
def staff_token():
    staff = UserFactory(is_staff=True)
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    return raw


def test_api_loads_evidence_with_a_staff_token(client, staff_token, mongo_image):
    advisory = (VULNS_DATA / "osv/ubuntu/CVE-2023-0286.json").read_bytes()
    response = client.post(
        "/api/v1/evidence/",
        {"kind": "osv", "document": _upload("a.json", advisory)},
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "osv"
    assert Vulnerability.objects.filter(vuln_id="CVE-2023-0286").exists()


def test_api_refuses_bad_documents_with_400(client, staff_token, mongo_image):
    before = _counts()
    response = client.post(
        "/api/v1/evidence/",
        {
            "kind": "sbom",
            "digest": MONGO_DIGEST,
            "document": _upload("a.json", b'{"bomFormat": "CycloneDX"}'),
        },
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 400
    assert response.json()
    assert _counts() == before


def test_api_refuses_tokens_without_staff_catalog_write(client, mongo_image):
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="ci",
        scopes=["org:read"],
        expires_at=None,
        actor=owner.user,
    )
    response = client.post(
        "/api/v1/evidence/",
        {"kind": "kev", "document": _upload("k.json", b"{}")},
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert client.post("/api/v1/evidence/", {}).status_code == 401
    client.force_login(owner.user)  # a browser session is no API credential
    assert client.post("/api/v1/evidence/", {}).status_code == 401


def test_commands_leave_the_same_audit_record(mongo_image):
    from django.core.management import call_command

    vex = VULNS_DATA / "vex/dhi/dhi-busybox.vex.json"
    call_command("import_vex", str(vex))
    call_command(
        "import_sbom", MONGO_DIGEST, str(CATALOG_DATA / "portal__cyclonedx-1.6.json")
    )
    events = AuditEvent.objects.filter(
        action=AuditEvent.Action.EVIDENCE_IMPORTED
    ).order_by("id")
    assert [e.details["kind"] for e in events] == ["vex", "sbom"]
    assert events[0].details["source"] == str(vex)
    assert events[1].details["digest"] == MONGO_DIGEST
    assert events[0].actor is None
