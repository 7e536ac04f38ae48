from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.catalog.ingest import evidence_recorded
from apps.vulns.services import osv_import


class Command(BaseCommand):
    help = (
        "Import OSV vulnerability records from a directory of OSV JSON files, a "
        ".zip of them (as osv.dev publishes per ecosystem) or one .json file, "
        "offline. Every record is checked first; one bad record refuses the "
        "whole import."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "path", help="a directory or .zip of OSV JSON records, or one .json"
        )

    def handle(self, *args, path, **options):
        try:
            with transaction.atomic():
                report = osv_import(path=path)
                evidence_recorded(kind="osv", result=report, source=str(path))
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.records} OSV records: {report.created} new, "
                f"{report.updated} updated, {report.unchanged} unchanged; "
                f"{report.affected_packages} affected packages written."
            )
        )
