from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.fips.services import crypto_modules_import


class Command(BaseCommand):
    help = (
        "Load a CMVP certificate record (JSON) into the crypto-module registry. "
        "A known certificate is updated in place and its changes recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="one CMVP certificate record, JSON")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        limit = settings.EVIDENCE_MAX_BYTES
        size = path.stat().st_size
        if size > limit:
            raise CommandError(f"{file}: {size} bytes is over the {limit}-byte limit.")
        try:
            report = crypto_modules_import(content=path.read_bytes(), source=str(path))
        except ValidationError as exc:
            raise CommandError(f"{file}: " + "\n".join(exc.messages)) from None
        line = f"CMVP certificate #{report.certificate_number}: {report.outcome}"
        if report.changed_fields:
            line += f" ({', '.join(report.changed_fields)})"
        self.stdout.write(self.style.SUCCESS(line + "."))
