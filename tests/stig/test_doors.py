"""STIG scans through the evidence door: the staff upload form and the API, with
good and bad files; a refused upload writes nothing."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation
from apps.stig.models import StigRuleResult, StigScan
from tests.catalog import builders as catalog
from tests.factories import MembershipFactory, UserFactory

from . import builders as b
from .test_xccdf import BILLION_LAUGHS

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def image():
    return b.stig_build()


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True))
    return client


@pytest.fixture
def staff_token() -> str:
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=UserFactory(is_staff=True),
    )
    return raw


def _file(content: bytes, name: str = "results.xml"):
    return SimpleUploadedFile(name, content, content_type="application/xml")


def _stored() -> tuple[int, ...]:
    return (
        Attestation.objects.count(),
        StigScan.objects.count(),
        StigRuleResult.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_IMPORTED).count(),
    )


def test_staff_upload_the_real_rhel8_results(staff_client, image):
    response = staff_client.post(
        "/staff/evidence/",
        {
            "kind": "stig",
            "digest": image.digest,
            "document": _file(b.RHEL8.read_bytes()),
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    scan = StigScan.objects.get(digest=image)
    assert scan.rule_count == 248
    event = AuditEvent.objects.get(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert event.details["kind"] == "stig"
    assert event.details["digest"] == image.digest
    assert event.details["failed"] == 166
    assert event.details["scan_id"] == scan.pk


BAD = {
    "malformed": (b"<Benchmark><oops></Benchmark>", "not well-formed XML (line 1"),
    "bomb": (BILLION_LAUGHS, "entities"),
    "mismatch": (
        b.xccdf([(1, "high", "pass")], benchmark="xccdf_mil.disa.stig_benchmark_X"),
        "results are for benchmark",
    ),
    "not results": (b'{"bomFormat": "CycloneDX"}', "STIG Viewer checklist"),
}


@pytest.mark.parametrize("name", BAD)
def test_staff_form_refuses_a_bad_file_and_writes_nothing(staff_client, image, name):
    content, error = BAD[name]
    before = _stored()
    response = staff_client.post(
        "/staff/evidence/",
        {"kind": "stig", "digest": image.digest, "document": _file(content)},
    )
    assert response.status_code == 400
    assert error in json.dumps(response.context["form"].errors)
    assert _stored() == before


def test_staff_form_refuses_a_build_that_is_not_stig(staff_client):
    plain = catalog.build(b.stig_series())
    before = _stored()
    response = staff_client.post(
        "/staff/evidence/",
        {
            "kind": "stig",
            "digest": plain.digest,
            "document": _file(b.xccdf([(1, "high", "fail")])),
        },
    )
    assert response.status_code == 400
    assert "not a STIG variant" in str(response.context["form"].errors["digest"])
    assert _stored() == before


def test_staff_form_refuses_an_oversized_file(staff_client, image, settings):
    settings.EVIDENCE_MAX_BYTES = 500
    before = _stored()
    response = staff_client.post(
        "/staff/evidence/",
        {"kind": "stig", "digest": image.digest, "document": _file(b"<a/>" * 200)},
    )
    assert response.status_code == 400
    assert "limit is 500" in json.dumps(response.context["form"].errors)
    assert _stored() == before


def test_api_loads_a_stig_scan(client, staff_token, image):
    response = client.post(
        "/api/v1/evidence/",
        {
            "kind": "stig",
            "digest": image.digest,
            "document": _file(b.ARF_SAMPLE.read_bytes(), "arf.xml"),
        },
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "stig"
    assert body["source_format"] == "arf"
    assert body["failed"] == 1
    assert StigScan.objects.get(digest=image).pk == body["scan_id"]


@pytest.mark.parametrize("name", BAD)
def test_api_refuses_a_bad_file_with_400_and_writes_nothing(
    client, staff_token, image, name
):
    content, error = BAD[name]
    before = _stored()
    response = client.post(
        "/api/v1/evidence/",
        {"kind": "stig", "digest": image.digest, "document": _file(content)},
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 400
    assert error in json.dumps(response.json())
    assert _stored() == before


def test_api_refuses_a_stig_scan_without_a_digest(client, staff_token):
    response = client.post(
        "/api/v1/evidence/",
        {"kind": "stig", "document": _file(b.xccdf([(1, "high", "fail")]))},
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert response.status_code == 400
    assert "digest" in response.json()
