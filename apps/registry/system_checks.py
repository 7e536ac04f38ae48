"""System check: a production process with the registry token service on
(``REGISTRY_SERVICE`` set) refuses to start without a usable token key, its
issuer and the registry's public host, instead of failing the first
``docker pull``. Without ``REGISTRY_SERVICE`` the service is off and its
doors answer 404."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

TAG = "registry_tokens"


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
    return []
