"""Check a file the portal served against its DSSE signature by the portal."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.reports.statements import statement_verify

# An envelope carries its payload in base64 (4/3 of its size), a signature
# and a key id: a little more than that is no envelope of this file.
ENVELOPE_SLACK_BYTES = 64 * 1024


def _read(name: str, what: str, limit: int) -> bytes:
    path = Path(name)
    if not path.is_file():
        raise CommandError(f"{name}: no such file.")
    size = path.stat().st_size
    if size > limit:
        raise CommandError(
            f"{name}: {size} bytes, more than any {what} this checks ({limit})."
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CommandError(f"{name}: cannot be read ({exc.strerror}).") from exc


class Command(BaseCommand):
    help = (
        "Verify a file the portal served (an OpenVEX or CycloneDX VEX export, a "
        "report's evidence JSON) against the DSSE envelope fetched with "
        "?signature=dsse: is its payload this file byte for byte, and is its "
        "signature by a key the portal records, valid now? Exit status 0 when "
        "valid, 1 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The file as served.")
        parser.add_argument("signature", help="Its DSSE envelope.")
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, **options):
        limit = settings.EVIDENCE_MAX_BYTES
        content = _read(options["file"], "file", limit)
        signature = _read(
            options["signature"],
            "signature",
            len(content) * 4 // 3 + ENVELOPE_SLACK_BYTES,
        )
        checked = statement_verify(content, signature)
        verdict = checked.verdict
        result = {
            "file": options["file"],
            "signature": options["signature"],
            "valid": checked.valid,
            "sha256": checked.sha256,
            "status": verdict.status,
            "check": verdict.check or None,
            "key_id": checked.key_id or None,
            "signer": verdict.signer.name if verdict.signer else None,
            "payload_type": checked.payload_type or None,
            "message": verdict.message,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result, indent=2, sort_keys=True))
        else:
            self.stdout.write(_text(result))
        if not checked.valid:
            raise CommandError(f"Not valid: {verdict.message}")
        if not options["json"]:  # --json: stdout is one JSON document
            self.stdout.write(self.style.SUCCESS("Valid."))


def _text(result: dict) -> str:
    labels = [
        ("file", "File"),
        ("sha256", "SHA-256"),
        ("payload_type", "Payload type"),
        ("key_id", "Signed by key"),
        ("signer", "Signer"),
    ]
    return "\n".join(
        f"{label}: {result[key]}" for key, label in labels if result[key] is not None
    )
