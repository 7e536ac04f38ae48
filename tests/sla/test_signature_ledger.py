"""The ledger check keeps the signature verdicts honest: nothing shows Verified
by a revoked signer (a row written past the revocation is a named violation
until the verdicts are checked again), and the attestations whose signature is
no longer trusted are counted in its output and on the staff page."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import Attestation, TrustedSigner
from apps.sla.ledger_checks import ledger_figures, ledger_violations
from tests.catalog import builders as catalog
from tests.catalog import signing
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def rows():
    image = catalog.build(catalog.series(catalog.repository("python")))
    return signing.one_of_each(image)


def _signature_violations():
    _, found = ledger_violations(at=timezone.now())
    return [v for v in found if v.check == "signature_verified_by_revoked_signer"]


def test_a_revocation_done_through_the_door_holds_and_is_counted(rows):
    assert _signature_violations() == []
    assert ledger_figures(at=timezone.now()) == {
        "signatures_verified": 1,
        "signatures_unverified": 1,
        "signatures_invalid": 1,
        "signatures_untrusted": 2,
        "signatures_no_longer_trusted": 1,
    }


def test_verified_by_a_revoked_signer_is_a_violation_until_rechecked(rows, capsys):
    verified = rows["verified"]
    # The signer's revocation written around the service: what it verified
    # still says Verified.
    TrustedSigner.objects.filter(pk=verified.signature_signer_id).update(
        revoked_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        revocation_reason="key lost",
    )
    (violation,) = _signature_violations()
    assert violation.subject == f"SBOM (CycloneDX) {verified.sha256[:12]} on " + (
        verified.digest.digest
    )
    assert "Verified by Catalog release key, which was revoked on 2026-12-01" in (
        violation.message
    )
    with pytest.raises(CommandError):
        call_command("ledger_check")
    out = capsys.readouterr().out
    assert "signature_verified_by_revoked_signer: SBOM (CycloneDX)" in out
    assert "(1 no longer trusted: signer revoked)" in out

    call_command("signatures_recheck")
    verified.refresh_from_db()
    assert (verified.signature_status, verified.signature_check) == (
        Attestation.SignatureStatus.UNTRUSTED,
        "revoked",
    )
    assert _signature_violations() == []
    capsys.readouterr()
    call_command("ledger_check", "--json")
    document = json.loads(capsys.readouterr().out)
    assert document["checks"]["signature_verified_by_revoked_signer"] == 0
    assert document["figures"]["signatures_no_longer_trusted"] == 2
    assert document["figures"]["signatures_verified"] == 0


def test_the_staff_ledger_page_counts_what_is_no_longer_trusted(rows, client):
    client.force_login(UserFactory(is_staff=True))
    body = client.get(reverse("staff_sla_ledger_check")).content.decode()
    assert "<strong>1 no longer trusted</strong>" in body
    assert "no attestation shows Verified by a revoked signer" in body
