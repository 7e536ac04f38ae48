"""The registry of trusted signers: staff register keys and identities, rotate
and revoke them at /staff/signers/; every change is audited, bad input is
refused with its reason and writes nothing, and a revocation turns what the
signer verified into "no longer trusted"."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519

from apps.audit.models import AuditEvent
from apps.catalog.models import Attestation, TrustedSigner
from tests.catalog import builders as b
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
URL = "/staff/signers/"
DATA = Path(__file__).resolve().parent.parent / "data" / "sigstore"
GITHUB = "https://token.actions.githubusercontent.com"


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True)
    client.force_login(user)
    return user


def pem(key) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def new_pem() -> str:
    return pem(ec.generate_private_key(ec.SECP256R1()).public_key())


def key_form(**fields) -> dict:
    return {"kind": "public_key", "name": "Release key 2026", **fields}


def identity_form(**fields) -> dict:
    return {"kind": "identity", "name": "Release workflow", "issuer": GITHUB, **fields}


def written() -> tuple:
    return (
        TrustedSigner.objects.count(),
        AuditEvent.objects.filter(action__startswith="signer.").count(),
    )


def test_staff_register_a_key_and_it_is_audited(client, staff):
    key = (DATA / "sigstore-go__publish_key.pub").read_text()
    response = client.post(
        URL,
        key_form(
            name="npm",
            public_key_pem=key,
            key_id="SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    signer = TrustedSigner.objects.get()
    assert signer.kind == TrustedSigner.Kind.PUBLIC_KEY
    assert signer.key_algorithm == "ecdsa-p256"
    assert len(signer.fingerprint) == 64
    assert signer.not_before == NOW
    assert signer.created_by == staff
    event = AuditEvent.objects.get(action=AuditEvent.Action.SIGNER_REGISTERED)
    assert event.actor == staff
    assert event.details["fingerprint"] == signer.fingerprint
    page = client.get(URL).content.decode()
    assert "npm" in page
    assert "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA" in page


def test_staff_register_an_identity_exact_or_by_pattern(client, staff):
    exact = client.post(
        URL,
        identity_form(
            subject="https://github.com/acme/images/.github/workflows/release.yml"
            "@refs/heads/main",
            not_after="2027-12-31T00:00:00Z",
        ),
    )
    assert exact.status_code == 302
    pattern = client.post(
        URL,
        identity_form(
            name="Any acme workflow",
            subject_pattern=r"https://github\.com/acme/.*",
        ),
    )
    assert pattern.status_code == 302
    rows = TrustedSigner.objects.order_by("pk")
    assert [r.kind for r in rows] == ["identity", "identity"]
    assert rows[0].not_after == datetime(2027, 12, 31, tzinfo=UTC)
    assert rows[1].subject_pattern == r"https://github\.com/acme/.*"
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.SIGNER_REGISTERED).count()
        == 2
    )


def private_pem() -> str:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


@pytest.mark.parametrize(
    ("form", "words"),
    [
        (
            lambda: key_form(public_key_pem="ssh-ed25519 AAAA..."),
            "Not a PEM public key",
        ),
        (lambda: key_form(public_key_pem=private_pem()), "private key"),
        (
            lambda: key_form(
                public_key_pem=pem(dsa.generate_private_key(key_size=2048).public_key())
            ),
            "ECDSA P-256, Ed25519 and RSA",
        ),
        (
            lambda: key_form(
                public_key_pem=pem(ec.generate_private_key(ec.SECP384R1()).public_key())
            ),
            "secp384r1",
        ),
        (lambda: key_form(public_key_pem=""), "Not a PEM public key"),
        (lambda: key_form(public_key_pem="A" * 20_000), "at most"),
        (
            lambda: key_form(
                public_key_pem=new_pem(),
                not_before="2027-01-01T00:00:00Z",
                not_after="2026-01-01T00:00:00Z",
            ),
            "ends after it starts",
        ),
        (
            lambda: key_form(public_key_pem=new_pem(), not_after="yesterday"),
            "valid date",
        ),
        (lambda: key_form(public_key_pem=new_pem(), name=""), "required"),
        (lambda: key_form(public_key_pem=new_pem(), name="x" * 201), "at most 200"),
        (
            lambda: identity_form(subject_pattern="(unclosed"),
            "Not a regular expression",
        ),
        (lambda: identity_form(subject_pattern=".*"), "too wide"),
        (lambda: identity_form(), "one of two"),
        (lambda: identity_form(subject="a@b.c", subject_pattern="a.*"), "one of two"),
        (
            lambda: identity_form(subject="a@b.c", issuer="accounts.google.com"),
            "https://",
        ),
        (lambda: identity_form(subject="x" * 600), "at most"),
        (lambda: {"kind": "password", "name": "x"}, "valid choice"),
    ],
)
def test_bad_signers_are_refused_with_their_reason_and_nothing_is_written(
    client, staff, form, words
):
    before = written()
    response = client.post(URL, form())
    assert response.status_code == 400
    assert words.lower() in response.content.decode().lower()
    assert written() == before


def test_the_same_key_is_registered_once(client, staff):
    key = new_pem()
    assert client.post(URL, key_form(public_key_pem=key)).status_code == 302
    before = written()
    response = client.post(URL, key_form(name="again", public_key_pem=key))
    assert response.status_code == 400
    assert "already registered" in response.content.decode()
    assert written() == before


def test_rotation_ends_the_old_window_now_and_keeps_its_past(client, staff):
    old = b.signer("Release key")
    image = b.build(b.series(b.repository("python")))
    signed_before = b.sbom(image, verified_by=old)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        response = client.post(
            "/staff/signers/rotate/",
            {"signer": old.pk, "public_key_pem": new_pem()},
        )
        assert response.status_code == 302
    old.refresh_from_db()
    new = TrustedSigner.objects.get(replaces=old)
    assert old.not_after == NOW + timedelta(hours=1)
    assert new.not_before == old.not_after
    assert new.name == old.name
    assert old.revoked_at is None
    signed_before.refresh_from_db()
    assert signed_before.signature_status == Attestation.SignatureStatus.VERIFIED
    event = AuditEvent.objects.get(action=AuditEvent.Action.SIGNER_ROTATED)
    assert event.details["replaced_fingerprint"] == old.fingerprint
    # Rotated once: again is refused, as is rotating an identity.
    again = client.post(
        "/staff/signers/rotate/", {"signer": old.pk, "public_key_pem": new_pem()}
    )
    assert again.status_code == 400
    assert "already" in again.content.decode()


def test_rotation_refuses_bad_input(client, staff):
    key = b.signer()
    identity = TrustedSigner.objects.create(
        name="wf", kind="identity", issuer=GITHUB, subject="a@b.c"
    )
    cases = [
        ({"signer": key.pk, "public_key_pem": "nope"}, "Not a PEM public key"),
        (
            {"signer": key.pk, "public_key_pem": key.public_key_pem},
            "already registered",
        ),
        ({"signer": identity.pk, "public_key_pem": new_pem()}, "not rotated"),
        ({"signer": "abc", "public_key_pem": new_pem()}, "whole number"),
        ({"public_key_pem": new_pem()}, "required"),
    ]
    before = written()
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        for data, words in cases:
            response = client.post("/staff/signers/rotate/", data)
            assert response.status_code == 400, data
            assert words.lower() in response.content.decode().lower(), data
        # Registered this very moment: nothing to rotate yet.
        fresh = b.signer("Fresh")
        response = client.post(
            "/staff/signers/rotate/", {"signer": fresh.pk, "public_key_pem": new_pem()}
        )
        assert response.status_code == 400
        assert "not started yet" in response.content.decode()
    assert written() == (before[0] + 1, before[1] + 1)
    missing = client.post(
        "/staff/signers/rotate/", {"signer": 99999, "public_key_pem": new_pem()}
    )
    assert missing.status_code == 404


def test_revoking_a_signer_untrusts_what_it_verified_and_says_why(client, staff):
    signer = b.signer("Leaked key")
    other = b.signer("Other key")
    image = b.build(b.series(b.repository("python")))
    mine = b.sbom(image, b'{"bomFormat": "CycloneDX", "n": 1}', verified_by=signer)
    theirs = b.sbom(image, b'{"bomFormat": "CycloneDX", "n": 2}', verified_by=other)
    response = client.post(
        "/staff/signers/revoke/",
        {"signer": signer.pk, "reason": "private key found in a public gist"},
    )
    assert response.status_code == 302
    signer.refresh_from_db()
    assert signer.revoked_at == NOW
    assert signer.revoked_by == staff
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.signature_status == Attestation.SignatureStatus.UNTRUSTED
    assert mine.signature_check == "revoked"
    assert mine.signature_no_longer_trusted
    assert "no longer trusted" in mine.signature_message
    assert "public gist" in mine.signature_message
    assert theirs.signature_status == Attestation.SignatureStatus.VERIFIED
    event = AuditEvent.objects.get(action=AuditEvent.Action.SIGNER_REVOKED)
    assert event.details["attestations_untrusted"] == 1
    assert event.details["reason"] == "private key found in a public gist"
    page = client.get(URL).content.decode()
    assert "Revoked" in page
    # Each signer's row counts what it verified and what is no longer trusted.
    rows = {
        name: re.findall(r'<td class="num">(\d+)</td>', row)
        for row in page.split("<tr>")[1:]
        for name in ("Leaked key", "Other key")
        if row.lstrip().startswith(f"<td>{name}<")
    }
    assert rows == {"Leaked key": ["0", "1"], "Other key": ["1", "0"]}
    # Revoked once: again, or without a reason, is refused.
    for data in ({"signer": signer.pk, "reason": "again"}, {"signer": other.pk}):
        assert client.post("/staff/signers/revoke/", data).status_code == 400
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.SIGNER_REVOKED).count() == 1
    )


def test_signer_pages_are_for_staff_only(client):
    assert client.get(URL).status_code == 302
    client.force_login(UserFactory())
    assert client.get(URL).status_code == 403
    assert client.post(URL, key_form(public_key_pem=new_pem())).status_code == 403
    assert TrustedSigner.objects.count() == 0


def test_an_ed25519_key_registers_too(client, staff):
    key = pem(ed25519.Ed25519PrivateKey.generate().public_key())
    assert client.post(URL, key_form(public_key_pem=key)).status_code == 302
    assert TrustedSigner.objects.get().key_algorithm == "ed25519"
