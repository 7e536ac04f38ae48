"""System check: a production process with the registry token service on
(``REGISTRY_SERVICE`` set) refuses to start without a usable token key, its
issuer, the registry's public host and the notifications secret, instead of
failing the first ``docker pull``. Without ``REGISTRY_SERVICE`` the service
is off and its doors answer 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

TAG = "registry_tokens"
MIN_SECRET_LENGTH = 32


@checks.register(TAG)
def registry_token_key_check(app_configs: Any = None, **kwargs: Any) -> list:
    if settings.DEV_MODE:
        # Development generates its own key on first use.
        return []
    if not settings.REGISTRY_SERVICE:
        return []
    from .keys import _configured_key_files, key_load

    try:
        key_load(*_configured_key_files())
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                f"Registry tokens cannot be signed: {exc}",
                hint="Set REGISTRY_TOKEN_KEY_FILE and REGISTRY_TOKEN_CERT_FILE "
                "to a P-256 key and its certificate.",
                id="registry.E001",
            )
        ]
    for name in ("REGISTRY_TOKEN_ISSUER", "REGISTRY_PUBLIC_HOST"):
        if not getattr(settings, name):
            return [
                checks.Error(f"{name} is not set.", id="registry.E002"),
            ]
    if len(settings.REGISTRY_NOTIFICATIONS_SECRET) < MIN_SECRET_LENGTH:
        return [
            checks.Error(
                "REGISTRY_NOTIFICATIONS_SECRET is not set or shorter than "
                f"{MIN_SECRET_LENGTH} characters: the portal would not know "
                "which images were pulled.",
                hint="Generate one (openssl rand -hex 32) and give the same "
                "value to the registry's notifications endpoint header.",
                id="registry.E003",
            )
        ]
    return []
