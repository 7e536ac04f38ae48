from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.evidence.ingest import evidence_recorded
from apps.vulns.services import osv_import


def _source_name(path: Path) -> str:
    """What the import is recorded as coming from: the file or directory name,
    with its folder for osv.dev's per-ecosystem ``<Ecosystem>/all.zip``."""
    path = path.resolve()
    if path.name == "all.zip" and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name


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
                report = osv_import(path=path, source=_source_name(Path(path)))
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
        if report.stale:
            self.stdout.write(
                f"{report.stale} older than the record held: kept as revisions, "
                "not applied."
            )
        if report.findings_withdrawn or report.findings_restored:
            self.stdout.write(
                f"Findings: {report.findings_withdrawn} withdrawn, "
                f"{report.findings_restored} back in force."
            )
