"""Where signature verdicts show: every attestation of a build loaded through
the evidence door says Verified (by which signer, which key, when), Unverified,
Invalid (which check failed) or Untrusted (and "no longer trusted" once its
signer is revoked), on the digest page and in the API."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from apps.catalog.models import Attestation

from . import builders as b
from . import signing

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def signed_build():
    """One build with an attestation of each verdict, each loaded through the
    door with its signature (or without one)."""
    image = b.build(b.series(b.repository("python")), tags=["3.12"])
    with time_machine.travel(NOW, tick=False):
        rows = signing.one_of_each(image)
    return image, rows


def test_each_verdict_is_stored_from_real_verification(signed_build):
    _, rows = signed_build
    assert {k: (a.signature_status, a.signature_check) for k, a in rows.items()} == {
        "verified": ("verified", ""),
        "unverified": ("unverified", ""),
        "invalid": ("invalid", "signature"),
        "untrusted": ("untrusted", "unknown_signer"),
        "revoked": ("untrusted", "revoked"),
    }
    assert rows["revoked"].signature_no_longer_trusted
    assert not rows["untrusted"].signature_no_longer_trusted


def _row(page: str, attestation: Attestation) -> str:
    table = page[page.index('<table class="catalog-table" id="attestations">') :]
    table = table[: table.index("</table>")]
    for row in table.split("<tr>")[1:]:
        if attestation.sha256[:16] in row:
            return row
    raise AssertionError(f"no row for {attestation.sha256[:16]}")


def test_digest_page_shows_each_verdict(signed_build):
    image, rows = signed_build
    page = Client().get(reverse("catalog:digest", args=[image.digest]))
    assert page.status_code == 200
    html = page.content.decode()

    verified = _row(html, rows["verified"])
    assert 'data-status="verified">Verified<' in verified
    assert "by Catalog release key" in verified
    # Which key: its algorithm and fingerprint; when: nothing attests the
    # signing time of a key-signed envelope, so when it was checked.
    fingerprint = rows["verified"].signature_signer.fingerprint
    assert f"ECDSA P-256 key {fingerprint[:16]}" in verified
    assert "checked 2026-12-07 09:00 UTC" in verified

    assert 'data-status="unverified">Unverified<' in _row(html, rows["unverified"])

    invalid = _row(html, rows["invalid"])
    assert 'data-status="invalid">Invalid<' in invalid
    assert "Failed check: signature over the content" in invalid
    assert "changed after signing" in invalid

    untrusted = _row(html, rows["untrusted"])
    assert 'data-status="untrusted">Untrusted<' in untrusted
    assert "Signer not registered" in untrusted

    revoked = _row(html, rows["revoked"])
    assert 'data-status="untrusted">No longer trusted<' in revoked
    assert "Retired build key was revoked" in revoked
    assert "Key material leaked" in revoked
    assert len(re.findall(r'class="badge[^"]*signature-status"', html)) == 5


def test_api_gives_each_verdict(signed_build):
    image, rows = signed_build
    detail = Client().get(f"/api/v1/digests/{image.digest}/").json()
    by_sha = {a["sha256"]: a for a in detail["attestations"]}
    verified = by_sha[rows["verified"].sha256]
    signer = rows["verified"].signature_signer
    assert verified["signature_verified"] is True
    assert verified["signature"] == {
        "status": "verified",
        "check": "",
        "signer": {
            "id": signer.pk,
            "name": "Catalog release key",
            "kind": "public_key",
            "revoked": False,
        },
        "identity": f"ECDSA P-256 key {signer.fingerprint[:16]}",
        "signed_at": None,
        "checked_at": "2026-12-07T09:00:00Z",
        "message": rows["verified"].signature_message,
        "no_longer_trusted": False,
    }
    unverified = by_sha[rows["unverified"].sha256]["signature"]
    assert (unverified["status"], unverified["signer"]) == ("unverified", None)
    invalid = by_sha[rows["invalid"].sha256]
    assert (invalid["signature"]["status"], invalid["signature"]["check"]) == (
        "invalid",
        "signature",
    )
    assert invalid["signature_verified"] is False
    untrusted = by_sha[rows["untrusted"].sha256]["signature"]
    assert (untrusted["status"], untrusted["check"]) == ("untrusted", "unknown_signer")
    revoked = by_sha[rows["revoked"].sha256]["signature"]
    assert (revoked["status"], revoked["check"]) == ("untrusted", "revoked")
    assert revoked["no_longer_trusted"] is True
    assert revoked["signer"]["revoked"] is True
    assert revoked["signer"]["name"] == "Retired build key"


def test_schema_documents_the_signature_verdict():
    schema = Client().get("/api/v1/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    attestation = components["AttestationOut"]["properties"]
    assert attestation["signature"]["allOf"] == [
        {"$ref": "#/components/schemas/SignatureOut"}
    ]
    assert attestation["signature_verified"]["type"] == "boolean"
    signature = components["SignatureOut"]
    assert set(signature["properties"]) == {
        "status",
        "check",
        "signer",
        "identity",
        "signed_at",
        "checked_at",
        "message",
        "no_longer_trusted",
    }
    status = signature["properties"]["status"]["allOf"][0]["$ref"].rsplit("/", 1)[1]
    assert components[status]["enum"] == [
        "verified",
        "unverified",
        "invalid",
        "untrusted",
    ]
    assert signature["properties"]["signer"]["nullable"] is True
