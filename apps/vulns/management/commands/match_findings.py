from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.vulns.services import findings_match


class Command(BaseCommand):
    help = (
        "Match the components of image digests against imported advisories and "
        "record findings; mark findings fixed where a newer build of the same "
        "variant no longer has them. Re-running is a no-op."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--digest",
            action="append",
            dest="digests",
            metavar="sha256:...",
            help="match only this digest (and newer builds of its variant); "
            "repeatable; default: every digest",
        )

    def handle(self, *args, digests=None, **options):
        try:
            report = findings_match(digests=digests)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        for ecosystem, version in report.unparsable_versions[:20]:
            self.stderr.write(f"unreadable {ecosystem} version: {version!r}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.digests} digests, {report.packages} packages: "
                f"{report.components_affected} affected components, "
                f"{report.findings_created} new findings, "
                f"{report.findings_fixed} findings marked fixed."
            )
        )
