"""Signing evidence in tests as publishers do: an in-toto statement in a DSSE
envelope, signed over its pre-authentication encoding with a private key the
test holds (``formats.dsse``, ``formats.keys``), its public key registered
through the trusted-signer door."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from apps.catalog.formats.dsse import IN_TOTO_PAYLOAD_TYPE, envelope_json, pae
from apps.catalog.formats.keys import sign
from apps.catalog.models import TrustedSigner
from apps.catalog.signers import signer_key_register


def private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        .decode()
    )


def register(key, name: str, key_id: str = "") -> TrustedSigner:
    return signer_key_register(
        name=name,
        public_key_pem=public_pem(key),
        key_id=key_id,
        actor=None,
        not_before=datetime(2020, 1, 1, tzinfo=UTC),
    )


def statement(
    digest: str,
    *,
    name: str = "registry.example/python",
    predicate_type: str = "https://slsa.dev/provenance/v1",
    predicate: dict | None = None,
) -> bytes:
    """An in-toto v1 statement about ``digest`` (``sha256:<hex>`` or hex)."""
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [
                {"name": name, "digest": {"sha256": digest.removeprefix("sha256:")}}
            ],
            "predicateType": predicate_type,
            "predicate": predicate
            if predicate is not None
            else {
                "buildDefinition": {"buildType": "https://example.com/build/v1"},
                "runDetails": {"builder": {"id": "https://example.com/builder"}},
            },
        },
        sort_keys=True,
    ).encode()


def fingerprint(key) -> str:
    """The SHA-256 of the public key's DER SubjectPublicKeyInfo, hex: the key
    id the envelopes here name."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def envelope(key, payload: bytes, *, keyid: str | None = None) -> bytes:
    """``payload`` (an in-toto statement) in a DSSE envelope signed by ``key``,
    naming it by its fingerprint unless ``keyid`` is given."""
    keyid = fingerprint(key) if keyid is None else keyid
    sig = sign(key, pae(IN_TOTO_PAYLOAD_TYPE, payload))
    return envelope_json(
        payload_type=IN_TOTO_PAYLOAD_TYPE, payload=payload, signatures=[(keyid, sig)]
    )


def detached(key, document: bytes, *, name: str = "sbom.json") -> bytes:
    """A detached signature of ``document``: a signed statement naming its
    SHA-256."""
    return envelope(
        key,
        statement(
            hashlib.sha256(document).hexdigest(),
            name=name,
            predicate_type="https://example.com/signed-file/v1",
            predicate={},
        ),
    )


def tampered(envelope_bytes: bytes) -> bytes:
    """The envelope with one byte of its payload changed after signing."""
    doc = json.loads(envelope_bytes)
    payload = bytearray(base64.b64decode(doc["payload"]))
    at = payload.index(b"example.com/builder") + len("example.com/builde")
    payload[at] = ord("R")
    doc["payload"] = base64.b64encode(bytes(payload)).decode()
    return json.dumps(doc).encode()


def sbom(n: int) -> bytes:
    """A small CycloneDX SBOM, one of many told apart by ``n``."""
    return json.dumps(
        {
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": f"urn:uuid:00000000-0000-4000-8000-{n:012d}",
        }
    ).encode()


def load(image, kind: str, content: bytes, signature=None, refuse=None):
    """Attach a document to ``image`` through the evidence door, with its
    detached ``signature`` (or none); ``refuse`` as ``signature_refuse``.
    Returns the stored attestation."""
    from apps.catalog.models import Attestation
    from apps.evidence.ingest import evidence_import

    evidence_import(
        kind=kind,
        content=content,
        digest=image.digest,
        actor=None,
        match=False,
        signature=signature,
        signature_refuse=refuse,
    )
    return Attestation.objects.get(
        digest=image, sha256=hashlib.sha256(content).hexdigest()
    )


def one_of_each(image, *, revoke_reason: str = "Key material leaked") -> dict:
    """Attach an attestation of each verdict to ``image`` through the door:
    verified, unverified, invalid (its payload changed after signing, kept by
    a load that accepts and flags), untrusted (an unknown key) and no longer
    trusted (its signer revoked afterwards). Returns them by verdict."""
    from apps.catalog.signers import signer_revoke

    release, retired, stranger = private_key(), private_key(), private_key()
    register(release, "Catalog release key")
    old = register(retired, "Retired build key")
    rows = {
        "verified": load(image, "sbom", sbom(1), detached(release, sbom(1))),
        "unverified": load(image, "sbom", sbom(2)),
        "invalid": load(
            image,
            "provenance",
            tampered(envelope(release, statement(image.digest))),
            refuse=(),
        ),
        "untrusted": load(image, "sbom", sbom(3), detached(stranger, sbom(3))),
        "revoked": load(image, "sbom", sbom(4), detached(retired, sbom(4))),
    }
    signer_revoke(signer=old, reason=revoke_reason, actor=None)
    for row in rows.values():
        row.refresh_from_db()
    return rows
