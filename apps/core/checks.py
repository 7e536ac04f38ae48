"""Deployment checks of the core app, run by ``manage.py check --deploy`` (the
migrate role runs it at ``--fail-level WARNING``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

_RELAXED = ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")


@checks.register(checks.Tags.security, deploy=True)
def insecure_http_check(app_configs: Any = None, **kwargs: Any) -> list:
    """Says when PORTAL_INSECURE_HTTP silences Django's HTTPS warnings, and
    points an operator who turned one off by hand at it."""
    if not settings.PRODUCTION:
        return []
    off = [name for name in _RELAXED if not getattr(settings, name)]
    if settings.INSECURE_HTTP:
        return [
            checks.Info(
                "PORTAL_INSECURE_HTTP=1: plain HTTP, security.W008/W012/W016 "
                f"silenced ({', '.join(off) or 'none'} off).",
                hint="Only for a stack on 127.0.0.1; unset it once a TLS proxy "
                "is in front (deploy/README.md).",
                id="core.I001",
            )
        ]
    if off:
        return [
            checks.Warning(
                f"{', '.join(off)} off in production without PORTAL_INSECURE_HTTP.",
                hint="Serve over HTTPS, or set PORTAL_INSECURE_HTTP=1 for a "
                "plain-HTTP stack on 127.0.0.1 (deploy/README.md).",
                id="core.W001",
            )
        ]
    return []
