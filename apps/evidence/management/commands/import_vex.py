import hashlib
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.evidence.ingest import evidence_recorded
from apps.vulns.models import VexDocument
from apps.vulns.services import vex_import, vex_imported


class Command(BaseCommand):
    help = (
        "Import a VEX document: OpenVEX v0.2.0 (or the legacy v0.0.1 format) or "
        "CycloneDX VEX (JSON 1.4-1.6, or XML). Statements are linked to the "
        "catalog's repositories and digests their products name. Importing the "
        "same file again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the VEX document")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        # Checked before reading, so an oversize file is never loaded.
        limit = settings.EVIDENCE_MAX_BYTES
        size = path.stat().st_size
        if size > limit:
            raise CommandError(
                f"{file}: the document is {size:,} bytes; the limit is {limit:,}."
            )
        content = path.read_bytes()
        seen = VexDocument.objects.filter(
            sha256=hashlib.sha256(content).hexdigest()
        ).exists()
        try:
            with transaction.atomic():
                document = vex_import(content=content)
                imported = vex_imported(document)
                evidence_recorded(kind="vex", result=imported, source=str(path))
        except ValidationError as exc:
            raise CommandError(f"{file}: {' '.join(exc.messages)}") from None
        if seen:
            self.stdout.write(f"{file} was already imported; nothing changed.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                imported.text(document.get_format_display(), document.spec_version)
            )
        )
