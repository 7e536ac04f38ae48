"""manage.py register_build: the publisher's pipeline records a new build
(digest, repository, series, variant, tags) before its evidence is loaded."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from apps.catalog.builds import build_register, built_at_parse
from apps.catalog.models import Repository, Variant


def _built_at(value: str | None) -> datetime:
    if not value:
        return timezone.now()
    try:
        return built_at_parse(value)
    except ValidationError as exc:
        raise CommandError(f"--built-at: {' '.join(exc.messages)}") from None


class Command(BaseCommand):
    help = (
        "Register a build of a repository's series: its digest, variant and tags. "
        "A repository or series not yet in the catalog is created (name only; "
        "describe it in the admin). Registering the same digest again changes "
        "nothing but moves the given tags to it."
    )

    def add_arguments(self, parser):
        parser.add_argument("repository", help="repository name, e.g. python")
        parser.add_argument("series", help="version line, e.g. 3.12")
        parser.add_argument("digest", help="sha256:<64 hex> of the image manifest")
        parser.add_argument(
            "--flavor", default=Variant.Flavor.RUNTIME, choices=Variant.Flavor.values
        )
        parser.add_argument("--fips", action="store_true", help="a FIPS variant")
        parser.add_argument("--stig", action="store_true", help="a STIG variant")
        parser.add_argument(
            "--built-at", help="ISO 8601 time of the build (default: now)"
        )
        parser.add_argument(
            "--tag", action="append", default=[], help="a tag pointing at it (repeat)"
        )
        parser.add_argument(
            "--arch",
            action="append",
            default=[],
            help="an architecture of the image (repeat; default amd64)",
        )
        parser.add_argument(
            "--category",
            default=Repository.Category.APPLICATION,
            choices=Repository.Category.values,
            help="category of a repository created by this command",
        )

    def handle(self, *args, **options):
        try:
            result = build_register(
                repository=options["repository"],
                series=options["series"],
                digest=options["digest"],
                built_at=_built_at(options["built_at"]),
                flavor=options["flavor"],
                fips=options["fips"],
                stig=options["stig"],
                tags=options["tag"],
                architectures=options["arch"],
                category=options["category"],
                via="command",
            )
        except ValidationError as exc:
            raise CommandError(
                " ".join(
                    f"{field}: {' '.join(messages)}"
                    for field, messages in exc.message_dict.items()
                )
            ) from None
        image = result.image
        if result.created:
            self.stdout.write(
                f"{image.digest}: {image.variant} built {image.built_at:%Y-%m-%d}"
            )
        else:
            moved = ", ".join(result.tags_moved) or "none"
            self.stdout.write(
                f"{image.digest}: {image.variant} was registered before; "
                f"tags moved to it: {moved}."
            )
