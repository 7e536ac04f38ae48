from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.evidence.ingest import evidence_recorded
from apps.vulns.services import kev_import


class Command(BaseCommand):
    help = (
        "Flag vulnerabilities listed in CISA's Known Exploited Vulnerabilities "
        "catalog (known_exploited_vulnerabilities.json) and unflag those no longer "
        "listed. Import OSV records first: only known vulnerabilities are flagged."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the KEV catalog, JSON")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        limit = settings.EVIDENCE_MAX_BYTES
        size = path.stat().st_size
        if size > limit:
            raise CommandError(f"{file}: {size} bytes is over the {limit}-byte limit.")
        try:
            with transaction.atomic():
                report = kev_import(content=path.read_bytes(), source=path.name)
                evidence_recorded(kind="kev", result=report, source=str(path))
        except ValidationError as exc:
            raise CommandError(f"{file}: " + "\n".join(exc.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"KEV catalog {report.catalog_version}: {report.entries} entries; "
                f"{report.flagged} vulnerabilities flagged ({report.newly_flagged} "
                f"new), {report.unflagged} unflagged; {report.unmatched} entries "
                "name no vulnerability known here."
            )
        )
