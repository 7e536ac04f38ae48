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


@checks.register(checks.Tags.security)
def outbound_networks_check(app_configs: Any = None, **kwargs: Any) -> list:
    """OUTBOUND_ALLOW_NETWORKS must be networks: a typo would otherwise stop
    every webhook and SSO sign-in at the first request."""
    import ipaddress

    bad = []
    for network in settings.OUTBOUND_ALLOW_NETWORKS:
        try:
            ipaddress.ip_network(str(network).strip(), strict=False)
        except ValueError:
            bad.append(str(network))
    if not bad:
        return []
    return [
        checks.Error(
            f"OUTBOUND_ALLOW_NETWORKS has entries that are not networks: "
            f"{', '.join(repr(b) for b in bad)}.",
            hint="Give comma-separated CIDR networks, e.g. 10.20.0.0/16,::1/128.",
            id="core.E001",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def outbound_relaxed_check(app_configs: Any = None, **kwargs: Any) -> list:
    """Names what production lets the portal's own requests (webhooks, SSO
    discovery) reach beyond https at public addresses: each relaxation lets
    an organization owner point the server at what it names."""
    if not settings.PRODUCTION:
        return []
    found = []
    if settings.OUTBOUND_ALLOW_NETWORKS:
        found.append(
            checks.Info(
                "OUTBOUND_ALLOW_NETWORKS lets webhooks and SSO providers reach "
                f"{', '.join(map(str, settings.OUTBOUND_ALLOW_NETWORKS))}.",
                hint="Anyone who may save a webhook URL or an SSO issuer can make "
                "the portal send requests there; name only the networks you "
                "mean (README.md, settings).",
                id="core.I002",
            )
        )
    if settings.OUTBOUND_ALLOW_HTTP:
        found.append(
            checks.Info(
                "OUTBOUND_ALLOW_HTTP=1: webhooks and SSO providers may be "
                "reached over plain http.",
                hint="Webhook signatures and SSO tokens then cross the network "
                "unencrypted; unset it unless every such URL is on a trusted "
                "network.",
                id="core.I003",
            )
        )
    return found
