"""The portal's own statements, signed: its VEX exports come as a DSSE envelope
by the report-signing key with ``?signature=dsse`` (the payload the exact bytes
served, the key id the signing key's), and ``manage.py verify_evidence FILE
SIG`` checks such a pair: 0 when the file is the payload and the key the
portal's, 1 with the reason otherwise. Bad parameters and bad files are
refused with their reason."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.catalog.formats.dsse import pae
from apps.reports.models import ReportDownload, SigningKey
from apps.reports.signing import current_signing_key
from apps.reports.statements import statement_sign
from tests.catalog import signing
from tests.catalog.test_vex_downloads import DIGEST, busybox  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VEX_URLS = (
    f"/api/v1/digests/{DIGEST}/openvex/",
    f"/api/v1/digests/{DIGEST}/cyclonedx-vex/",
    "/api/v1/repositories/busybox/openvex/",
)


def _envelope(response) -> dict:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/vnd.dsse.envelope.v1+json"
    return json.loads(response.content)


def _pae_verifies(envelope: dict, row: SigningKey) -> bool:
    """Checked here with the certificate's key and ``cryptography`` alone."""
    key = x509.load_pem_x509_certificate(row.certificate_pem.encode()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    payload = base64.b64decode(envelope["payload"])
    try:
        key.verify(
            base64.b64decode(envelope["signatures"][0]["sig"]),
            pae(envelope["payloadType"], payload),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize("url", VEX_URLS)
def test_a_vex_export_comes_signed_by_the_portal_s_key(client, busybox, url):  # noqa: F811
    served = client.get(url)
    assert served.status_code == 200
    envelope = _envelope(client.get(url, {"signature": "dsse"}))
    # The payload is the exact bytes the same URL serves without the parameter.
    assert base64.b64decode(envelope["payload"]) == served.content
    assert envelope["payloadType"] == "application/json"
    row = current_signing_key()
    (signature,) = envelope["signatures"]
    assert signature["keyid"] == row.key_id
    assert _pae_verifies(envelope, row)
    envelope["payload"] = base64.b64encode(served.content + b" ").decode()
    assert not _pae_verifies(envelope, row)


@pytest.mark.parametrize("value", ["sha256", "", "DSSE", "dsse,cosign"])
def test_another_signature_parameter_is_refused(client, busybox, value):  # noqa: F811
    response = client.get(VEX_URLS[0], {"signature": value})
    assert response.status_code == 400
    assert '"dsse" is the one signature offered' in response.json()["signature"][0]


def test_a_build_without_vex_is_404_signed_or_not(client, busybox):  # noqa: F811
    missing = f"/api/v1/digests/sha256:{'0' * 64}/openvex/"
    assert client.get(missing, {"signature": "dsse"}).status_code == 404


def test_the_schema_documents_the_parameter(client):
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    for path in (
        "/api/v1/digests/{digest}/openvex/",
        "/api/v1/digests/{digest}/cyclonedx-vex/",
        "/api/v1/repositories/{name}/openvex/",
    ):
        (param,) = [
            p
            for p in schema["paths"][path]["get"]["parameters"]
            if p["name"] == "signature"
        ]
        assert param["schema"]["enum"] == ["dsse"]


# --------------------------------------------------------------------------
# manage.py verify_evidence
# --------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path, client, busybox):  # noqa: F811
    """A VEX export as served and its signature, saved as files."""
    url = VEX_URLS[0]
    document = tmp_path / "busybox.openvex.json"
    document.write_bytes(client.get(url).content)
    signature = tmp_path / "busybox.openvex.json.dsse.json"
    signature.write_bytes(client.get(url, {"signature": "dsse"}).content)
    return document, signature


def _verify(capsys, *args) -> tuple[int, str]:
    try:
        call_command("verify_evidence", *map(str, args))
    except CommandError as exc:
        return exc.returncode, capsys.readouterr().out + str(exc)
    return 0, capsys.readouterr().out


def test_verify_evidence_accepts_the_served_file_and_its_signature(pair, capsys):
    document, signature = pair
    code, out = _verify(capsys, document, signature)
    assert code == 0, out
    row = current_signing_key()
    assert f"Signed by key: {row.key_id}" in out
    assert "Payload type: application/json" in out
    assert out.rstrip().endswith("Valid.")
    code, out = _verify(capsys, document, signature, "--json")
    result = json.loads(out)
    assert (code, result["valid"], result["status"]) == (0, True, "verified")
    assert result["key_id"] == row.key_id
    assert "the payload is this file, byte for byte" in result["message"]


def test_verify_evidence_refuses_a_changed_file(pair, capsys):
    document, signature = pair
    changed = bytearray(document.read_bytes())
    changed[len(changed) // 2] ^= 0x01
    document.write_bytes(bytes(changed))
    code, out = _verify(capsys, document, signature)
    assert code == 1
    assert "The envelope signs another file" in out


def test_verify_evidence_refuses_a_changed_signature(pair, capsys):
    document, signature = pair
    envelope = json.loads(signature.read_bytes())
    sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    sig[12] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    signature.write_text(json.dumps(envelope))
    code, out = _verify(capsys, document, signature, "--json")
    assert code == 1
    result = json.loads(out[: out.rindex("}") + 1])
    assert (result["status"], result["check"]) == ("invalid", "signature")
    assert "changed after signing" in result["message"]


def test_verify_evidence_refuses_another_key_s_signature(pair, capsys, tmp_path):
    document, _ = pair
    stranger = tmp_path / "stranger.dsse.json"
    stranger.write_bytes(
        signing.envelope(signing.private_key(), document.read_bytes(), keyid="")
    )
    # The stranger's envelope is an in-toto one: its payload type aside, no
    # portal key made it.
    code, out = _verify(capsys, document, stranger)
    assert code == 1
    assert "No registered key verifies this signature" in out


def test_a_statement_signed_before_a_key_rotation_still_verifies(
    pair, capsys, settings, tmp_path
):
    document, signature = pair
    old = current_signing_key()
    settings.REPORT_SIGNING_DIR = tmp_path / "next-key"
    new = current_signing_key()
    assert new.key_id != old.key_id
    assert _verify(capsys, document, signature)[0] == 0
    resigned = tmp_path / "resigned.dsse.json"
    resigned.write_bytes(
        statement_sign(document.read_bytes(), payload_type="application/json")
    )
    code, out = _verify(capsys, document, resigned)
    assert (code, f"Signed by key: {new.key_id}" in out) == (0, True)


def test_a_key_whose_certificate_has_ended_no_longer_vouches(pair, capsys):
    document, signature = pair
    SigningKey.objects.update(not_after=timezone.now() - timedelta(days=1))
    code, out = _verify(capsys, document, signature)
    assert code == 1
    assert "outside the validity window" in out


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"not json", "The signature file is not JSON"),
        (b'{"a": 1}', "not a DSSE envelope"),
        (b'{"payloadType": "x", "payload": "%%%", "signatures": []}', "not base64"),
        (
            b'{"payloadType": "x", "payload": "eA==", "signatures": [{"sig": 5}]}',
            "Not a valid DSSE envelope",
        ),
    ],
)
def test_verify_evidence_says_what_is_wrong_with_a_bad_signature_file(
    pair, capsys, tmp_path, content, says
):
    document, _ = pair
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    code, out = _verify(capsys, document, bad)
    assert code == 1
    assert says in out


def test_verify_evidence_refuses_missing_and_oversized_files(pair, capsys, tmp_path):
    document, signature = pair
    code, out = _verify(capsys, tmp_path / "nope.json", signature)
    assert (code, "nope.json: no such file." in out) == (1, True)
    code, out = _verify(capsys, document, tmp_path)
    assert (code, "no such file" in out) == (1, True)
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (document.stat().st_size * 2 + 70_000))
    code, out = _verify(capsys, document, huge)
    assert code == 1
    assert "more than any signature this checks" in out


# --------------------------------------------------------------------------
# A report's evidence JSON, signed
# --------------------------------------------------------------------------


@pytest.fixture
def ready(org, settings, tmp_path):
    from tests.reports.test_access import ready_report

    settings.MEDIA_ROOT = tmp_path / "media"
    report = ready_report(org)
    report.evidence_file.save(
        f"{report.public_id}.json", ContentFile(b'{"report": {"kind": "x"}}\n')
    )
    return report


def _evidence_urls(org, report) -> dict[str, str]:
    return {
        "web": reverse("reports:download", args=[org.slug, report.public_id]),
        "staff": reverse("staff_report_download", args=[report.public_id]),
        "api": f"/api/v1/reports/{report.public_id}/download/",
    }


def _token(org, owner) -> dict:
    from apps.accounts.models import ApiToken
    from apps.accounts.services import api_token_create

    _, raw = api_token_create(
        org=org,
        name="auditor script",
        scopes=[ApiToken.Scope.EVIDENCE_READ],
        expires_at=None,
        actor=owner.user,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.mark.parametrize("door", ["web", "staff", "api"])
def test_a_report_s_evidence_json_comes_signed(
    door, org, owner, ready, client_for, capsys, tmp_path
):
    url = _evidence_urls(org, ready)[door]
    if door == "api":
        client, headers = Client(), _token(org, owner)
    else:
        staff = UserFactory(is_staff=True)
        client, headers = client_for(staff if door == "staff" else owner.user), {}
    served = client.get(url, {"part": "evidence"}, **headers)
    assert served.status_code == 200
    body = b"".join(served.streaming_content)
    response = client.get(url, {"part": "evidence", "signature": "dsse"}, **headers)
    envelope = _envelope(response)
    assert base64.b64decode(envelope["payload"]) == body
    assert envelope["signatures"][0]["keyid"] == current_signing_key().key_id
    assert (
        f"report-{ready.public_id}.evidence.json.dsse.json"
        in (response["Content-Disposition"])
    )
    # Each fetch is a download of the evidence, recorded.
    assert ReportDownload.objects.filter(part="evidence").count() == 2
    if door == "web":
        # The report's page links to it.
        detail = client.get(reverse("reports:detail", args=[org.slug, ready.public_id]))
        assert f"{url}?part=evidence&amp;signature=dsse" in detail.content.decode()
    (tmp_path / "e.json").write_bytes(body)
    (tmp_path / "e.dsse.json").write_bytes(response.content)
    assert _verify(capsys, tmp_path / "e.json", tmp_path / "e.dsse.json")[0] == 0


@pytest.mark.parametrize("door", ["web", "api"])
@pytest.mark.parametrize(
    "params",
    [
        {"signature": "dsse"},  # the PDF: signed in itself
        {"part": "report", "signature": "dsse"},
        {"part": "evidence", "signature": "pgp"},
    ],
)
def test_a_signature_of_anything_else_is_refused(
    door, params, org, owner, ready, client_for
):
    url = _evidence_urls(org, ready)[door]
    if door == "api":
        response = Client().get(url, params, **_token(org, owner))
    else:
        response = client_for(owner.user).get(url, params)
    assert response.status_code == 400
    assert not ReportDownload.objects.exists()


def test_another_organization_s_report_stays_404_whatever_the_parameter(
    ready, client_for
):
    from tests.factories import MembershipFactory

    outsider = MembershipFactory(role="owner")
    url = reverse("reports:download", args=[outsider.org.slug, ready.public_id])
    for params in ({"part": "evidence", "signature": "dsse"}, {"signature": "x"}):
        assert client_for(outsider.user).get(url, params).status_code == 404
