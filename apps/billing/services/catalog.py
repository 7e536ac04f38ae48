"""Map the portal's prices to Stripe Prices, checked against Stripe: a price
id is only stored when Stripe's Price bills the same amount, currency and
interval, so a typo cannot sell Enterprise at Select's price."""

from __future__ import annotations

import re

import stripe
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Price
from . import stripe_api

MAPPING = re.compile(
    r"^(?P<plan>[a-z0-9_-]+):(?P<interval>month|year)=(?P<id>price_\w+)$"
)


def price_mapping_parse(text: str) -> tuple[Price, str]:
    match = MAPPING.match(text.strip())
    if match is None:
        raise ValidationError(
            f"{text!r}: expected PLAN:INTERVAL=price_id, e.g. select:month=price_123."
        )
    price = (
        Price.objects.filter(
            plan__key=match["plan"], interval=match["interval"], active=True
        )
        .select_related("plan")
        .first()
    )
    if price is None:
        raise ValidationError(
            f"{text!r}: no active {match['interval']}ly price for plan "
            f"{match['plan']!r}."
        )
    return price, match["id"]


def _check(price: Price, found: dict) -> list[str]:
    problems = []
    if not found.get("active"):
        problems.append("is not active")
    recurring = found.get("recurring") or {}
    if (
        recurring.get("interval") != price.interval
        or recurring.get("interval_count", 1) != 1
    ):
        problems.append(
            f"bills every {recurring.get('interval_count')} "
            f"{recurring.get('interval')}, not every {price.interval}"
        )
    if found.get("unit_amount") != price.amount:
        problems.append(f"costs {found.get('unit_amount')}, not {price.amount}")
    if (found.get("currency") or "").lower() != price.currency:
        problems.append(f"is in {found.get('currency')}, not {price.currency}")
    return problems


@transaction.atomic
def prices_map_to_stripe(*, mappings: list[str], verify: bool = True) -> list[Price]:
    """Store Stripe Price (and Product) ids on the portal's prices; all or
    nothing."""
    if not mappings:
        raise ValidationError("Give at least one PLAN:INTERVAL=price_id.")
    parsed = [price_mapping_parse(text) for text in mappings]
    seen: dict[str, Price] = {}
    for price, stripe_id in parsed:
        if stripe_id in seen and seen[stripe_id] != price:
            raise ValidationError(f"{stripe_id} is given for two prices.")
        seen[stripe_id] = price
    clash = (
        Price.objects.filter(stripe_price_id__in=seen)
        .exclude(pk__in=[p.pk for p in seen.values()])
        .first()
    )
    if clash is not None:
        raise ValidationError(f"{clash.stripe_price_id} already maps another price.")
    updated = []
    for price, stripe_id in parsed:
        product = ""
        if verify:
            try:
                found = stripe_api.as_dict(
                    stripe_api.stripe_client().v1.prices.retrieve(stripe_id)
                )
            except stripe.InvalidRequestError as exc:
                raise ValidationError(f"Stripe has no price {stripe_id}.") from exc
            problems = _check(price, found)
            if problems:
                raise ValidationError(
                    f"{stripe_id} does not match {price}: it " + "; ".join(problems)
                )
            product = str(found.get("product") or "")
        price.stripe_price_id = stripe_id
        price.save(update_fields=["stripe_price_id"])
        if product and price.plan.stripe_product_id != product:
            price.plan.stripe_product_id = product
            price.plan.save(update_fields=["stripe_product_id"])
        updated.append(price)
    return updated
