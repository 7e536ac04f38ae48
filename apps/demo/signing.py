"""The demo publisher signs its evidence as a publisher does.

Its key is registered through the same door staff use (``signer_key_register``)
and every document the demo attaches to a build is signed with it: an in-toto
statement in a DSSE envelope, signed over the envelope's pre-authentication
encoding (``formats.dsse.pae``). Provenance and FIPS statements are the
envelope itself; an SBOM or a STIG scan comes with a detached envelope whose
statement names the document's SHA-256. The portal then verifies each one as
it would a real publisher's, so the demo's badges come from real verification.

The key is derived from a fixed seed so that ``seed_demo`` can run again and
find it registered. Its private half is therefore in this file: it is a demo
key, registered only by ``seed_demo``, and vouches for nothing but the demo.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.catalog.formats.dsse import IN_TOTO_PAYLOAD_TYPE, envelope_json, pae
from apps.catalog.formats.keys import public_key_load, sign
from apps.catalog.models import TrustedSigner
from apps.catalog.signers import signer_key_register

SIGNER_NAME = "Demo publisher release key"
KEY_ID = "demo-publisher-2026"
TRUSTED_FROM = datetime(2020, 1, 1, tzinfo=UTC)
STATEMENT = "https://in-toto.io/Statement/v1"
SIGNED_DOCUMENT = "https://demo.hardened-images.example/attestation/signed-document/v1"
_SEED = b"hardened-images demo publisher key (not a secret)"


def demo_key() -> ec.EllipticCurvePrivateKey:
    """The demo publisher's ECDSA P-256 key, the same on every run."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    scalar = int.from_bytes(hashlib.sha256(_SEED).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def demo_signer_register(*, actor) -> TrustedSigner:
    """Register the demo key as a trusted signer (once)."""
    pem = (
        demo_key()
        .public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )
    existing = TrustedSigner.objects.filter(
        fingerprint=public_key_load(pem).fingerprint
    ).first()
    if existing is not None:
        return existing
    return signer_key_register(
        name=SIGNER_NAME,
        public_key_pem=pem,
        key_id=KEY_ID,
        not_before=TRUSTED_FROM,
        actor=actor,
    )


def demo_envelope(statement: bytes) -> bytes:
    """An in-toto statement in a DSSE envelope signed with the demo key."""
    signature = sign(demo_key(), pae(IN_TOTO_PAYLOAD_TYPE, statement))
    return envelope_json(
        payload_type=IN_TOTO_PAYLOAD_TYPE,
        payload=statement,
        signatures=[(KEY_ID, signature)],
    )


def demo_detached(document: bytes, *, name: str) -> bytes:
    """A detached signature of ``document``: a signed statement naming its
    SHA-256."""
    statement = {
        "_type": STATEMENT,
        "subject": [
            {"name": name, "digest": {"sha256": hashlib.sha256(document).hexdigest()}}
        ],
        "predicateType": SIGNED_DOCUMENT,
        "predicate": {"signer": SIGNER_NAME},
    }
    return demo_envelope(json.dumps(statement, sort_keys=True).encode())


def demo_provenance(*, repository: str, digest: str, built_at: datetime) -> bytes:
    """An SLSA v1 provenance statement for a demo build, as its builder would
    write it."""
    statement = {
        "_type": STATEMENT,
        "subject": [
            {
                "name": f"demo.hardened-images.example/{repository}",
                "digest": {"sha256": digest.removeprefix("sha256:")},
            }
        ],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://demo.hardened-images.example/build/v1",
                "externalParameters": {"repository": repository},
            },
            "runDetails": {
                "builder": {"id": "https://demo.hardened-images.example/builder"},
                "metadata": {
                    "invocationId": f"demo-{repository}-{digest[7:19]}",
                    "startedOn": built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "finishedOn": built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
        },
    }
    return json.dumps(statement, sort_keys=True).encode()


def tampered(envelope: bytes) -> bytes:
    """The envelope with one byte of its payload changed after signing (the
    builder's id): its signature no longer holds."""
    import base64

    doc = json.loads(envelope)
    payload = base64.b64decode(doc["payload"]).replace(
        b"demo.hardened-images.example/builder",
        b"demo.hardened-images.example/Builder",
        1,
    )
    doc["payload"] = base64.b64encode(payload).decode()
    return json.dumps(doc, indent=2).encode()
