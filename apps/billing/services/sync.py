"""What a Stripe subscription entitles an organization to, applied as a
desired state: the same subscription read twice, or events in any order,
end in the same rows.

Callers hold the organization's billing lock (``billing_lock``) and pass the
subscription as just read from Stripe's API, never an event's copy of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.entitlements.models import Entitlement
from apps.entitlements.services import (
    entitlement_end,
    entitlements_grant_plan,
    mirrors_recheck,
)

from ..models import BillingAccount, Invoice, Plan, Price, Subscription

Action = AuditEvent.Action
Status = Subscription.Status

# Statuses whose subscriptions entitle; past_due does too, for the grace period.
ENTITLED = frozenset({Status.ACTIVE, Status.TRIALING})

END_REASONS = {
    Status.CANCELED: "Subscription canceled",
    Status.PAUSED: "Subscription paused",
    Status.UNPAID: "Subscription unpaid",
    Status.INCOMPLETE: "Subscription not paid yet",
    Status.INCOMPLETE_EXPIRED: "Checkout never completed",
    Status.PAST_DUE: "Payment overdue past the grace period",
}


class BillingConflictError(Exception):
    """Stripe says something that contradicts what the portal recorded."""


def timestamp(value: Any) -> datetime | None:
    if value in (None, "", 0):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def billing_lock(*, org) -> BillingAccount:
    """Take the organization's billing lock for the current transaction.

    Every billing write for one organization runs under it, so two workers
    never interleave one customer's changes (SQLite serialises writes anyway).
    """
    BillingAccount.objects.get_or_create(org=org)
    return BillingAccount.objects.select_for_update().get(org=org)


def customer_link(*, account: BillingAccount, customer_id: str) -> bool:
    """Record the org's Stripe customer; refuse a second, different one."""
    if not customer_id:
        return False
    if account.stripe_customer_id == customer_id:
        return False
    if account.stripe_customer_id:
        raise BillingConflictError(
            f"{account.org} is Stripe customer {account.stripe_customer_id}, "
            f"not {customer_id}."
        )
    other = BillingAccount.objects.filter(stripe_customer_id=customer_id).first()
    if other is not None:
        raise BillingConflictError(
            f"Stripe customer {customer_id} belongs to {other.org}, not {account.org}."
        )
    account.stripe_customer_id = customer_id
    account.save(update_fields=["stripe_customer_id"])
    audit_record(
        action=Action.BILLING_CUSTOMER_LINKED,
        actor=None,
        org=account.org,
        target=account,
        details={"customer": customer_id},
    )
    return True


def _id(value: Any) -> str:
    """Stripe fields hold an id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _items(obj: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (obj.get("items") or {}).get("data") or []
    price_ids = [_id(row.get("price")) for row in rows]
    plans = dict(
        Price.objects.filter(stripe_price_id__in=[p for p in price_ids if p])
        .select_related("plan")
        .values_list("stripe_price_id", "plan__key")
    )
    return [
        {
            "id": row.get("id", ""),
            "price": price_id,
            "plan": plans.get(price_id),
            "quantity": row.get("quantity") or 1,
            "current_period_start": row.get("current_period_start"),
            "current_period_end": row.get("current_period_end"),
        }
        for row, price_id in zip(rows, price_ids, strict=True)
    ]


def _period(obj: dict[str, Any], items: list[dict[str, Any]]) -> tuple[Any, Any]:
    # Since API 2025-03-31 the period lives on each item; before, on the
    # subscription. The earliest end is when the customer next pays.
    starts = [i["current_period_start"] for i in items if i["current_period_start"]]
    ends = [i["current_period_end"] for i in items if i["current_period_end"]]
    start = min(starts) if starts else obj.get("current_period_start")
    end = min(ends) if ends else obj.get("current_period_end")
    return timestamp(start), timestamp(end)


def _reference(subscription_id: str, item: dict[str, Any]) -> str:
    return f"{subscription_id}/{item['id']}/{item['price']}"


def _open_rows(org, subscription_id: str, at: datetime) -> dict[str, list[Entitlement]]:
    rows: dict[str, list[Entitlement]] = {}
    open_rows = (
        Entitlement.objects.for_org(org)
        .filter(
            source=Entitlement.Source.SUBSCRIPTION,
            reference__startswith=f"{subscription_id}/",
        )
        .exclude(ends_at__lte=at)
        .select_related("feature", "org")
    )
    for row in open_rows:
        rows.setdefault(row.reference, []).append(row)
    return rows


def _end_rows(rows: Iterable[Entitlement], *, at: datetime, reason: str) -> int:
    count = 0
    org = None
    for row in rows:
        # A row granted in this same instant still ends after it started.
        end = max(at, row.starts_at + timedelta(microseconds=1))
        entitlement_end(
            entitlement=row, at=end, actor=None, reason=reason, recheck=False
        )
        org = row.org
        count += 1
    if org is not None:
        # Once for the whole set, not once per feature.
        mirrors_recheck(org=org)
    return count


def grace_ends(subscription: Subscription) -> datetime | None:
    if subscription.past_due_since is None:
        return None
    return subscription.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)


def is_entitling(subscription: Subscription, at: datetime) -> bool:
    if subscription.status in ENTITLED:
        return True
    ends = grace_ends(subscription)
    return subscription.status == Status.PAST_DUE and ends is not None and at < ends


@transaction.atomic
def subscription_sync(
    *, org, obj: dict[str, Any], now: datetime | None = None
) -> list[str]:
    """Store the subscription as Stripe has it now and make the org's
    subscription entitlements match it. Returns what changed, in words."""
    now = now or timezone.now()
    subscription_id = obj["id"]
    status = obj.get("status")
    if status not in Status.values:
        raise BillingConflictError(f"Unknown subscription status {status!r}.")
    items = _items(obj)
    fields = _subscription_fields(obj, items=items, status=status, now=now)
    changes: list[str] = []
    subscription, before = _subscription_store(
        org=org, subscription_id=subscription_id, fields=fields, changes=changes
    )
    after = {"status": status, "plans": subscription.plan_keys}
    if before != after and before["status"] is not None:
        changes.append(
            f"{subscription_id}: {before['status']} {before['plans']} -> "
            f"{status} {after['plans']}"
        )
    _grace_follow(subscription, org=org, now=now, changes=changes)
    entitled = is_entitling(subscription, now)
    ended, granted = _entitlements_match(
        subscription, org=org, items=items, entitled=entitled, now=now, changes=changes
    )
    _suspension_follow(
        subscription,
        org=org,
        entitled=entitled,
        ended=ended,
        granted=granted,
        now=now,
        changes=changes,
    )
    subscription.save()
    if before != after:
        period_end = fields["current_period_end"]
        audit_record(
            action=Action.SUBSCRIPTION_CHANGED,
            actor=None,
            org=org,
            target=subscription,
            details={
                "subscription": subscription_id,
                "from": before,
                "to": after,
                "current_period_end": period_end.isoformat() if period_end else None,
            },
        )
    return changes


def _subscription_fields(
    obj: dict[str, Any], *, items: list[dict[str, Any]], status: str, now: datetime
) -> dict[str, Any]:
    """The Subscription row's fields as Stripe's object states them."""
    period_start, period_end = _period(obj, items)
    return {
        "stripe_customer_id": _id(obj.get("customer")),
        "status": status,
        "items": items,
        "current_period_start": period_start,
        "current_period_end": period_end,
        "cancel_at_period_end": bool(obj.get("cancel_at_period_end")),
        "cancel_at": timestamp(obj.get("cancel_at")),
        "canceled_at": timestamp(obj.get("canceled_at")),
        "ended_at": timestamp(obj.get("ended_at")),
        "stripe_created": timestamp(obj.get("created")),
        "synced_at": now,
    }


def _subscription_store(
    *, org, subscription_id: str, fields: dict[str, Any], changes: list[str]
) -> tuple[Subscription, dict[str, Any]]:
    """Create the row, or lock it and set its fields (saved by the caller);
    with the status and plans it had before."""
    subscription = (
        Subscription.objects.select_for_update()
        .filter(stripe_subscription_id=subscription_id)
        .first()
    )
    if subscription is None:
        subscription = Subscription.objects.create(
            org=org, stripe_subscription_id=subscription_id, **fields
        )
        changes.append(f"{subscription_id} recorded ({fields['status']})")
        return subscription, {"status": None, "plans": []}
    if subscription.org_id != org.pk:
        raise BillingConflictError(
            f"{subscription_id} belongs to another organization."
        )
    before = {"status": subscription.status, "plans": subscription.plan_keys}
    for name, value in fields.items():
        setattr(subscription, name, value)
    return subscription, before


def _grace_follow(
    subscription: Subscription, *, org, now: datetime, changes: list[str]
) -> None:
    """The first time we see past_due starts the grace period; leaving
    past_due ends it."""
    subscription_id = subscription.stripe_subscription_id
    if subscription.status == Status.PAST_DUE and subscription.past_due_since is None:
        subscription.past_due_since = now
        audit_record(
            action=Action.BILLING_GRACE_STARTED,
            actor=None,
            org=org,
            target=subscription,
            details={
                "subscription": subscription_id,
                "grace_ends": (
                    now + timedelta(days=settings.BILLING_GRACE_DAYS)
                ).isoformat(),
            },
        )
        changes.append(f"{subscription_id}: payment overdue, grace period started")
    elif subscription.status != Status.PAST_DUE:
        subscription.past_due_since = None


def _entitlements_match(
    subscription: Subscription,
    *,
    org,
    items: list[dict[str, Any]],
    entitled: bool,
    now: datetime,
    changes: list[str],
) -> tuple[int, int]:
    """End the subscription's entitlement rows it no longer grants and grant
    the plans it newly does; how many rows ended and were granted."""
    subscription_id = subscription.stripe_subscription_id
    desired = {
        _reference(subscription_id, item): item
        for item in items
        if entitled and item["plan"]
    }
    current = _open_rows(org, subscription_id, now)
    reason = (
        "Plan changed"
        if entitled
        else END_REASONS.get(Status(subscription.status), "Plan changed")
    )
    ended = 0
    for reference, rows in current.items():
        if reference not in desired:
            ended += _end_rows(rows, at=now, reason=f"{reason} ({subscription_id})")
    granted = 0
    if desired.keys() - current.keys():
        plans = {p.key: p for p in Plan.objects.filter(key__in=subscription.plan_keys)}
        for reference, item in desired.items():
            if reference not in current:
                granted += len(
                    entitlements_grant_plan(
                        org=org,
                        grants=plans[item["plan"]].grant_pairs(),
                        starts_at=now,
                        ends_at=None,
                        reference=reference,
                    )
                )
    if ended:
        changes.append(f"{subscription_id}: {ended} entitlement(s) ended ({reason})")
    if granted:
        changes.append(f"{subscription_id}: {granted} entitlement(s) granted")
    return ended, granted


def _suspension_follow(
    subscription: Subscription,
    *,
    org,
    entitled: bool,
    ended: int,
    granted: int,
    now: datetime,
    changes: list[str],
) -> None:
    """Suspended when grace ran out unpaid; restored once it entitles again."""
    subscription_id = subscription.stripe_subscription_id
    if (
        not entitled
        and subscription.status == Status.PAST_DUE
        and subscription.suspended_at is None
    ):
        subscription.suspended_at = now
        audit_record(
            action=Action.BILLING_SUSPENDED,
            actor=None,
            org=org,
            target=subscription,
            details={"subscription": subscription_id, "entitlements_ended": ended},
        )
        changes.append(f"{subscription_id}: suspended for non-payment")
    elif entitled and subscription.suspended_at is not None:
        subscription.suspended_at = None
        audit_record(
            action=Action.BILLING_RESTORED,
            actor=None,
            org=org,
            target=subscription,
            details={"subscription": subscription_id, "entitlements_granted": granted},
        )
        changes.append(f"{subscription_id}: restored after payment")


def unmapped_prices(obj: dict[str, Any]) -> list[str]:
    """Prices on a subscription that no plan row maps: they entitle nothing."""
    return [item["price"] for item in _items(obj) if not item["plan"]]


def invoice_subscription_id(obj: dict[str, Any]) -> str:
    # Since API 2025-03-31 the link is under parent.subscription_details.
    parent = obj.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(obj.get("subscription"))


@transaction.atomic
def invoice_store(*, org, obj: dict[str, Any], now: datetime | None = None) -> bool:
    """Store the invoice as Stripe has it now; True when it changed."""
    invoice_id = obj["id"]
    fields = {
        "org": org,
        "stripe_subscription_id": invoice_subscription_id(obj),
        "number": obj.get("number") or "",
        "status": obj.get("status") or "",
        "currency": obj.get("currency") or "usd",
        "amount_due": int(obj.get("amount_due") or 0),
        "amount_paid": int(obj.get("amount_paid") or 0),
        "amount_remaining": int(obj.get("amount_remaining") or 0),
        "attempt_count": int(obj.get("attempt_count") or 0),
        "period_start": timestamp(obj.get("period_start")),
        "period_end": timestamp(obj.get("period_end")),
        "stripe_created": timestamp(obj.get("created")) or (now or timezone.now()),
        "hosted_invoice_url": obj.get("hosted_invoice_url") or "",
        "invoice_pdf": obj.get("invoice_pdf") or "",
    }
    existing = Invoice.objects.filter(stripe_invoice_id=invoice_id).first()
    if existing is not None and existing.org_id != org.pk:
        raise BillingConflictError(f"{invoice_id} belongs to another organization.")
    changed = existing is None or any(
        getattr(existing, name) != value for name, value in fields.items()
    )
    Invoice.objects.update_or_create(
        stripe_invoice_id=invoice_id,
        defaults={**fields, "synced_at": now or timezone.now()},
    )
    return changed
