"""System checks for report signing: a production process that signs reports
refuses to start without a usable key, instead of failing the first report.

Only the ``reports`` workers sign, so only they are given the key (compose and
the Kubernetes manifests mount it there alone). The entry point runs this check
before it starts a production ``reports`` worker, with
``REPORT_SIGNING_REQUIRED`` on; every other production process that has the key
configured (``manage.py check``, ``migrate``) checks that it loads.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

TAG = "report_signing"
# Set by deploy/entrypoint.py for the check it runs before a reports worker; a
# process flag rather than a setting, since the same settings serve every role.
REQUIRED_VARIABLE = "REPORT_SIGNING_REQUIRED"


@checks.register(TAG)
def report_signing_key_check(app_configs: Any = None, **kwargs: Any) -> list:
    if settings.DEV_MODE:
        # Development generates its own key on first use.
        return []
    if not settings.REPORT_SIGNING_KEY_FILE:
        if os.environ.get(REQUIRED_VARIABLE, "").lower() not in {"1", "true"}:
            return []
        return [
            checks.Error(
                "This process signs reports and has no report-signing key.",
                hint="Set REPORT_SIGNING_KEY_FILE and REPORT_SIGNING_CERT_FILE "
                "(deploy/README.md, 'The report-signing key').",
                id="reports.E001",
            )
        ]
    # Imported here: pyHanko is heavy, and only a configured key needs it.
    from .signing import _configured_key_files, _load

    try:
        key_pem, cert_pem = _configured_key_files()
        _load(key_pem, cert_pem, passphrase=settings.REPORT_SIGNING_KEY_PASSPHRASE)
    except ImproperlyConfigured as exc:
        return [
            checks.Error(
                f"The report-signing key cannot be used: {exc}",
                hint="deploy/README.md, 'The report-signing key'.",
                id="reports.E002",
            )
        ]
    return []
