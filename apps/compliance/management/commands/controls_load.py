from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.compliance.services import DEFAULT_MAP, control_map_load


class Command(BaseCommand):
    help = (
        "Load the control map (controls and the evidence supporting each) from "
        "a JSON file; the shipped map by default. Replaces the stored map."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(DEFAULT_MAP))

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            result = control_map_load(content=path.read_bytes())
        except ValidationError as exc:
            raise CommandError(f"{file}: " + " ".join(exc.messages)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.controls} controls, {result.evidence} evidence mappings"
                + (f", {result.removed} removed" if result.removed else "")
                + "."
            )
        )
