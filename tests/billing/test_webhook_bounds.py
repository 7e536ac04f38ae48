"""The Stripe webhook reads a validly signed body through the bounded JSON
decoder: too deep, a number too long or a NUL is a 400 with the reason and
nothing stored; an organization id in non-ASCII digits names no one."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from apps.billing.models import StripeEvent
from apps.billing.services.events import _org_for

from .conftest import WEBHOOK_URL
from .fake_stripe import sign


def _post(body: bytes):
    client = Client(raise_request_exception=False)
    return client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
    )


def _event(fake_stripe, **fields) -> dict:
    return {**fake_stripe.event("plan.created", {"id": "plan_x"}), **fields}


@pytest.mark.parametrize(
    ("make", "says"),
    [
        pytest.param(
            lambda event: b"[" * 100_000 + b"]" * 100_000,
            "nested too deeply",
            id="100000-nested-arrays",
        ),
        pytest.param(
            lambda event: (
                json.dumps(event).encode()[:-1] + b', "n": ' + b"1" * 100_000 + b"}"
            ),
            "characters long",
            id="100000-digit-number",
        ),
        pytest.param(
            lambda event: json.dumps({**event, "type": "plan.\u0000"}).encode(),
            "NUL character",
            id="nul-in-a-string",
        ),
    ],
)
def test_a_signed_body_past_the_bounds_is_400_and_nothing_is_stored(
    fake_stripe, make, says
):
    response = _post(make(_event(fake_stripe)))
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_a_signed_event_within_the_bounds_is_stored(fake_stripe):
    response = _post(json.dumps(_event(fake_stripe)).encode())
    assert response.status_code == 200
    assert StripeEvent.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["\u00b2", "\u0661", "1\u00b2"])
def test_an_org_id_in_non_ascii_digits_names_no_organization(raw):
    assert _org_for({"client_reference_id": raw, "metadata": {"org_id": raw}}) is None
