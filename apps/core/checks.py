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


@checks.register(checks.Tags.security, deploy=True)
def site_url_check(app_configs: Any = None, **kwargs: Any) -> list:
    """SITE_URL goes into every emailed link, QR code and report: it must be
    the address people reach the portal at, with the scheme it is served on,
    or the first admin's set-password link and every verification mail lead
    nowhere (https:// links on a plain-HTTP stack, or a host the portal
    refuses)."""
    if not settings.PRODUCTION:
        return []
    from urllib.parse import urlsplit

    from django.http.request import validate_host

    url = urlsplit(settings.SITE_URL)
    found = []
    expected = "http" if settings.INSECURE_HTTP else "https"
    if url.scheme != expected:
        found.append(
            checks.Warning(
                f"SITE_URL {settings.SITE_URL!r} is not {expected}://, but the "
                f"portal is served over {expected.upper()}"
                + (" (PORTAL_INSECURE_HTTP=1)." if settings.INSECURE_HTTP else "."),
                hint="Links in mail, QR codes and reports are built from "
                "SITE_URL; set it to the address people use (deploy/README.md).",
                id="core.W002",
            )
        )
    if not url.hostname or not validate_host(url.hostname, settings.ALLOWED_HOSTS):
        found.append(
            checks.Warning(
                f"SITE_URL's host {url.hostname!r} is not in ALLOWED_HOSTS: "
                "every link built from it would be refused with 400.",
                hint="Add the host to ALLOWED_HOSTS or correct SITE_URL.",
                id="core.W003",
            )
        )
    return found
