"""Stripe's API is reached through the outbound policy, like every request the
portal makes (apps/core/outbound.py)."""

from __future__ import annotations

import pytest
import stripe

from apps.billing.services import stripe_api
from tests.core.outbound_support import production_rules

pytestmark = pytest.mark.django_db


def test_the_stripe_client_sends_through_the_policy(fake_stripe, settings):
    customer = fake_stripe.customer_create({"email": "billing@acme.example"})
    assert stripe_api.subscription_list(customer["id"]) == []
    assert fake_stripe.requests[-1][:2] == ("GET", "/v1/subscriptions")

    # The same fake under production rules is a loopback address: refused
    # before a connection is made.
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True
    before = len(fake_stripe.requests)
    with pytest.raises(stripe.APIConnectionError, match="private or local address"):
        stripe_api.subscription_list(customer["id"])
    assert len(fake_stripe.requests) == before
