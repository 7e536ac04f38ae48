"""Documents attached before subjects were checked are read again by the
ledger check: one about another image is named; one about its own build, or
checked when it was imported, is not."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from apps.catalog.models import Attestation, ImageDigest
from apps.sla.ledger_checks import ledger_violations
from tests.catalog import builders as catalog

pytestmark = pytest.mark.django_db
MONGO_SBOM = (
    Path(__file__).resolve().parents[2]
    / "apps/catalog/testdata/guac__big-mongo-cyclonedx.json"
).read_bytes()
# The image the real mongo SBOM is about (its metadata.component).
MONGO = "sha256:fd73df9425bd48f25d7e913422af8124a6eadbd5d99f67bbd4a8b121f59b1187"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _old_attachment(image, content: bytes) -> Attestation:
    """Stored as an install stored it before the subject check."""
    attestation = catalog.sbom(image, content)
    Attestation.objects.filter(pk=attestation.pk).update(
        subject_status=Attestation.Subject.UNCHECKED
    )
    return attestation


def test_an_old_sbom_of_another_image_is_named_by_the_ledger_check():
    stig = catalog.series(catalog.repository("stig-base"), "8")
    wrong = catalog.build(stig, stig=True)
    mongo = catalog.build(catalog.series(catalog.repository("mongo"), "6.0"))
    ImageDigest.objects.filter(pk=mongo.pk).update(digest=MONGO)
    mongo.refresh_from_db()
    _old_attachment(wrong, MONGO_SBOM)
    _old_attachment(mongo, MONGO_SBOM + b"\n")  # about its own build
    catalog.sbom(catalog.build(stig, stig=True))  # checked when imported
    counts, violations = ledger_violations(at=timezone.now())
    assert counts["evidence_subject_mismatch"] == 1
    (found,) = [v for v in violations if v.check == "evidence_subject_mismatch"]
    assert wrong.digest in found.subject
    assert MONGO in found.message
