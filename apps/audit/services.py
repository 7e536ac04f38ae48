"""Writing to the audit log and checking that nobody rewrote it."""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from .models import GENESIS_HASH, AuditEvent

# Any 64-bit number that no other advisory lock in the project uses.
_CHAIN_LOCK_KEY = 0x6175646974  # "audit"
_USER_AGENT_MAX = 512
# The columns an event's hash covers, in audit_event_hash's keyword names.
HASHED_FIELDS = (
    "prev_hash",
    "created_at",
    "actor_id",
    "actor_email",
    "org_id",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "ip",
    "user_agent",
    "details",
)


def _canonical_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def audit_event_hash(
    *,
    prev_hash: str,
    created_at: datetime,
    actor_id: int | None,
    actor_email: str,
    org_id: int | None,
    action: str,
    target_type: str,
    target_id: str,
    target_repr: str,
    ip: str | None,
    user_agent: str,
    details: dict[str, Any],
) -> str:
    """The SHA-256 of one event's content and the hash of the event before it."""
    payload = {
        "prev_hash": prev_hash,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "actor_id": actor_id,
        "actor_email": actor_email,
        "org_id": org_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "target_repr": target_repr,
        "ip": _canonical_ip(ip),
        "user_agent": user_agent,
        "details": details,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR is what the proxy in front of us gives; a deployment behind a
    # load balancer sets it from X-Forwarded-For in the proxy, not here.
    return _canonical_ip(request.META.get("REMOTE_ADDR"))


@transaction.atomic
def audit_record(
    *,
    action: str,
    actor: Any = None,
    org: Any = None,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    details: dict[str, Any] | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Append one event to the chain.

    The chain has one head, so appends are serialized: on PostgreSQL by a
    transaction-scoped advisory lock, on SQLite by its single writer.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    # JSON round trip so what we hash is exactly what the database gives back.
    details = json.loads(json.dumps(details or {}, sort_keys=True, default=str))
    last = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    prev_hash = last or GENESIS_HASH
    fields: dict[str, Any] = {
        "created_at": timezone.now(),
        "actor_id": actor.pk if actor else None,
        "actor_email": actor_email or (actor.email if actor else ""),
        "org_id": org.pk if org is not None else None,
        "action": action,
        "target_type": target._meta.label_lower if target is not None else "",
        "target_id": str(target.pk) if target is not None else "",
        "target_repr": str(target)[:255] if target is not None else "",
        "ip": _client_ip(request) if request is not None else None,
        "user_agent": (
            request.META.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX]
            if request is not None
            else ""
        ),
        "details": details,
    }
    digest = audit_event_hash(prev_hash=prev_hash, **fields)
    return AuditEvent.objects.create(prev_hash=prev_hash, hash=digest, **fields)


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_id: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the whole chain in id order and report the first broken link."""
    expected_prev = GENESIS_HASH
    checked = 0
    rows = AuditEvent.objects.order_by("id").values("id", "hash", *HASHED_FIELDS)
    for values in rows.iterator(chunk_size=chunk_size):
        row: dict[str, Any] = dict(values)
        event_id = row.pop("id")
        stored_hash = row.pop("hash")
        if row["prev_hash"] != expected_prev:
            return ChainReport(
                checked, event_id, "prev_hash does not match the previous event's hash"
            )
        if audit_event_hash(**row) != stored_hash:
            return ChainReport(
                checked, event_id, "content does not match its hash (event was altered)"
            )
        expected_prev = stored_hash
        checked += 1
    return ChainReport(checked)
