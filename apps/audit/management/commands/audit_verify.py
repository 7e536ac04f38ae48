from django.core.management.base import BaseCommand, CommandError

from apps.audit.services import audit_chain_verify


class Command(BaseCommand):
    help = "Verify the audit log's hash chain and report the first broken link."

    def handle(self, *args, **options):
        report = audit_chain_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain broken at event {report.broken_id}: {report.reason} "
                f"({report.checked} events before it verified)"
            )
        self.stdout.write(
            self.style.SUCCESS(f"audit chain intact: {report.checked} events")
        )
