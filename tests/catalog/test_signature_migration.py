"""The move from signature_verified to the verdict: every attestation kept,
each Unverified, a hand-marked one saying it was never checked."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from tests.catalog import builders as catalog

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("catalog", "0004_attestation_warnings")]
AFTER = [("catalog", "0005_signatures")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest():
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_existing_attestations_become_unverified_and_keep_their_data(latest):
    image = catalog.build(catalog.series(catalog.repository("python")))
    image_id = image.pk
    old = _migrate(BEFORE)
    Attestation = old.get_model("catalog", "Attestation")
    for n, verified in enumerate((False, True)):
        Attestation.objects.create(
            digest_id=image_id,
            kind="sbom-cyclonedx",
            document=f"evidence/{n}.json",
            sha256=f"{n}" * 64,
            size=10,
            signer_key_id=f"key-{n}",
            signature_verified=verified,
            created_at=timezone.now(),
        )

    new = _migrate(AFTER)
    rows = new.get_model("catalog", "Attestation").objects.order_by("sha256")
    assert [r.signer_key_id for r in rows] == ["key-0", "key-1"]
    assert [r.signature_status for r in rows] == ["unverified", "unverified"]
    assert rows[0].signature_message == ""
    assert "not checked" in rows[1].signature_message
    assert all(r.signature_signer_id is None for r in rows)


def test_attestations_a_revocation_untrusted_name_their_check(latest):
    image = catalog.build(catalog.series(catalog.repository("python")))
    image_id = image.pk
    old = _migrate(AFTER)
    Signer = old.get_model("catalog", "TrustedSigner")
    Attestation = old.get_model("catalog", "Attestation")
    now = timezone.now()
    signers = [
        Signer.objects.create(
            name=name,
            kind="public_key",
            public_key_pem="-----BEGIN PUBLIC KEY-----",
            fingerprint=f"{n}" * 64,
            revoked_at=now if revoked else None,
            revocation_reason="leaked" if revoked else "",
        )
        for n, (name, revoked) in enumerate((("Leaked", True), ("Kept", False)))
    ]
    rows = [("untrusted", signers[0]), ("untrusted", signers[1]), ("invalid", None)]
    for n, (status, signer) in enumerate(rows):
        Attestation.objects.create(
            digest_id=image_id,
            kind="sbom-cyclonedx",
            document=f"evidence/{n}.json",
            sha256=f"{n}" * 64,
            size=10,
            signature_status=status,
            signature_signer=signer,
            created_at=now,
        )

    new = _migrate([("catalog", "0006_signature_check")])
    checks = new.get_model("catalog", "Attestation").objects.order_by("sha256")
    assert [a.signature_check for a in checks] == ["revoked", "", ""]
