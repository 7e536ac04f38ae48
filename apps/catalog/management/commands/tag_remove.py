from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.catalog.models import Repository
from apps.catalog.services import tag_remove


class Command(BaseCommand):
    help = "Withdraw a tag from the catalog; the reason is kept in its history."

    def add_arguments(self, parser):
        parser.add_argument("repository")
        parser.add_argument("tag")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        repository = Repository.objects.filter(name=options["repository"]).first()
        if repository is None:
            raise CommandError(f"No repository {options['repository']!r}.")
        try:
            event = tag_remove(
                repository=repository, tag=options["tag"], reason=options["reason"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"{repository.name}:{event.tag} no longer points at {event.digest.digest} "
            f"({event.removal_reason})"
        )
