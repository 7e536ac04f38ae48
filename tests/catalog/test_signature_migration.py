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
