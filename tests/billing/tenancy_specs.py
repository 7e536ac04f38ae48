"""Tenancy walker specs for billing (tests/test_tenancy.py)."""

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.billing.models import StripeEvent
from tests.walker import (
    BILLERS,
    Expect,
    OrgRoute,
    Outcome,
    Post,
    SiteRoute,
    public_page,
    url,
)


def _event_retried(o: Outcome) -> None:
    event = StripeEvent.objects.get(pk=o.world.refs["stripe_event_pk"])
    assert event.processed_at is not None
    assert "ignored" in event.outcome
    assert o.new_events(AuditEvent.Action.BILLING_EVENT_RETRIED)


SPECS = [
    OrgRoute("billing:billing", get=BILLERS),
    # Stripe is not configured in the walk (nor is a price chosen): the billers
    # are sent back to the billing page with a message, and nothing is written.
    OrgRoute(
        "billing:checkout",
        post=Post(BILLERS, location=url("billing:billing")),
    ),
    OrgRoute(
        "billing:portal",
        post=Post(BILLERS, location=url("billing:billing")),
    ),
    SiteRoute(
        "staff_billing_events",
        get=lambda p: Expect(200, shows_victim=True) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_billing_event_retry",
        kwargs={"pk": "stripe_event_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        post=lambda p: (
            Expect(
                302, lambda w: reverse("staff_billing_events"), effect=_event_retried
            )
            if p == "staff"
            else Expect(403)
        ),
    ),
    # Without a signing secret (as in the walk) nothing is accepted; the
    # signature and payload checks are tests/billing/test_stripe_webhook.py's.
    SiteRoute(
        "stripe_webhook",
        get=lambda p: Expect(405),
        post=lambda p: Expect(503),
        requires_login=False,
    ),
    public_page("pricing"),
]
