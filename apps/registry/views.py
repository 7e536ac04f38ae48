"""The registry token endpoint (distribution's token authentication) and the
JWKS of its signing key. The registry, not a browser, is the audience: no
session, no CSRF, answers in JSON."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from .formats.scope import ScopeError, scopes_parse
from .keys import jwks
from .services import (
    CredentialsRefused,
    basic_credentials,
    principal_from,
    refusal_log,
    registry_token_issue,
)

MAX_SERVICE_LENGTH = 255


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(
        {"errors": [{"code": code, "message": message, "detail": None}]},
        status=status,
    )
    if status == 401:
        response["WWW-Authenticate"] = (
            f'Basic realm="{settings.REGISTRY_TOKEN_ISSUER}", charset="UTF-8"'
        )
    return response


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@require_GET
def token(request: HttpRequest) -> JsonResponse:
    if not settings.REGISTRY_SERVICE:
        raise Http404("The registry token service is off.")
    service = request.GET.get("service", "")
    if service != settings.REGISTRY_SERVICE:
        shown = service[:MAX_SERVICE_LENGTH]
        return _error(400, "UNSUPPORTED", f"Unknown service {shown!r}.")
    try:
        scopes = scopes_parse(request.GET.getlist("scope"))
    except ScopeError as exc:
        return _error(400, "UNSUPPORTED", str(exc))
    now = timezone.now()
    try:
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        principal = principal_from(credentials, request=request, now=now)
    except CredentialsRefused as refused:
        if refused.status != 400:
            refusal_log(
                account=refused.account,
                scopes=scopes,
                reason=refused.message,
                ip=_client_ip(request),
                now=now,
            )
        return _error(refused.status, refused.code, refused.message)
    issued = registry_token_issue(
        principal=principal,
        scopes=scopes,
        service=service,
        ip=_client_ip(request),
        now=now,
    )
    return JsonResponse(
        {
            "token": issued.token,
            "access_token": issued.token,
            "expires_in": issued.expires_in,
            "issued_at": issued.issued_at.isoformat().replace("+00:00", "Z"),
        }
    )


@require_GET
def jwks_view(request: HttpRequest) -> JsonResponse:
    if not settings.REGISTRY_SERVICE:
        raise Http404("The registry token service is off.")
    return JsonResponse(jwks())
