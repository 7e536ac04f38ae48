"""Demo STIG data: a STIG build scanned with the real OpenSCAP results for the
DISA RHEL 8 STIG (mitre/saf sample data), mirrored by the demo org.

The build's SBOM is generated like the other generated builds' and names the
build itself as its subject: no document of another image is attached to it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from apps.catalog.models import ImageDigest, Repository
from apps.catalog.services import digest_register, variant_get_or_create
from apps.demo.catalog import SAFE_PYPI, generated_cyclonedx
from apps.demo.signing import demo_detached
from apps.evidence.ingest import evidence_import

RESULTS = settings.BASE_DIR / "apps/stig/testdata/saf__xccdf-results-openscap-rhel8.xml"
DEMO_BUILD = "sha256:" + "5e" * 32


def demo_stig_load(*, actor) -> Repository | None:
    """A STIG variant of the first generated repository, with a scan. Idempotent."""
    repository = Repository.objects.filter(is_generated=True).order_by("name").first()
    if repository is None:
        return None
    series = repository.series.order_by("name").first()
    variant = variant_get_or_create(series=series, stig=True)
    image = ImageDigest.objects.filter(digest=DEMO_BUILD).first() or digest_register(
        variant=variant,
        digest=DEMO_BUILD,
        built_at=datetime(2021, 11, 12, 16, 0, tzinfo=UTC),
        tags=[f"{series.name}-{variant.suffix}"],
    )
    sbom = generated_cyclonedx(
        name=repository.name, digest=image.digest, packages=list(SAFE_PYPI)
    )
    evidence_import(
        kind="sbom",
        content=sbom,
        digest=image.digest,
        actor=actor,
        signature=demo_detached(sbom, name=f"{repository.name}.cdx.json"),
    )
    results = RESULTS.read_bytes()
    evidence_import(
        kind="stig",
        content=results,
        digest=image.digest,
        actor=actor,
        signature=demo_detached(results, name=RESULTS.name),
    )
    return repository
