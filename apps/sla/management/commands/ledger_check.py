"""manage.py ledger_check: run every invariant of the ledger and of the
documents built from it; print each violation; exit 1 if any."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from apps.sla.ledger_checks import ledger_figures
from apps.sla.services import sla_ledger_check_run, sla_ledger_reconcile


class Command(BaseCommand):
    help = (
        "Check the SLA ledger's invariants (every entitled org has a policy, every "
        "finding in scope a clock, no clock runs on an unmirrored repository, "
        "states follow the clock, nothing shows Verified by a revoked signer) "
        "and the stored reports' consistency checks, and count the signatures "
        "by verdict. "
        "Exits 1 when any is violated."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Run the reconciliation sweep first (opens missing clocks, "
            "stops clocks on unmirrored repositories; each repair is audited).",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the run as JSON only."
        )

    def handle(self, *args, **options):
        if options["repair"]:
            repaired = sla_ledger_reconcile()
            if not options["json"]:
                self.stdout.write(
                    f"Repaired: {repaired['opened']} clock(s) opened, "
                    f"{repaired['resumed']} resumed, {repaired['stopped']} stopped."
                )
        run = sla_ledger_check_run(trigger="command")
        figures = ledger_figures(at=run.started_at)
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": run.ok,
                        "checks": run.checks,
                        "violation_count": run.violation_count,
                        "violations": run.violations,
                        "figures": figures,
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
        else:
            for name, count in sorted(run.checks.items()):
                mark = "ok" if count == 0 else f"{count} violation(s)"
                self.stdout.write(f"  {name:<28} {mark}")
            for violation in run.violations:
                self.stdout.write(
                    f"{violation['check']}: {violation['subject']}: "
                    f"{violation['message']}"
                )
            if run.violation_count > len(run.violations):
                self.stdout.write(
                    f"... and {run.violation_count - len(run.violations)} more."
                )
            self.stdout.write(_figures_text(figures))
        if not run.ok:
            raise CommandError(
                f"{run.violation_count} violation(s) of the ledger's invariants.",
                returncode=1,
            )
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("The ledger holds."))


def _figures_text(figures: dict[str, int]) -> str:
    """The signature figures in a line: counted, not violations."""
    return (
        f"Signatures: {figures['signatures_verified']} verified, "
        f"{figures['signatures_unverified']} unverified, "
        f"{figures['signatures_invalid']} invalid, "
        f"{figures['signatures_untrusted']} untrusted "
        f"({figures['signatures_no_longer_trusted']} no longer trusted: "
        "signer revoked)."
    )
