"""Signatures through the evidence door: the API, the staff upload page and the
import commands check every attached document's signature, keep the verdict
with it (and in the audit record), and refuse what EVIDENCE_SIGNATURE_REFUSE
names (by default an invalid signature), writing nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.catalog.formats.dsse import pae
from apps.catalog.models import Attestation
from apps.catalog.signers import signer_key_register
from tests.catalog import builders as b
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
IN_TOTO = "application/vnd.in-toto+json"
SBOM = b'{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": []}'


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def image():
    return b.build(b.series(b.repository("python")))


@pytest.fixture
def key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def registered(key):
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return signer_key_register(
        name="Catalog release key",
        public_key_pem=pem.decode(),
        key_id="release-2026",
        actor=None,
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
    )


@pytest.fixture
def token():
    staff = UserFactory(is_staff=True)
    owner = MembershipFactory(role="owner")
    _, raw = api_token_create(
        org=owner.org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def provenance(digest: str) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": "registry.example/python", "digest": {"sha256": digest}}
            ],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {"buildType": "https://example.com/build/v1"},
                "runDetails": {"builder": {"id": "https://example.com/builder"}},
            },
        }
    ).encode()


def signed(key, payload: bytes, *, keyid: str = "release-2026") -> bytes:
    sig = key.sign(pae(IN_TOTO, payload), ec.ECDSA(hashes.SHA256()))
    return json.dumps(
        {
            "payloadType": IN_TOTO,
            "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}],
        }
    ).encode()


def flipped(envelope: bytes) -> bytes:
    doc = json.loads(envelope)
    sig = bytearray(base64.b64decode(doc["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    doc["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
    return json.dumps(doc).encode()


def detached_statement(key, document: bytes) -> bytes:
    """A DSSE envelope whose statement names the document's SHA-256."""
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {
                    "name": "sbom.json",
                    "digest": {"sha256": hashlib.sha256(document).hexdigest()},
                }
            ],
            "predicateType": "https://example.com/signed-file/v1",
            "predicate": {},
        }
    ).encode()
    return signed(key, statement)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/json")


def post(client, token, **fields):
    return client.post("/api/v1/evidence/", fields, **token)


def written() -> tuple:
    return (
        Attestation.objects.count(),
        AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_IMPORTED).count(),
    )


def hexof(image) -> str:
    return image.digest.removeprefix("sha256:")


# --------------------------------------------------------------------------
# The API
# --------------------------------------------------------------------------


def test_api_verifies_provenance_signed_by_a_registered_key(
    client, token, image, key, registered
):
    response = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload("p.json", signed(key, provenance(hexof(image)))),
    )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["signature"] == "verified"
    assert answer["signature_signer"] == "Catalog release key"
    assert "Verified: signed by Catalog release key" in answer["signature_message"]
    attestation = Attestation.objects.get()
    assert attestation.signature_status == Attestation.SignatureStatus.VERIFIED
    assert attestation.signature_signer == registered
    assert attestation.signature_checked_at == NOW
    assert attestation.signature_signed_at is None  # nothing attests the time
    assert attestation.signature_verified
    event = AuditEvent.objects.get(action=AuditEvent.Action.EVIDENCE_IMPORTED)
    assert event.details["signature"] == "verified"
    assert event.details["signature_signer"] == "Catalog release key"


def test_api_refuses_an_invalid_signature_and_stores_nothing(
    client, token, image, key, registered
):
    before = written()
    response = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload("p.json", flipped(signed(key, provenance(hexof(image))))),
    )
    assert response.status_code == 400
    message = json.dumps(response.json())
    assert "its signature is invalid" in message
    assert "Catalog release key" in message
    assert written() == before


def test_a_signed_statement_about_another_image_is_refused_unless_overridden(
    client, token, image, key, registered
):
    other = "b" * 64
    content = signed(key, provenance(other))
    before = written()
    refused = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload("p", content),
    )
    assert refused.status_code == 400
    assert written() == before
    overridden = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload("p.json", content),
        subject_override_reason="Rebuilt under a new digest; same sources.",
    )
    assert overridden.status_code == 201, overridden.content
    attestation = Attestation.objects.get()
    assert attestation.subject_status == Attestation.Subject.OVERRIDDEN
    assert attestation.signature_status == Attestation.SignatureStatus.INVALID
    assert other in attestation.signature_message


def test_unsigned_and_untrusted_documents_are_stored_and_flagged_by_default(
    client, token, image, registered
):
    unsigned = post(
        client, token, kind="sbom", digest=image.digest, document=upload("s", SBOM)
    )
    assert unsigned.status_code == 201, unsigned.content
    assert unsigned.json()["signature"] == "unverified"
    stranger = ec.generate_private_key(ec.SECP256R1())
    untrusted = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload(
            "p", signed(stranger, provenance(hexof(image)), keyid="someone-else")
        ),
    )
    assert untrusted.status_code == 201, untrusted.content
    assert untrusted.json()["signature"] == "untrusted"
    assert "No registered key verifies" in untrusted.json()["signature_message"]
    statuses = sorted(Attestation.objects.values_list("signature_status", flat=True))
    assert statuses == ["untrusted", "unverified"]


def test_policy_can_refuse_unsigned_and_untrusted_documents(
    client, token, image, settings
):
    settings.EVIDENCE_SIGNATURE_REFUSE = ["unverified", "invalid", "untrusted"]
    before = written()
    response = post(
        client, token, kind="sbom", digest=image.digest, document=upload("s", SBOM)
    )
    assert response.status_code == 400
    assert "signed evidence only" in json.dumps(response.json())
    stranger = ec.generate_private_key(ec.SECP256R1())
    response = post(
        client,
        token,
        kind="provenance",
        digest=image.digest,
        document=upload("p", signed(stranger, provenance(hexof(image)))),
    )
    assert response.status_code == 400
    assert "signer is not trusted" in json.dumps(response.json())
    assert written() == before


def test_api_checks_a_detached_signature_of_an_sbom(
    client, token, image, key, registered
):
    signature = detached_statement(key, SBOM)
    response = post(
        client,
        token,
        kind="sbom",
        digest=image.digest,
        document=upload("s.json", SBOM),
        signature=upload("s.json.sig", signature),
    )
    assert response.status_code == 201, response.content
    assert response.json()["signature"] == "verified"
    attestation = Attestation.objects.get()
    assert attestation.signature_signer == registered
    with attestation.signature_file.open("rb") as kept:
        assert kept.read() == signature
    # A signature of other bytes is invalid for this document: refused.
    other = SBOM.replace(b"1.6", b"1.5")
    before = written()
    response = post(
        client,
        token,
        kind="sbom",
        digest=image.digest,
        document=upload("o.json", other),
        signature=upload("s.json.sig", detached_statement(key, SBOM)),
    )
    assert response.status_code == 400
    assert "is about sbom.json" in json.dumps(response.json())
    assert written() == before


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"kind": "vex"}, "attached to a build"),
        ({"signature": b"   "}, "empty"),
        ({"signature": b"{" * 1_100_000}, "limit is"),
        ({"signature": b"\x00\x01binary"}, "not JSON"),
        ({"signature": b'{"hello": "world"}'}, "neither a Sigstore bundle"),
    ],
)
def test_api_refuses_bad_signature_files_with_400_and_stores_nothing(
    client, token, image, fields, words
):
    data = {
        "kind": fields.get("kind", "sbom"),
        "digest": image.digest,
        "document": upload("s.json", SBOM),
        "signature": upload("sig", fields.get("signature", b'{"a": 1}')),
    }
    before = written()
    response = client.post("/api/v1/evidence/", data, **token)
    assert response.status_code == 400
    assert words in json.dumps(response.json())
    assert written() == before


# --------------------------------------------------------------------------
# The staff upload page and the commands
# --------------------------------------------------------------------------


def test_upload_page_shows_the_verdict(client, image, key, registered):
    client.force_login(UserFactory(is_staff=True))
    response = client.post(
        "/staff/evidence/",
        {
            "kind": "sbom",
            "digest": image.digest,
            "document": upload("s.json", SBOM),
            "signature": upload("s.sig", detached_statement(key, SBOM)),
        },
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Signature: Verified: signed by Catalog release key" in page
    bad = client.post(
        "/staff/evidence/",
        {
            "kind": "provenance",
            "digest": image.digest,
            "document": upload(
                "p.json", flipped(signed(key, provenance(hexof(image))))
            ),
        },
    )
    assert bad.status_code == 400
    assert "its signature is invalid" in bad.content.decode()


def run(command: str, *args) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_commands_check_signatures_and_take_a_detached_one(
    tmp_path, image, key, registered
):
    envelope = tmp_path / "provenance.json"
    envelope.write_bytes(signed(key, provenance(hexof(image))))
    output = run("import_provenance", image.digest, str(envelope))
    assert "Signature: Verified: signed by Catalog release key" in output
    sbom = tmp_path / "sbom.json"
    sbom.write_bytes(SBOM)
    signature = tmp_path / "sbom.json.sig"
    signature.write_bytes(detached_statement(key, SBOM))
    output = run("import_sbom", image.digest, str(sbom), "--signature", str(signature))
    assert "Signature: Verified" in output
    assert Attestation.objects.filter(signature_status="verified").count() == 2


def test_commands_refuse_invalid_signatures_and_bad_signature_files(
    tmp_path, image, key, registered
):
    envelope = tmp_path / "provenance.json"
    envelope.write_bytes(flipped(signed(key, provenance(hexof(image)))))
    before = written()
    with pytest.raises(CommandError, match="its signature is invalid"):
        run("import_provenance", image.digest, str(envelope))
    sbom = tmp_path / "sbom.json"
    sbom.write_bytes(SBOM)
    empty = tmp_path / "empty.sig"
    empty.write_bytes(b"")
    with pytest.raises(CommandError, match="empty"):
        run("import_sbom", image.digest, str(sbom), "--signature", str(empty))
    with pytest.raises(CommandError):
        run("import_sbom", image.digest, str(sbom), "--signature", str(tmp_path / "no"))
    assert written() == before


def test_reimporting_keeps_the_detached_signature_and_checks_it_again(
    client, token, image, key, registered
):
    first = post(
        client,
        token,
        kind="sbom",
        digest=image.digest,
        document=upload("s.json", SBOM),
        signature=upload("s.sig", detached_statement(key, SBOM)),
    )
    assert first.json()["signature"] == "verified"
    again = post(
        client, token, kind="sbom", digest=image.digest, document=upload("s", SBOM)
    )
    assert again.status_code == 201
    assert again.json()["signature"] == "verified"
    assert Attestation.objects.count() == 1


def test_recheck_after_registering_the_key_verifies_what_was_untrusted(
    tmp_path, image, key
):
    envelope = tmp_path / "provenance.json"
    envelope.write_bytes(signed(key, provenance(hexof(image))))
    run("import_provenance", image.digest, str(envelope))
    attestation = Attestation.objects.get()
    assert attestation.signature_status == Attestation.SignatureStatus.UNTRUSTED
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer_key_register(
        name="Registered later",
        public_key_pem=pem.decode(),
        actor=None,
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
    )
    output = run("signatures_recheck", "--digest", image.digest)
    assert "Checked 1 attestations: 1 verified." in output
    attestation.refresh_from_db()
    assert attestation.signature_signer.name == "Registered later"
    with pytest.raises(CommandError, match="sha256"):
        run("signatures_recheck", "--digest", "md5:abc")
    assert "Checked 0 attestations: none." in run(
        "signatures_recheck", "--digest", "sha256:" + "0" * 64
    )
