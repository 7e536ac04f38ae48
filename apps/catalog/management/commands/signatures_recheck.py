"""Check the signatures of stored attestations again and keep the verdicts."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.catalog.services import normalize_digest
from apps.catalog.signatures import attestations_signature_recheck


class Command(BaseCommand):
    help = (
        "Check every attestation's signature again against the trusted signers "
        "and the Sigstore trust root (after registering a signer or changing the "
        "root), and keep the new verdicts."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--digest", metavar="sha256:<hex>", help="only this build's attestations"
        )

    def handle(self, *args, digest=None, **options):
        if digest:
            try:
                digest = normalize_digest(digest)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
        counts = attestations_signature_recheck(digest=digest or "")
        total = sum(counts.values())
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        self.stdout.write(
            self.style.SUCCESS(f"Checked {total} attestations: {parts or 'none'}.")
        )
