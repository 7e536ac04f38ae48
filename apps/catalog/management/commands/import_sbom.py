from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.catalog.evidence import evidence_file_read, sbom_import
from apps.catalog.ingest import evidence_recorded
from apps.catalog.models import ImageDigest
from apps.catalog.services import normalize_digest
from apps.vulns.sbom import FORMAT_LABELS


def image_for(digest: str) -> ImageDigest:
    """The registered build a command names, or a CommandError that says why not."""
    try:
        digest = normalize_digest(digest)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    image = ImageDigest.objects.filter(digest=digest).first()
    if image is None:
        raise CommandError(f"No image digest {digest} is registered.")
    return image


def read(path: str) -> bytes:
    try:
        return evidence_file_read(path)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None


class Command(BaseCommand):
    help = "Attach a CycloneDX (1.4-1.6) or SPDX (2.2, 2.3) JSON SBOM to a digest."

    def add_arguments(self, parser):
        parser.add_argument("digest", help="sha256:<64 hex> of a registered build")
        parser.add_argument("file", help="the SBOM, JSON")

    def handle(self, *args, digest, file, **options):
        image = image_for(digest)
        content = read(file)
        try:
            with transaction.atomic():
                result = sbom_import(image=image, content=content)
                evidence_recorded(
                    kind="sbom", result=result, image=image, source=str(file)
                )
        except ValidationError as exc:
            raise CommandError(f"{file}: {' '.join(exc.messages)}") from None
        if not result.created:
            self.stdout.write(
                f"{file} is already attached to {image.digest}; nothing changed."
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Attached {FORMAT_LABELS[result.format]} {result.spec_version} SBOM "
                f"to {image.digest}: "
                f"{result.components} components ({result.components_created} new to "
                f"the catalog, {result.links_created} new to this digest), "
                f"{result.skipped_without_purl} without a purl skipped."
            )
        )
