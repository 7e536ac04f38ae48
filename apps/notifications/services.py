"""SLA notices that never flood, and the webhook endpoints they go to.

A run finds the clocks that crossed a threshold and have no notice yet on a
channel, writes one ledger row per (clock, threshold, channel) ignoring
conflicts, and sends only the rows it wrote itself: one email digest per
organization, one signed webhook message per endpoint, one staff digest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.orgs.models import Organization
from apps.sla.models import SlaClock

from .models import Delivery, Event, Notification, WebhookEndpoint
from .selectors import notice_recipients

Action = AuditEvent.Action
Threshold = Notification.Threshold
Channel = Notification.Channel

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MAX_ATTEMPTS = 5
# Seconds before attempt n + 1 is 30 * 5 ** (n - 1): 30 s, 2.5 min, 12.5 min,
# about an hour; the fifth failure is final.
BACKOFF_BASE_SECONDS = 30
BACKOFF_FACTOR = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 10.0
# An attempt claims its delivery for this long, longer than the task may run,
# so a second worker does not send it at the same time.
ATTEMPT_LEASE = timedelta(minutes=2)
# A digest lists this many clocks; the rest are counted.
DIGEST_LIST_LIMIT = 200
MESSAGE_TYPE = "sla.notices"

EVENT_OF = {Threshold.AT_RISK: Event.AT_RISK, Threshold.BREACHED: Event.BREACHED}


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


def _http_allowed() -> bool:
    # Plain http only where nothing real is at stake: development and tests.
    return bool(getattr(settings, "WEBHOOK_ALLOW_HTTP", settings.DEV_MODE))


def _private_address(host: str) -> str:
    """The first loopback, private, link-local or reserved address ``host``
    is or resolves to; "" when none (or it does not resolve here)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return ""
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not address.is_global:
            return str(address)
    return ""


def _refused_destination(url: str) -> str:
    """In production a webhook may not reach the portal's own network: the
    reason when ``url`` would (checked at creation and before every send)."""
    if _http_allowed():
        return ""
    host = urlsplit(url).hostname or ""
    private = _private_address(host)
    if private:
        return f"{host} is a private or local address ({private})."
    return ""


def _validate_endpoint(*, url: str, description: str, events: list[str]) -> dict:
    errors: dict[str, str] = {}
    schemes = ["https", "http"] if _http_allowed() else ["https"]
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        errors["url"] = "Enter a full URL, such as https://hooks.example.com/sla."
    else:
        if urlsplit(url).scheme not in schemes:
            errors["url"] = "Webhook URLs must use https."
        elif len(url) > 500:
            errors["url"] = "A webhook URL is at most 500 characters."
        elif refused := _refused_destination(url):
            errors["url"] = f"Webhooks go to public addresses only: {refused}"
    if len(description) > 200:
        errors["description"] = "A description is at most 200 characters."
    unknown = sorted(set(events) - set(Event.values))
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


# --- the run ---------------------------------------------------------------------


def _crossed(threshold: str, now: datetime) -> QuerySet[SlaClock]:
    if threshold == Threshold.AT_RISK:
        return SlaClock.objects.filter(
            state=SlaClock.State.AT_RISK, at_risk_at__lte=now
        )
    return SlaClock.objects.filter(state=SlaClock.State.BREACHED, due_at__lte=now)


def _unsent(
    clocks: QuerySet[SlaClock],
    *,
    threshold: str,
    channel: str,
    endpoint: WebhookEndpoint | None = None,
) -> QuerySet[SlaClock]:
    sent = Notification.objects.filter(clock=OuterRef("pk"), threshold=threshold)
    if endpoint is None:
        sent = sent.filter(channel=channel, endpoint__isnull=True)
    else:
        sent = sent.filter(endpoint=endpoint)
    return clocks.exclude(Exists(sent))


def _claim(
    clocks: QuerySet[SlaClock],
    *,
    run_id: uuid.UUID,
    threshold: str,
    channel: str,
    endpoint: WebhookEndpoint | None,
    now: datetime,
) -> None:
    rows = (
        Notification(
            org_id=org_id,
            clock_id=clock_id,
            threshold=threshold,
            channel=channel,
            endpoint=endpoint,
            run_id=run_id,
            created_at=now,
        )
        for clock_id, org_id in _unsent(
            clocks, threshold=threshold, channel=channel, endpoint=endpoint
        )
        .order_by("pk")
        .values_list("pk", "org_id")
    )
    # A row another run wrote first (committed or not) is skipped here; on
    # PostgreSQL the insert waits for that run to commit, then skips. Every
    # run inserts in clock order, so two runs never wait on each other in a
    # cycle.
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)


@dataclass
class Notice:
    """One ledger row of this run, with what a message says about its clock."""

    row: Notification

    @property
    def clock(self) -> SlaClock:
        return self.row.clock

    def as_json(self) -> dict[str, Any]:
        clock = self.clock
        finding = clock.finding
        return {
            "clock": clock.pk,
            "event": str(EVENT_OF[Threshold(self.row.threshold)]),
            "state": clock.state,
            "severity": clock.severity,
            "vulnerability": finding.vulnerability.vuln_id,
            "repository": finding.digest.variant.series.repository.name,
            "digest": finding.digest.digest,
            "started_at": clock.started_at.isoformat(),
            "at_risk_at": clock.at_risk_at.isoformat(),
            "due_at": clock.due_at.isoformat(),
        }


def _mine(run_id: uuid.UUID) -> list[Notice]:
    rows = (
        Notification.objects.filter(run_id=run_id)
        .select_related(
            "org",
            "endpoint",
            "clock__finding__vulnerability",
            "clock__finding__digest__variant__series__repository",
        )
        .order_by("clock__due_at", "clock_id", "threshold")
    )
    return [Notice(row) for row in rows]


def _digest(*, template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    notices: list[Notice] = context["notices"]
    breached = sum(1 for n in notices if n.row.threshold == Threshold.BREACHED)
    at_risk = len(notices) - breached
    context = {
        **context,
        "listed": notices[:DIGEST_LIST_LIMIT],
        "unlisted": max(0, len(notices) - DIGEST_LIST_LIMIT),
        "breached": breached,
        "at_risk": at_risk,
        "site_url": settings.SITE_URL.rstrip("/"),
        "site_name": settings.SITE_NAME,
    }
    subject = " ".join(
        render_to_string(f"notifications/{template}_subject.txt", context).split()
    )
    text = render_to_string(f"notifications/{template}.txt", context)
    html = render_to_string(f"notifications/{template}.html", context)
    return subject, text, html


@dataclass
class RunResult:
    run_id: str
    notices: int
    emails: int
    webhooks: int
    staff_emails: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def notifications_run(*, now: datetime | None = None) -> RunResult:
    """Send every notice due as of ``now`` that no run has sent, once."""
    from apps.core.tasks import deliver_email

    from .tasks import webhook_deliver

    now = now or timezone.now()
    run_id = uuid.uuid4()
    emails: list[dict[str, Any]] = []
    staff_sent = 0
    deliveries: list[int] = []
    with transaction.atomic():
        endpoints = list(WebhookEndpoint.objects.filter(enabled=True).order_by("pk"))
        for threshold in (Threshold.AT_RISK, Threshold.BREACHED):
            crossed = _crossed(threshold, now)
            _claim(
                crossed,
                run_id=run_id,
                threshold=threshold,
                channel=Channel.EMAIL,
                endpoint=None,
                now=now,
            )
            if threshold == Threshold.BREACHED:
                _claim(
                    crossed,
                    run_id=run_id,
                    threshold=threshold,
                    channel=Channel.STAFF_EMAIL,
                    endpoint=None,
                    now=now,
                )
            for endpoint in endpoints:
                if endpoint.subscribes(EVENT_OF[threshold]):
                    _claim(
                        crossed.filter(org_id=endpoint.org_id),
                        run_id=run_id,
                        threshold=threshold,
                        channel=Channel.WEBHOOK,
                        endpoint=endpoint,
                        now=now,
                    )
        notices = _mine(run_id)
        by_org: dict[int, list[Notice]] = defaultdict(list)
        by_endpoint: dict[int, list[Notice]] = defaultdict(list)
        staff: list[Notice] = []
        for notice in notices:
            channel = notice.row.channel
            if channel == Channel.EMAIL:
                by_org[notice.row.org_id].append(notice)
            elif channel == Channel.STAFF_EMAIL:
                staff.append(notice)
            elif notice.row.endpoint_id is not None:
                by_endpoint[notice.row.endpoint_id].append(notice)
        people = notice_recipients(set(by_org))
        for org_id, org_notices in by_org.items():
            to = people.get(org_id)
            if not to:
                continue
            org = org_notices[0].row.org
            subject, text, html = _digest(
                template="org_digest",
                context={"org": org, "notices": org_notices},
            )
            emails.append({"subject": subject, "body": text, "html": html, "to": to})
        if staff:
            staff_to = list(
                get_user_model()
                .objects.filter(is_staff=True, is_active=True)
                .order_by("email")
                .values_list("email", flat=True)
            )
            if staff_to:
                subject, text, html = _digest(
                    template="staff_digest",
                    context={
                        "notices": staff,
                        "orgs": len({n.row.org_id for n in staff}),
                    },
                )
                emails.append(
                    {"subject": subject, "body": text, "html": html, "to": staff_to}
                )
                staff_sent = 1
        for endpoint_id, endpoint_notices in by_endpoint.items():
            delivery = _delivery_create(
                notices=endpoint_notices, run_id=run_id, now=now
            )
            Notification.objects.filter(run_id=run_id, endpoint_id=endpoint_id).update(
                delivery=delivery
            )
            deliveries.append(delivery.pk)

        def send() -> None:
            for email in emails:
                deliver_email.delay(**email)
            for delivery_id in deliveries:
                webhook_deliver.delay(delivery_id)

        transaction.on_commit(send)
    return RunResult(
        run_id=str(run_id),
        notices=len(notices),
        emails=len(emails) - staff_sent,
        webhooks=len(deliveries),
        staff_emails=staff_sent,
    )


def _delivery_create(
    *, notices: list[Notice], run_id: uuid.UUID, now: datetime
) -> Delivery:
    first = notices[0].row
    endpoint = first.endpoint
    if endpoint is None:
        raise ValueError("A webhook notice names its endpoint.")
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = {
        "type": MESSAGE_TYPE,
        "timestamp": now.isoformat(),
        "data": {
            "run": str(run_id),
            "organization": first.org.slug,
            "clocks": [n.as_json() for n in notices],
        },
    }
    return Delivery.objects.create(
        org=first.org,
        endpoint=endpoint,
        message_id=message_id,
        event_type=MESSAGE_TYPE,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )


# --- delivery --------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    return timedelta(seconds=BACKOFF_BASE_SECONDS * BACKOFF_FACTOR ** (attempts - 1))


def _post(endpoint: WebhookEndpoint, delivery: Delivery) -> tuple[int | None, str]:
    """Send once: the status code (None when no answer) and the error, if any."""
    body = _body(delivery.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"{settings.SITE_NAME} webhooks",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_sign(
            secret=endpoint.secret,
            message_id=delivery.message_id,
            timestamp=timestamp,
            body=body,
        ),
    }
    refused = _refused_destination(endpoint.url)
    if refused:
        return None, f"Not sent: {refused}"
    try:
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
            allow_redirects=False,
            stream=True,
        ) as response:
            code = response.status_code
            location = response.headers.get("Location", "")
    except requests.Timeout:
        return None, f"No answer within {READ_TIMEOUT:g} s."
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= code < 300:
        return code, ""
    if 300 <= code < 400:
        return code, f"Redirect to {location[:300] or '(no location)'} not followed."
    return code, f"HTTP {code}."


def webhook_delivery_attempt(
    *, delivery_id: int, now: datetime | None = None
) -> tuple[Delivery, bool]:
    """Make one attempt at a pending delivery that is due, and record it;
    return the delivery and whether this call attempted it.

    The attempt first claims the row with a conditional UPDATE, so two workers
    handed the same delivery send it once.
    """
    now = now or timezone.now()
    claimed = (
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(next_attempt_at=now + ATTEMPT_LEASE)
    )
    delivery = Delivery.objects.select_related("endpoint").get(pk=delivery_id)
    if not claimed:
        return delivery, False
    endpoint = delivery.endpoint
    started = time.monotonic()
    if endpoint.enabled:
        code, error = _post(endpoint, delivery)
    else:
        code, error = None, "Endpoint disabled before delivery."
    elapsed_ms = int((time.monotonic() - started) * 1000)
    delivery.attempts += 1
    delivery.response_code = code
    delivery.last_error = error
    if not error:
        delivery.status = Delivery.Status.DELIVERED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS or not endpoint.enabled:
        delivery.status = Delivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    delivery.attempt_log = [
        *delivery.attempt_log,
        {
            "at": now.isoformat(),
            "code": code,
            "error": error,
            "ms": elapsed_ms,
            "next": delivery.next_attempt_at.isoformat()
            if delivery.next_attempt_at
            else None,
        },
    ]
    delivery.save(
        update_fields=[
            "attempts",
            "response_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
            "attempt_log",
        ]
    )
    return delivery, True


def webhook_deliveries_due(*, now: datetime | None = None) -> list[int]:
    """Pending deliveries whose next attempt is due: retries, and any whose
    task was lost."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
