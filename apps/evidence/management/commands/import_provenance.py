from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.catalog.provenance import provenance_import
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


class Command(BaseCommand):
    help = (
        "Attach SLSA provenance (an in-toto statement, bare or in a DSSE envelope) "
        "to a digest that is one of its subjects."
    )

    def add_arguments(self, parser):
        parser.add_argument("digest", help="sha256:<64 hex> of a registered build")
        parser.add_argument("file", help="the statement or DSSE envelope, JSON")
        add_actor_arguments(parser)
        add_signature_argument(parser)

    def handle(self, *args, digest, file, **options):
        image = image_for(digest)
        actor = actor_for(options["actor"])
        override = override_for(options["subject_override_reason"], actor)
        content = read(file)
        signature = signature_for(options["signature"], "provenance")
        try:
            with transaction.atomic():
                attestation = provenance_import(
                    image=image, content=content, subject_override=override
                )
                evidence_signature_check(
                    attestation=attestation,
                    content=content,
                    signature=signature,
                    overridden=override is not None,
                )
                evidence_recorded(
                    kind="provenance",
                    result=attestation,
                    image=image,
                    actor=actor,
                    source=str(file),
                )
        except ValidationError as exc:
            raise CommandError(f"{file}: {' '.join(exc.messages)}") from None
        summary = attestation.summary
        self.stdout.write(
            self.style.SUCCESS(
                f"Attached SLSA {attestation.spec_version} provenance to "
                f"{image.digest}: builder {summary['builder_id']!r}, "
                f"{len(summary['materials'])} materials. "
                + subject_line(attestation)
                + " "
                + signature_line(attestation)
            )
        )
