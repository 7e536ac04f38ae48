"""The signature verifier on real signed documents (tests/data/sigstore, see
its PROVENANCE.md) and on envelopes these tests sign: each gives the verdict
its provenance documents, and every way of breaking one is caught."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from django.core.exceptions import ValidationError

from apps.catalog.formats.dsse import pae
from apps.catalog.formats.keys import public_key_from, public_key_load
from apps.catalog.formats.signatures import (
    document_signature_verify,
    signed_object_verify,
)
from apps.catalog.formats.sigstore_bundle import trust_root_read
from apps.catalog.formats.verdict import (
    INVALID,
    UNTRUSTED,
    UNVERIFIED,
    VERIFIED,
    Signer,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "sigstore"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

GITHUB = "https://token.actions.githubusercontent.com"
SIGSTORE_JS = (
    "https://github.com/sigstore/sigstore-js/.github/workflows/release.yml"
    "@refs/heads/main"
)
NPM_SUBJECT = {
    "sha512": "76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6"
    "b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"
}
# SHA-256 of Python-3.12.5.tgz, as python.org publishes it beside the bundle.
CPYTHON_SHA256 = "38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405"
IMAGE = "a" * 64


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def load(name: str) -> dict:
    return json.loads(read(name))


@pytest.fixture(scope="module")
def public_good():
    return trust_root_read(read("sigstore-go__trusted-root-public-good.json"))


@pytest.fixture(scope="module")
def project_root():
    root = Path(__file__).resolve().parents[2] / "apps" / "catalog" / "trust"
    return trust_root_read((root / "sigstore-public-good.json").read_bytes())


# npm publishes its key with this key id (not a digest of the key itself);
# registering it lets the bundle's hint name the key.
NPM_KEY_ID = "SHA256:jl3bwswu80PjjokCgh0o2w5c2U4LhQAE57gj9cz1kzA"


def npm_key(**window) -> Signer:
    return Signer(
        id=1,
        name="npm publish key",
        public_key=public_key_load(read("sigstore-go__publish_key.pub")),
        key_id=NPM_KEY_ID,
        **window,
    )


def identity(subject="", pattern="", issuer=GITHUB, sid=2, **more) -> Signer:
    return Signer(
        id=sid,
        name=f"identity {subject or pattern}",
        issuer=issuer,
        subject=subject,
        subject_pattern=pattern,
        **more,
    )


# --------------------------------------------------------------------------
# The shared documents, each as PROVENANCE.md says
# --------------------------------------------------------------------------


def test_npm_publish_attestation_verifies_against_its_pinned_key(public_good):
    verdict = signed_object_verify(
        load("sigstore-go__bundle-publish.json"),
        signers=[npm_key()],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert verdict.status == VERIFIED, verdict.message
    assert verdict.signer.name == "npm publish key"
    # The time is the transparency log's, checked by its signed entry timestamp.
    assert verdict.signed_at == datetime(2023, 4, 18, 17, 45, 16, tzinfo=UTC)
    assert "transparency log" in verdict.message


def test_npm_publish_attestation_against_another_key_is_not_verified(public_good):
    other = public_key_from(ec.generate_private_key(ec.SECP256R1()).public_key())
    verdict = signed_object_verify(
        load("sigstore-go__bundle-publish.json"),
        signers=[Signer(id=9, name="someone else", public_key=other)],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert verdict.status == UNTRUSTED
    assert verdict.check == "unknown_signer"
    assert "No registered key verifies" in verdict.message


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_npm_publish_attestation_with_a_flipped_byte_is_invalid(public_good, where):
    bundle = load("sigstore-go__bundle-publish.json")
    envelope = bundle["dsseEnvelope"]
    field = "payload" if where == "payload" else None
    if field:
        raw = bytearray(base64.b64decode(envelope["payload"]))
        raw[40] ^= 0x01
        envelope["payload"] = base64.b64encode(bytes(raw)).decode()
    else:
        raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        raw[-5] ^= 0x01
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    verdict = signed_object_verify(
        bundle,
        signers=[npm_key()],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert verdict.status == INVALID
    assert verdict.check == "signature"
    assert "changed after signing" in verdict.message


def test_npm_publish_attestation_for_another_digest_is_invalid(public_good):
    verdict = signed_object_verify(
        load("sigstore-go__bundle-publish.json"),
        signers=[npm_key()],
        trust_root=public_good,
        received_at=NOW,
        expected={"sha256": IMAGE},
    )
    assert verdict.status == INVALID
    assert verdict.check == "subject"
    assert "pkg:npm/sigstore@1.3.0" in verdict.message
    assert IMAGE in verdict.message


def test_npm_key_revoked_or_out_of_its_window_is_untrusted_with_its_reason(
    public_good,
):
    bundle = load("sigstore-go__bundle-publish.json")
    revoked = npm_key(
        revoked_at=datetime(2026, 1, 2, tzinfo=UTC),
        revocation_reason="key leaked in a CI log",
    )
    verdict = signed_object_verify(
        bundle,
        signers=[revoked],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert (verdict.status, verdict.check) == (UNTRUSTED, "revoked")
    assert "no longer trusted" in verdict.message
    assert "key leaked in a CI log" in verdict.message
    # Rotated away before it signed: the window ended in 2022.
    expired = npm_key(
        not_before=datetime(2021, 1, 1, tzinfo=UTC),
        not_after=datetime(2022, 12, 31, tzinfo=UTC),
    )
    verdict = signed_object_verify(
        bundle,
        signers=[expired],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert (verdict.status, verdict.check) == (UNTRUSTED, "outside_window")
    assert "outside the validity window" in verdict.message
    # An old key still vouches for what it signed inside its window.
    rotated = npm_key(
        not_before=datetime(2023, 1, 1, tzinfo=UTC),
        not_after=datetime(2024, 1, 1, tzinfo=UTC),
    )
    verdict = signed_object_verify(
        bundle,
        signers=[rotated],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert verdict.status == VERIFIED


def test_keyless_provenance_verifies_against_its_workflow_identity_only(
    public_good, project_root
):
    bundle = load("sigstore-go__bundle-provenance.json")
    for root in (public_good, project_root):
        verdict = signed_object_verify(
            bundle,
            signers=[identity(SIGSTORE_JS)],
            trust_root=root,
            received_at=NOW,
            expected=NPM_SUBJECT,
        )
        assert verdict.status == VERIFIED, verdict.message
        assert SIGSTORE_JS in verdict.identity
    by_pattern = signed_object_verify(
        bundle,
        signers=[identity(pattern=r"https://github\.com/sigstore/sigstore-js/.*")],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert by_pattern.status == VERIFIED
    for other in (
        identity("https://github.com/someone/else/.github/workflows/x.yml@main"),
        identity(SIGSTORE_JS, issuer="https://accounts.google.com"),
        identity(pattern=r"https://github\.com/sigstore/sigstore-python/.*"),
    ):
        verdict = signed_object_verify(
            bundle,
            signers=[other],
            trust_root=public_good,
            received_at=NOW,
            expected=NPM_SUBJECT,
        )
        assert (verdict.status, verdict.check) == (UNTRUSTED, "unknown_signer")
        assert SIGSTORE_JS in verdict.message


def test_keyless_provenance_with_a_changed_payload_is_invalid(public_good):
    bundle = load("sigstore-go__bundle-provenance.json")
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"]["buildType"] = "https://example.com/forged"
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(
        json.dumps(statement).encode()
    ).decode()
    verdict = signed_object_verify(
        bundle,
        signers=[identity(SIGSTORE_JS)],
        trust_root=public_good,
        received_at=NOW,
        expected=NPM_SUBJECT,
    )
    assert verdict.status == INVALID
    assert verdict.check == "signature"


def test_keyless_wheel_signature_verifies_for_the_artifact(public_good):
    wheel = read("sigstore-python__bundle_v3_github.whl")
    signer = identity(
        pattern=r"https://github\.com/trailofbits/rfc8785\.py/\.github/workflows/.*"
    )
    for root in (
        public_good,
        trust_root_read(read("sigstore-python__trusted_root_trustedroot.v1.json")),
    ):
        verdict = document_signature_verify(
            document=wheel,
            signature=read("sigstore-python__bundle_v3_github.whl.sigstore"),
            signers=[signer],
            trust_root=root,
            received_at=NOW,
        )
        assert verdict.status == VERIFIED, verdict.message
    changed = wheel[:-1] + bytes([wheel[-1] ^ 1])
    verdict = document_signature_verify(
        document=changed,
        signature=read("sigstore-python__bundle_v3_github.whl.sigstore"),
        signers=[signer],
        trust_root=public_good,
        received_at=NOW,
    )
    assert (verdict.status, verdict.check) == (INVALID, "digest")


def test_cpython_release_bundle_verifies_by_digest(public_good):
    manager = identity("thomas@python.org", issuer="https://accounts.google.com")
    bundle = load("sigstore-python__integration_Python-3.12.5.tgz.sigstore")
    verdict = signed_object_verify(
        bundle,
        signers=[manager],
        trust_root=public_good,
        received_at=NOW,
        expected=None,
        digest=bytes.fromhex(CPYTHON_SHA256),
    )
    assert verdict.status == VERIFIED, verdict.message
    assert "thomas@python.org" in verdict.identity
    other = bytes.fromhex(CPYTHON_SHA256[:-2] + "00")
    verdict = signed_object_verify(
        bundle,
        signers=[manager],
        trust_root=public_good,
        received_at=NOW,
        expected=None,
        digest=other,
    )
    assert (verdict.status, verdict.check) == (INVALID, "digest")


def test_bundle_whose_log_entry_belongs_to_another_signing_is_refused(public_good):
    args = {
        "document": read("sigstore-python__bundle_cve_2022_36056.txt"),
        "signature": read("sigstore-python__bundle_cve_2022_36056.txt.sigstore"),
        "signers": [
            identity("william@yossarian.net", issuer="https://github.com/login/oauth")
        ],
        "received_at": NOW,
    }
    # Against the staging root it was made under: the log entry is refused.
    staging = trust_root_read(read("sigstore-python-4.5.1__staging.trusted_root.json"))
    verdict = document_signature_verify(trust_root=staging, **args)
    assert (verdict.status, verdict.check) == (INVALID, "transparency_log")
    assert "inconsistent" in verdict.message
    # Against the production root its certificate does not even chain.
    verdict = document_signature_verify(trust_root=public_good, **args)
    assert verdict.status == INVALID


def test_key_signature_is_trusted_only_inside_the_keys_window_by_its_timestamp():
    root = trust_root_read(read("sigstore-go__trusted-root-public-key-validity.json"))
    bundle = load("sigstore-go__public-key-validity.sigstore.json")
    digest = base64.b64decode(bundle["messageSignature"]["messageDigest"]["digest"])
    key = public_key_load(read("sigstore-go__public-key-validity.pem"))

    def with_window(start, end=None):
        signer = Signer(
            id=5, name="release key", public_key=key, not_before=start, not_after=end
        )
        return signed_object_verify(
            bundle,
            signers=[signer],
            trust_root=root,
            received_at=NOW,
            expected=None,
            digest=digest,
        )

    inside = with_window(
        datetime(2026, 6, 4, tzinfo=UTC), datetime(2026, 6, 5, tzinfo=UTC)
    )
    assert inside.status == VERIFIED, inside.message
    assert inside.signed_at == datetime(2026, 6, 4, 17, 43, 29, tzinfo=UTC)
    assert "signed timestamp" in inside.message
    later = with_window(datetime(2026, 6, 5, tzinfo=UTC))
    assert (later.status, later.check) == (UNTRUSTED, "outside_window")
    ended = with_window(
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 4, 12, tzinfo=UTC)
    )
    assert (ended.status, ended.check) == (UNTRUSTED, "outside_window")


def test_signed_timestamp_from_an_authority_outside_the_trust_root_is_refused(
    public_good,
):
    bundle = load("sigstore-go__public-key-validity.sigstore.json")
    digest = base64.b64decode(bundle["messageSignature"]["messageDigest"]["digest"])
    key = public_key_load(read("sigstore-go__public-key-validity.pem"))
    verdict = signed_object_verify(
        bundle,
        signers=[Signer(id=5, name="release key", public_key=key)],
        trust_root=public_good,
        received_at=NOW,
        expected=None,
        digest=digest,
    )
    assert (verdict.status, verdict.check) == (INVALID, "timestamp")


# --------------------------------------------------------------------------
# Key-signed DSSE envelopes made here: every key type, every way to break one
# --------------------------------------------------------------------------


def statement(digest: str = IMAGE) -> bytes:
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "registry.example/app", "digest": {"sha256": digest}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {},
        }
    ).encode()


def sign(private, data: bytes) -> bytes:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return private.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(data)
    return private.sign(data, padding.PKCS1v15(), hashes.SHA256())


def envelope(
    private,
    payload: bytes | None = None,
    *,
    keyid: str = "",
    payload_type: str = "application/vnd.in-toto+json",
) -> dict:
    payload = statement() if payload is None else payload
    sig = sign(private, pae(payload_type, payload))
    return {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()}],
    }


def signer_of(private, sid: int = 10, **more) -> Signer:
    return Signer(
        id=sid,
        name=f"key {sid}",
        public_key=public_key_from(private.public_key()),
        **more,
    )


KEYS = {
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "rsa-2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
}


@pytest.fixture(scope="module")
def keys():
    return {name: make() for name, make in KEYS.items()}


def verify_envelope(obj, signers, expected=None) -> object:
    document = json.dumps(obj).encode()
    return document_signature_verify(
        document=document,
        subject_digests=expected or {"sha256": IMAGE},
        signers=signers,
        trust_root=None,
        received_at=NOW,
    )


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_envelope_signed_by_a_registered_key_of_each_type_verifies(keys, kind):
    private = keys[kind]
    verdict = verify_envelope(envelope(private), [signer_of(private)])
    assert verdict.status == VERIFIED, verdict.message
    assert verdict.signed_at is None  # nothing attests the time...
    assert "when the portal received it" in verdict.message  # ...but receipt


def test_rsa_pss_signatures_verify_too(keys):
    private = keys["rsa-2048"]
    payload = statement()
    sig = private.sign(
        pae("application/vnd.in-toto+json", payload),
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
        hashes.SHA256(),
    )
    obj = {
        "payloadType": "application/vnd.in-toto+json",
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"sig": base64.b64encode(sig).decode()}],
    }
    assert verify_envelope(obj, [signer_of(private)]).status == VERIFIED


def test_the_envelopes_keyid_picks_the_key_and_a_bad_signature_by_it_is_invalid(keys):
    a, b = keys["ecdsa-p256"], keys["ed25519"]
    signer_a = signer_of(a, 1, key_id="release-2026")
    signer_b = signer_of(b, 2)
    obj = envelope(a, keyid="release-2026")
    verdict = verify_envelope(obj, [signer_b, signer_a])
    assert verdict.signer.id == 1
    assert verdict.key_ids == ("release-2026",)
    # Signed by b but naming a's key id: a does not verify it, b does.
    assert (
        verify_envelope(envelope(b, keyid="release-2026"), [signer_a, signer_b]).status
        == VERIFIED
    )
    # Naming a's key id, signed by a key nobody registered: invalid, naming a.
    stranger = ec.generate_private_key(ec.SECP256R1())
    verdict = verify_envelope(envelope(stranger, keyid="release-2026"), [signer_a])
    assert (verdict.status, verdict.check) == (INVALID, "signature")
    assert "key 1" in verdict.message


@pytest.mark.parametrize("where", ["payload", "signature"])
def test_a_flipped_byte_in_a_key_signed_envelope_fails(keys, where):
    private = keys["ecdsa-p256"]
    signer = signer_of(private)
    obj = envelope(private, keyid=signer.public_key.fingerprint)
    field = obj if where == "payload" else obj["signatures"][0]
    key = "payload" if where == "payload" else "sig"
    raw = bytearray(base64.b64decode(field[key]))
    raw[len(raw) // 2] ^= 0x01
    field[key] = base64.b64encode(bytes(raw)).decode()
    verdict = verify_envelope(obj, [signer])
    assert verdict.status == INVALID
    assert verdict.check in ("signature", "format")


def test_statement_about_another_digest_is_invalid_though_the_signature_holds(keys):
    private = keys["ed25519"]
    verdict = verify_envelope(
        envelope(private, statement("b" * 64)), [signer_of(private)]
    )
    assert (verdict.status, verdict.check) == (INVALID, "subject")
    assert "b" * 64 in verdict.message
    assert IMAGE in verdict.message


def test_wrong_payload_type_is_invalid(keys):
    private = keys["ed25519"]
    obj = envelope(private, b'{"hello": 1}', payload_type="text/plain")
    verdict = verify_envelope(obj, [signer_of(private)])
    assert (verdict.status, verdict.check) == (INVALID, "payload_type")
    assert "text/plain" in verdict.message


def test_expired_and_revoked_keys_fail_each_with_its_own_message(keys):
    private = keys["ecdsa-p256"]
    obj = envelope(private)
    ended = verify_envelope(
        obj,
        [
            signer_of(
                private,
                not_after=NOW - timedelta(days=1),
                not_before=NOW - timedelta(days=400),
            )
        ],
    )
    assert (ended.status, ended.check) == (UNTRUSTED, "outside_window")
    assert "outside the validity window" in ended.message
    revoked = verify_envelope(
        obj,
        [
            signer_of(
                private,
                revoked_at=NOW - timedelta(hours=1),
                revocation_reason="lost laptop",
            )
        ],
    )
    assert (revoked.status, revoked.check) == (UNTRUSTED, "revoked")
    assert "lost laptop" in revoked.message
    assert ended.message != revoked.message


def test_unsigned_documents_are_unverified():
    verdict = document_signature_verify(
        document=statement(),
        subject_digests={"sha256": IMAGE},
        signers=[],
        trust_root=None,
        received_at=NOW,
    )
    assert verdict.status == UNVERIFIED
    assert (
        document_signature_verify(
            document=b"not json", signers=[], trust_root=None, received_at=NOW
        ).status
        == UNVERIFIED
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda o: o.update(signatures=[]), "signatures"),
        (lambda o: o.update(signatures="MEUC"), "signatures"),
        (lambda o: o.update(payload="%%% not base64"), "payload"),
        (lambda o: o["signatures"][0].update(sig="***"), "sig"),
        (lambda o: o["signatures"][0].update(sig="A" * 100_000), "characters"),
        (
            lambda o: o["signatures"][0].update(
                sig=base64.b64encode(b"x" * 3000).decode()
            ),
            "bytes",
        ),
        (lambda o: o.update(signatures=[o["signatures"][0]] * 17), "17 signatures"),
        (lambda o: o.update(payloadType=""), "payloadType"),
        (lambda o: o.update(payloadType=["x"]), "payloadType"),
    ],
)
def test_malformed_envelopes_are_invalid_with_a_clear_error(keys, change, words):
    private = keys["ecdsa-p256"]
    obj = envelope(private)
    change(obj)
    verdict = verify_envelope(obj, [signer_of(private)])
    assert (verdict.status, verdict.check) == (INVALID, "format")
    assert words in verdict.message
    assert "DSSE envelope" in verdict.message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda b: b.update(
                mediaType="application/vnd.dev.sigstore.bundle+json;version=9"
            ),
            "v0.1 to v0.3",
        ),
        (lambda b: b.pop("verificationMaterial"), "verificationMaterial"),
        (lambda b: b["verificationMaterial"].pop("publicKey"), "no certificate"),
        (lambda b: b.pop("dsseEnvelope"), "neither"),
        (lambda b: b["verificationMaterial"].update(tlogEntries=[{}] * 5), "5 entries"),
        (
            lambda b: b["verificationMaterial"]["tlogEntries"][0].update(logIndex="-1"),
            "logIndex",
        ),
    ],
)
def test_malformed_bundles_are_invalid_with_a_clear_error(public_good, change, words):
    bundle = load("sigstore-go__bundle-publish.json")
    change(bundle)
    verdict = signed_object_verify(
        bundle,
        signers=[npm_key()],
        trust_root=public_good,
        received_at=NOW,
        expected=None,
    )
    assert (verdict.status, verdict.check) == (INVALID, "format")
    assert words in verdict.message


def test_detached_signature_that_is_not_a_signature_is_invalid():
    verdict = document_signature_verify(
        document=b"{}",
        signature=b"\x00\xff",
        signers=[],
        trust_root=None,
        received_at=NOW,
    )
    assert (verdict.status, verdict.check) == (INVALID, "format")
    verdict = document_signature_verify(
        document=b"{}",
        signature=b'{"a": 1}',
        signers=[],
        trust_root=None,
        received_at=NOW,
    )
    assert "neither a Sigstore bundle nor a DSSE envelope" in verdict.message


# --------------------------------------------------------------------------
# Keys as registered: bad input
# --------------------------------------------------------------------------


def pem_of(key) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_each_supported_key_type_loads_with_its_fingerprint(keys):
    for private in keys.values():
        loaded = public_key_load(pem_of(private.public_key()))
        der = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        assert loaded.fingerprint == hashlib.sha256(der).hexdigest()
    key = public_key_load(read("sigstore-go__public-key-validity.pem"))
    # A bundle's hint is the base64 SHA-256 of the key's SubjectPublicKeyInfo.
    assert "IpekKjxVkmTfB4YqY8q5sGEAeVtF9x3m7jHdhAxpgjQ=" in key.hints()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("hello", "not_pem"),
        (
            "-----BEGIN PUBLIC KEY-----\nnotbase64\n-----END PUBLIC KEY-----\n",
            "not_pem",
        ),
        ("x" * 20_000, "too_long"),
        ("caf\u00e9".encode("latin-1"), "not_pem"),
    ],
)
def test_bad_key_text_is_refused(text, code):
    with pytest.raises(ValidationError) as caught:
        public_key_load(text)
    assert caught.value.code == code


def test_a_private_key_is_refused_and_called_exposed(keys):
    pem = (
        keys["ecdsa-p256"]
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValidationError) as caught:
        public_key_load(pem)
    assert caught.value.code == "private_key"
    assert "exposed" in caught.value.messages[0]


@pytest.mark.parametrize(
    "make",
    [
        lambda: ec.generate_private_key(ec.SECP384R1()),
        lambda: ec.generate_private_key(ec.SECP256K1()),
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 - refused, which is the point
    ],
)
def test_unknown_or_weak_key_types_are_refused(make):
    with pytest.raises(ValidationError) as caught:
        public_key_load(pem_of(make().public_key()))
    assert caught.value.code in ("unknown_key_type", "weak_key")
