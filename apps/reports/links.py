"""Where a report can be verified: printed in it (text and QR code)."""

from __future__ import annotations

from django.conf import settings


def verify_path(public_id) -> str:
    return f"/reports/verify/{public_id}/"


def verify_url(report) -> str:
    return settings.SITE_URL.rstrip("/") + verify_path(report.public_id)
