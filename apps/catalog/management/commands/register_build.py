"""manage.py register_build: the publisher's pipeline records a new build
(digest, repository, series, variant, tags) before its evidence is loaded."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.catalog import services as catalog
from apps.catalog.models import Repository, Series, Variant


def _built_at(value: str | None) -> datetime:
    if not value:
        return timezone.now()
    parsed = parse_datetime(value)
    if parsed is None:
        raise CommandError(f"--built-at {value!r} is not an ISO 8601 date and time.")
    if timezone.is_naive(parsed):
        raise CommandError(f"--built-at {value!r} needs a time zone (e.g. Z).")
    return parsed


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
        built_at = _built_at(options["built_at"])
        try:
            with transaction.atomic():
                repository = Repository.objects.filter(
                    name=options["repository"]
                ).first() or catalog.repository_upsert(
                    name=options["repository"], category=options["category"]
                )
                series = Series.objects.filter(
                    repository=repository, name=options["series"]
                ).first() or catalog.series_upsert(
                    repository=repository, name=options["series"]
                )
                variant = catalog.variant_get_or_create(
                    series=series,
                    flavor=options["flavor"],
                    fips=options["fips"],
                    stig=options["stig"],
                )
                image = catalog.digest_register(
                    variant=variant,
                    digest=options["digest"],
                    built_at=built_at,
                    architectures=options["arch"] or None,
                    tags=options["tag"],
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{image.digest}: {variant} built {image.built_at:%Y-%m-%d}")
