"""The billing page, Checkout and Billing Portal doors, the staff event list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.billing.models import BillingAccount, Invoice, StripeEvent, Subscription
from apps.orgs.models import Role
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

from .conftest import deliver_all
from .test_stripe_webhook import checkout, subscribe

Action = AuditEvent.Action


@pytest.fixture
def community(db):
    return OrganizationFactory(features=())


def login(client, org, role=Role.OWNER):
    user = MembershipFactory(org=org, role=role).user
    client.force_login(user)
    return user


def page(client, org):
    return client.get(f"/o/{org.slug}/billing/")


def post_checkout(client, org, price_value):
    return client.post(f"/o/{org.slug}/billing/checkout/", {"price": price_value})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.wsgi_request._messages]


# -- without Stripe ----------------------------------------------------------------


def test_without_stripe_keys_the_page_says_so_and_offers_nothing(client, community):
    login(client, community)
    response = page(client, community)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Stripe is not configured" in body
    assert "Subscribe" not in body
    assert "Community" in body


def test_without_stripe_keys_checkout_refuses_clearly(client, community, settings):
    settings.STRIPE_SECRET_KEY = ""
    login(client, community)
    from apps.billing.models import Price

    price = Price.objects.filter(active=True).first()
    price.stripe_price_id = "price_x"
    price.save()
    response = post_checkout(client, community, price.pk)
    assert response.status_code == 302
    assert "not configured" in " ".join(messages_of(response))
    assert not BillingAccount.objects.exists()


# -- checkout ----------------------------------------------------------------------


def test_checkout_sends_the_customer_to_stripe_with_the_org_on_the_session(
    client, fake_stripe, stripe_prices, community
):
    session_id = checkout(client, community, stripe_prices["select_year"], fake_stripe)
    session = fake_stripe.sessions[session_id]
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == str(community.pk)
    assert session["_line_items"] == [{"price": "price_select_year", "quantity": "1"}]
    assert session["_subscription_data"] == {"metadata": {"org_id": str(community.pk)}}
    assert session["success_url"].endswith(
        f"/o/{community.slug}/billing/?checkout=done"
    )
    account = BillingAccount.objects.get(org=community)
    assert account.stripe_customer_id in fake_stripe.customers
    started = AuditEvent.objects.get(action=Action.BILLING_CHECKOUT_STARTED)
    assert started.details["plan"] == "select"
    assert started.details["session"] == session_id


def test_a_second_checkout_reuses_the_customer(
    client, fake_stripe, stripe_prices, community
):
    checkout(client, community, stripe_prices["select_year"], fake_stripe)
    checkout(client, community, stripe_prices["select_month"], fake_stripe)
    assert len(fake_stripe.customers) == 1
    creates = [r for r in fake_stripe.requests if r[1] == "/v1/customers"]
    assert len(creates) == 1


@pytest.mark.parametrize("value", ["", "abc", "-1", "999999", "1; DROP TABLE"], ids=str)
def test_checkout_with_a_bad_price_says_so_and_calls_nobody(
    client, fake_stripe, stripe_prices, community, value
):
    login(client, community)
    response = post_checkout(client, community, value)
    assert response.status_code == 302
    assert response["Location"] == f"/o/{community.slug}/billing/"
    assert messages_of(response) == ["Choose a plan to buy."]
    assert fake_stripe.requests == []


def test_a_price_not_mapped_to_stripe_cannot_be_bought(
    client, fake_stripe, stripe_prices, community
):
    price = stripe_prices["select_month"]
    price.stripe_price_id = ""
    price.save()
    login(client, community)
    response = post_checkout(client, community, price.pk)
    assert "cannot be bought online" in " ".join(messages_of(response))
    assert fake_stripe.requests == []


def test_a_second_plan_goes_through_the_portal_but_an_addon_is_sold(
    client, fake_stripe, stripe_prices, community
):
    subscribe(client, community, stripe_prices["select_month"], fake_stripe)
    response = post_checkout(client, community, stripe_prices["enterprise_month"].pk)
    assert "billing portal" in " ".join(messages_of(response))
    response = post_checkout(client, community, stripe_prices["select_year"].pk)
    assert "already subscribe to Select" in " ".join(messages_of(response))
    response = post_checkout(client, community, stripe_prices["els_month"].pk)
    assert response.status_code == 303


def test_when_stripe_fails_checkout_says_try_again_and_logs_no_start(
    client, fake_stripe, stripe_prices, community
):
    login(client, community)
    fake_stripe.fail_requests = 1000
    response = post_checkout(client, community, stripe_prices["select_month"].pk)
    assert response.status_code == 302
    assert "Try again" in " ".join(messages_of(response))
    assert not AuditEvent.objects.filter(action=Action.BILLING_CHECKOUT_STARTED)


@pytest.mark.parametrize("role", [Role.MEMBER])
def test_members_without_billing_rights_can_neither_see_nor_pay(
    client, fake_stripe, stripe_prices, community, role
):
    login(client, community, role)
    assert page(client, community).status_code == 403
    assert (
        post_checkout(client, community, stripe_prices["select_month"].pk).status_code
        == 403
    )
    assert client.post(f"/o/{community.slug}/billing/portal/").status_code == 403
    assert fake_stripe.requests == []


def test_the_billing_role_can_pay(client, fake_stripe, stripe_prices, community):
    login(client, community, Role.BILLING)
    response = post_checkout(client, community, stripe_prices["select_month"].pk)
    assert response.status_code == 303


# -- billing portal ----------------------------------------------------------------


def test_the_portal_needs_a_customer_first(client, fake_stripe, community):
    login(client, community)
    response = client.post(f"/o/{community.slug}/billing/portal/")
    assert response.status_code == 302
    assert "no subscription to manage" in " ".join(messages_of(response))
    assert fake_stripe.requests == []


def test_the_portal_opens_for_the_orgs_customer(
    client, fake_stripe, stripe_prices, community
):
    subscribe(client, community, stripe_prices["select_month"], fake_stripe)
    response = client.post(f"/o/{community.slug}/billing/portal/")
    assert response.status_code == 303
    assert response["Location"].startswith("https://billing.stripe.com/")
    _method, path, body = fake_stripe.requests[-1]
    assert path == "/v1/billing_portal/sessions"
    assert (
        body["customer"] == BillingAccount.objects.get(org=community).stripe_customer_id
    )
    assert body["return_url"].endswith(f"/o/{community.slug}/billing/")
    assert AuditEvent.objects.filter(action=Action.BILLING_PORTAL_OPENED).count() == 1


# -- the page ----------------------------------------------------------------------


def test_the_page_shows_plan_period_payment_status_and_invoices(
    client, fake_stripe, stripe_prices, community
):
    subscription_id = subscribe(
        client, community, stripe_prices["enterprise_month"], fake_stripe
    )
    body = page(client, community).content.decode()
    subscription = Subscription.objects.get(stripe_subscription_id=subscription_id)
    assert "Enterprise" in body
    assert subscription.current_period_end.strftime("%Y-%m-%d") in body
    assert "FAKE-0001" in body
    assert "Paid" in body
    assert "Manage billing" in body
    # An Enterprise customer is offered the add-on only.
    assert "Extended lifecycle support" in body
    assert "Subscribe" in body
    assert ">Select<" not in body

    failed = fake_stripe.payment_fails(subscription_id)
    deliver_all(client, failed)
    body = page(client, community).content.decode()
    assert "A payment failed" in body
    assert "Past due" in body


def test_the_page_after_checkout_says_the_plan_is_on_its_way(
    client, fake_stripe, stripe_prices, community
):
    login(client, community)
    response = client.get(f"/o/{community.slug}/billing/?checkout=done")
    assert "Stripe confirms the payment" in response.content.decode()


def test_the_billing_page_query_count_does_not_grow_with_rows(
    client, community, django_assert_max_num_queries, stripe_prices
):
    login(client, community)
    now = timezone.now()
    for n in range(12):
        Invoice.objects.create(
            org=community,
            stripe_invoice_id=f"in_{n}",
            status="paid",
            currency="usd",
            amount_due=50000,
            stripe_created=now - timedelta(days=30 * n),
        )
    for n in range(3):
        Subscription.objects.create(
            org=community,
            stripe_subscription_id=f"sub_{n}",
            stripe_customer_id="cus_1",
            status="canceled" if n else "active",
            items=[{"id": f"si_{n}", "price": "price_select_month", "plan": "select"}],
        )
    page(client, community)  # the first view of a session writes the session
    with django_assert_max_num_queries(16) as queries:
        assert page(client, community).status_code == 200
    pinned = len(queries.captured_queries)
    Invoice.objects.create(
        org=community,
        stripe_invoice_id="in_more",
        status="open",
        currency="usd",
        stripe_created=now,
    )
    with django_assert_max_num_queries(pinned):
        page(client, community)


# -- staff -------------------------------------------------------------------------


def test_staff_see_events_by_state_and_others_are_refused(client, db):
    now = timezone.now()
    for n, (processed, error) in enumerate(
        [(now, ""), (None, "APIError: down"), (None, "")]
    ):
        StripeEvent.objects.create(
            event_id=f"evt_{n}",
            type="invoice.paid",
            stripe_created=now,
            payload={},
            processed_at=processed,
            last_error=error,
        )
    client.force_login(UserFactory())
    assert client.get("/staff/billing/events/").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    body = client.get("/staff/billing/events/?state=failing").content.decode()
    assert "evt_1" in body
    assert "evt_0" not in body
    assert "evt_2" not in body
    body = client.get("/staff/billing/events/?state=nonsense").content.decode()
    assert all(f"evt_{n}" in body for n in range(3))


def test_the_page_lists_features_held_by_contract(client, db):
    from tests.entitlements.builders import entitle

    org = OrganizationFactory(features=())
    entitle(org, "fips", reference="MSA-2026-17")
    entitle(org, "sla", reference="OLD-1", ends_at=timezone.now() - timedelta(hours=1))
    login(client, org)
    body = page(client, org).content.decode()
    assert "By contract or trial" in body
    assert "MSA-2026-17" in body
    assert "OLD-1" not in body
