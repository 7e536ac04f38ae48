"""Check a report file: its SHA-256 against the records and its signature."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.reports.signing import verify_document


class Command(BaseCommand):
    help = (
        "Verify a report file: is its SHA-256 that of an issued report, and is "
        "its PAdES signature intact, valid, by a portal key and over the whole "
        "file? Exit status 0 when valid, 1 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The report file (PDF, zip or XLSX).")
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, **options):
        file = options["file"]
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file.")
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{file}: cannot be read ({exc.strerror}).") from exc
        v = verify_document(content)
        report = v.report
        result = {
            "file": str(path),
            "valid": v.ok,
            "sha256": v.sha256,
            "report_id": str(report.public_id) if report else None,
            "kind": report.kind if report else None,
            "window_start": report.window_start.isoformat()
            if report and report.window_start
            else None,
            "window_end": report.window_end.isoformat()
            if report and report.window_end
            else None,
            "in_evidence_bundle": v.in_bundle,
            "signed": v.signed,
            "intact": v.intact,
            "signature_valid": v.valid,
            "trusted": v.trusted,
            "covers_entire_file": v.entire_file,
            "key_id": v.key_id or None,
            "signer": v.signer or None,
            "signed_at": v.signed_at.isoformat() if v.signed_at else None,
            "problems": list(v.problems),
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, sort_keys=True))
        else:
            self.stdout.write(_text(result))
        if not v.ok:
            raise CommandError("Not valid: " + "; ".join(v.problems) + ".")
        if not options["json"]:  # --json: stdout is one JSON document
            self.stdout.write(self.style.SUCCESS("Valid."))


def _text(result: dict) -> str:
    labels = [
        ("file", "File"),
        ("sha256", "SHA-256"),
        ("report_id", "Report"),
        ("kind", "Kind"),
        ("window_start", "Window start"),
        ("window_end", "Window end"),
        ("key_id", "Signed by key"),
        ("signer", "Signer"),
        ("signed_at", "Signed at"),
        ("covers_entire_file", "Covers the whole file"),
    ]
    lines = [
        f"{label}: {result[key]}" for key, label in labels if result[key] is not None
    ]
    return "\n".join(lines)
