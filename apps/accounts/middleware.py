"""allauth's own SSO views, when the identity provider cannot be reached.

An organization's provider is read (discovery, keys, token) inside allauth's
login and callback views under ``/accounts/oidc/``; a provider that is down,
refused by the outbound policy (apps/core/outbound.py) or answering nonsense
raises there, and allauth does not catch it. This turns that into what the
portal's own ``/sso/`` page says in the same case: a 502 page naming the
problem, never a 500.
"""

from __future__ import annotations

import logging

from django.shortcuts import render

from apps.core.outbound import OutboundError

logger = logging.getLogger(__name__)

SSO_PREFIX = "/accounts/oidc/"


def _unreachable(exception: Exception) -> bool:
    """The policy's refusals, the HTTP client's errors as allauth sees them
    (requests' exceptions, named by module: only apps/core/outbound.py
    imports the client), and a discovery document that is not what it
    should be."""
    if isinstance(exception, OutboundError | ValueError | KeyError):
        return True
    return any(
        cls.__module__.split(".")[0] == "requests" for cls in type(exception).__mro__
    )


class SsoProviderUnreachableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not request.path_info.startswith(SSO_PREFIX):
            return None
        if not _unreachable(exception):
            return None
        logger.warning(
            "SSO provider unreachable at %s: %s", request.path_info, exception
        )
        return render(
            request,
            "accounts/sso_unavailable.html",
            {
                "message": "Your organization's identity provider cannot be "
                "reached right now. Try again later or sign in with your email "
                "and password."
            },
            status=502,
        )
