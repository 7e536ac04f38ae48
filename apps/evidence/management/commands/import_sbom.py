from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.evidence.commands import (
    actor_for,
    add_actor_arguments,
    add_signature_argument,
    image_for,
    override_for,
    read,
    signature_for,
    signature_line,
    subject_line,
)
from apps.evidence.ingest import evidence_recorded, evidence_signature_check
from apps.vulns.formats.sbom_parsed import FORMAT_LABELS
from apps.vulns.services.sbom import sbom_import


class Command(BaseCommand):
    help = "Attach a CycloneDX (1.4-1.7) or SPDX (2.2, 2.3) JSON SBOM to a digest."

    def add_arguments(self, parser):
        parser.add_argument("digest", help="sha256:<64 hex> of a registered build")
        parser.add_argument("file", help="the SBOM, JSON")
        add_actor_arguments(parser)
        add_signature_argument(parser)

    def handle(self, *args, digest, file, **options):
        image = image_for(digest)
        actor = actor_for(options["actor"])
        override = override_for(options["subject_override_reason"], actor)
        content = read(file)
        signature = signature_for(options["signature"], "sbom")
        try:
            with transaction.atomic():
                result = sbom_import(
                    image=image, content=content, subject_override=override
                )
                evidence_signature_check(
                    attestation=result.attestation,
                    content=content,
                    signature=signature,
                    overridden=override is not None,
                )
                evidence_recorded(
                    kind="sbom",
                    result=result,
                    image=image,
                    actor=actor,
                    source=str(file),
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
                f"{result.skipped_without_purl} without a purl skipped. "
                + subject_line(result.attestation)
                + " "
                + signature_line(result.attestation)
            )
        )
        if result.warnings:
            self.stdout.write(
                self.style.WARNING(
                    "Imported with deviations from the schema in fields the portal "
                    "does not read:"
                )
            )
            for warning in result.warnings:
                self.stdout.write(f"  {warning}")
