from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "apps.reports"
    label = "reports"
    verbose_name = "Signed reports"

    def ready(self) -> None:
        # The ledger's health check also re-checks stored reports; the ledger
        # sits below reports, so reports registers itself with it.
        from collections.abc import Iterator
        from datetime import datetime

        from apps.sla.ledger_checks import Violation, register

        from . import system_checks  # noqa: F401  (registers the signing-key check)
        from .checks.runner import reports_check_stored

        @register("report_inconsistent")
        def stored_reports(at: datetime) -> Iterator[Violation]:
            for found in reports_check_stored():
                yield Violation(
                    "report_inconsistent",
                    found.subject,
                    f"{found.check}: {found.message}",
                )
