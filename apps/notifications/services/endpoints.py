"""Webhook endpoints an organization registers, and how messages are signed.

Secrets follow Standard Webhooks: ``whsec_`` and base64 of 32 random bytes;
a message is signed with HMAC-SHA256 of ``id.timestamp.body``. An endpoint is
held to the outbound policy (apps/core/outbound.py) when it is created, and
every delivery is sent through it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core import outbound
from apps.orgs.models import Organization

from ..kinds import webhook_event_choices
from ..models import Delivery, WebhookEndpoint

Action = AuditEvent.Action

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


# --- signing ---------------------------------------------------------------------


def webhook_secret_new() -> str:
    """A Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def webhook_sign(*, secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: HMAC-SHA256 of ``id.timestamp.body``
    keyed with the secret's decoded bytes, as ``v1,<base64>``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


# --- endpoints -------------------------------------------------------------------


def _url_error(url: str) -> str:
    """What is wrong with ``url`` as a webhook endpoint ("" if nothing)."""
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        return "Enter a full URL, such as https://hooks.example.com/sla."
    if len(url) > 500:
        return "A webhook URL is at most 500 characters."
    try:
        outbound.check_url(url)
    except outbound.RefusedDestination as exc:
        if exc.code == "scheme":
            return "Webhook URLs must use https."
        if exc.code == "address":
            return f"Webhooks go to public addresses only: {exc}"
        return str(exc)
    return ""


def _validate_endpoint(*, url: str, description: str, events: list[str]) -> dict:
    errors: dict[str, str] = {}
    if url_error := _url_error(url):
        errors["url"] = url_error
    if len(description) > 200:
        errors["description"] = "A description is at most 200 characters."
    known = {value for value, _ in webhook_event_choices()}
    unknown = sorted(set(events) - known)
    if unknown:
        errors["events"] = f"Unknown events: {', '.join(unknown)}."
    elif not events:
        errors["events"] = "Choose at least one event."
    return errors


@transaction.atomic
def webhook_endpoint_create(
    *,
    org: Organization,
    url: str,
    description: str = "",
    events: list[str],
    actor: Any,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it with its secret, to be shown once."""
    url = url.strip()
    description = description.strip()
    errors = _validate_endpoint(url=url, description=description, events=events)
    if errors:
        raise ValidationError(errors)
    secret = webhook_secret_new()
    endpoint = WebhookEndpoint.objects.create(
        org=org,
        url=url,
        description=description,
        secret=secret,
        events=sorted(set(events)),
        created_by=actor,
        created_at=now or timezone.now(),
    )
    audit_record(
        action=Action.WEBHOOK_ENDPOINT_ADDED,
        actor=actor,
        org=org,
        target=endpoint,
        request=request,
        details={"url": url, "events": endpoint.events},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_disable(
    *,
    endpoint: WebhookEndpoint,
    actor: Any,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> WebhookEndpoint:
    """Stop sending to an endpoint. Its deliveries stay in the log."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not endpoint.enabled:
        raise ValidationError("This endpoint is already disabled.")
    endpoint.enabled = False
    endpoint.disabled_at = now or timezone.now()
    endpoint.save(update_fields=["enabled", "disabled_at"])
    pending = Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING)
    dropped = pending.update(
        status=Delivery.Status.FAILED,
        last_error="Endpoint disabled before delivery.",
        next_attempt_at=None,
    )
    audit_record(
        action=Action.WEBHOOK_ENDPOINT_REMOVED,
        actor=actor,
        org=endpoint.org,
        target=endpoint,
        request=request,
        details={"url": endpoint.url, "pending_dropped": dropped},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *,
    endpoint: WebhookEndpoint,
    actor: Any,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret, shown once; the old one stops signing."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not endpoint.enabled:
        raise ValidationError("A disabled endpoint has no secret to rotate.")
    secret = webhook_secret_new()
    endpoint.secret = secret
    endpoint.secret_rotated_at = now or timezone.now()
    endpoint.save(update_fields=["secret", "secret_rotated_at"])
    # No audit action names a rotation: the closest records the endpoint as
    # (re)added with a new secret.
    audit_record(
        action=Action.WEBHOOK_ENDPOINT_ADDED,
        actor=actor,
        org=endpoint.org,
        target=endpoint,
        request=request,
        details={"url": endpoint.url, "secret_rotated": True},
    )
    return endpoint, secret
