import json

import pytest

from apps.billing.models import Price
from tests.entitlements.builders import ensure_tiers

from .fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, sign

WEBHOOK_URL = "/billing/stripe/webhook/"


@pytest.fixture(autouse=True)
def _tiers(db):
    ensure_tiers()


@pytest.fixture
def fake_stripe(settings):
    fake = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = API_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    yield fake
    fake.stop()


@pytest.fixture
def stripe_prices(db, fake_stripe):
    """Every active price mapped to a Stripe price id, by '<plan>_<interval>'."""
    prices = {}
    for price in Price.objects.filter(active=True).select_related("plan"):
        key = f"{price.plan.key}_{price.interval}"
        price.stripe_price_id = f"price_{key}"
        price.save(update_fields=["stripe_price_id"])
        fake_stripe.price_add(
            price.stripe_price_id,
            amount=price.amount,
            interval=price.interval,
            product=f"prod_{price.plan.key}",
        )
        fake_stripe.price_features[price.stripe_price_id] = [
            grant.feature.stripe_lookup_key
            for grant in price.plan.grants.select_related("feature")
        ]
        prices[key] = price
    return prices


def deliver(client, event, *, secret=WEBHOOK_SECRET, timestamp=None):
    payload = json.dumps(event).encode()
    return client.post(
        WEBHOOK_URL,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(payload, secret, timestamp),
    )


def deliver_all(client, events):
    responses = [deliver(client, event) for event in events]
    assert [r.status_code for r in responses] == [200] * len(events), [
        r.content for r in responses
    ]
    return responses
