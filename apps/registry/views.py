"""The registry token endpoint (distribution's token authentication), the
JWKS of its signing key, and the endpoint the registry posts its
notifications to. The registry, not a browser, is the audience: no session,
no CSRF, answers in JSON."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.core.boundedjson import JsonRefusedError, bounded_loads

from .formats.events import EventsError, events_parse
from .formats.scope import ScopeError, scopes_parse
from .keys import jwks
from .receiving import registry_events_receive
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
    if issued.refusal:
        # Docker and skopeo print a 401's message from the token endpoint (a
        # 403's they drop); a token with empty access would only get the
        # registry's bare "denied".
        code = "UNAUTHORIZED" if principal.kind == "anonymous" else "DENIED"
        return _error(401, code, issued.refusal)
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


# An envelope holds at most MAX_EVENTS events of well under 2 KiB each.
MAX_NOTIFICATION_BYTES = 512 * 1024
NOTIFICATION_MEDIA_TYPES = frozenset(
    {"application/vnd.docker.distribution.events.v1+json", "application/json"}
)


def _bearer_matches(request: HttpRequest) -> bool:
    secret = settings.REGISTRY_NOTIFICATIONS_SECRET
    header = request.headers.get("Authorization", "")
    if len(header) > 1024 or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[7:].encode(), secret.encode())


@csrf_exempt
@require_POST
def notifications(request: HttpRequest) -> JsonResponse:
    """Store what the registry reports; 200 once stored (a retried delivery
    is answered 200 again, nothing stored twice), 4xx for what a retry
    cannot fix."""
    if not settings.REGISTRY_SERVICE or not settings.REGISTRY_NOTIFICATIONS_SECRET:
        raise Http404("The registry notifications endpoint is off.")
    if not _bearer_matches(request):
        response = _error(
            401, "UNAUTHORIZED", "Send the notifications secret as a Bearer token."
        )
        response["WWW-Authenticate"] = 'Bearer realm="registry-notifications"'
        return response
    media_type = request.content_type or ""
    if media_type not in NOTIFICATION_MEDIA_TYPES:
        return _error(
            415, "UNSUPPORTED", f"Expected a notification envelope, not {media_type!r}."
        )
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > MAX_NOTIFICATION_BYTES:
        return _error(
            413, "UNSUPPORTED", f"The envelope is over {MAX_NOTIFICATION_BYTES} bytes."
        )
    try:
        document = bounded_loads(request.body, max_bytes=MAX_NOTIFICATION_BYTES)
        events = events_parse(document)
    except (JsonRefusedError, EventsError) as exc:
        return _error(400, "UNSUPPORTED", str(exc))
    received = registry_events_receive(events)
    return JsonResponse(
        {
            "stored": received.stored,
            "duplicates": received.duplicates,
            "ignored": received.ignored,
        }
    )
