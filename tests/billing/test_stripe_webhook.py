"""The Stripe webhook, end to end: real Stripe payload shapes, signed with
Stripe's scheme, posted to the view; the task re-reads objects from a local
fake of Stripe's API (tests/billing/fake_stripe.py)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.billing.models import BillingAccount, StripeEvent, Subscription
from apps.billing.services.events import stripe_event_process
from apps.billing.services.reconcile import billing_grace_sweep, billing_reconcile_all
from apps.billing.tasks import events_retry
from apps.entitlements.models import Entitlement, Mirror
from apps.entitlements.selectors import feature_quantity, has_feature
from apps.entitlements.services import mirror_add
from apps.orgs.models import Membership, Role
from tests.catalog import builders
from tests.factories import MembershipFactory, OrganizationFactory

from .conftest import WEBHOOK_URL, deliver, deliver_all
from .fake_stripe import sign

Action = AuditEvent.Action
ENTERPRISE = {"sla", "fips", "stig", "customizations", "sso", "auditor_seats"}


def live_features(org) -> set[str]:
    return set(
        Entitlement.objects.for_org(org)
        .live(at=timezone.now())
        .values_list("feature__key", flat=True)
    )


def subscription_rows(org):
    return Entitlement.objects.for_org(org).filter(
        source=Entitlement.Source.SUBSCRIPTION
    )


def checkout(client, org, price, fake) -> str:
    """The owner clicks Subscribe; returns the Checkout Session id."""
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    client.force_login(owner)
    response = client.post(f"/o/{org.slug}/billing/checkout/", {"price": price.pk})
    assert response.status_code == 303, response.content
    session_id = response["Location"].rsplit("/", 1)[-1]
    assert session_id in fake.sessions
    return session_id


def subscribe(client, org, price, fake, *, deliver_events=True) -> str:
    events = fake.checkout_complete(checkout(client, org, price, fake))
    if deliver_events:
        deliver_all(client, events)
    return events[1]["data"]["object"]["id"]


@pytest.fixture
def community(db):
    return OrganizationFactory(features=())


# -- the door: signature, shape, storage -------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda p, s: (p, None), id="missing-signature"),
        pytest.param(lambda p, s: (p, sign(p, "whsec_wrong")), id="wrong-secret"),
        pytest.param(lambda p, s: (p + b" ", s), id="body-changed-after-signing"),
        pytest.param(
            lambda p, s: (p, sign(p, timestamp=int(time.time()) - 301)),
            id="older-than-tolerance",
        ),
        pytest.param(lambda p, s: (p, "t=1,v0=abc"), id="garbage-header"),
    ],
)
def test_a_bad_signature_is_refused_and_nothing_is_stored(
    client, fake_stripe, community, mutate
):
    event = fake_stripe.event("customer.subscription.created", {"id": "sub_x"})
    payload = json.dumps(event).encode()
    body, header = mutate(payload, sign(payload))
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header else {}
    response = client.post(
        WEBHOOK_URL, data=body, content_type="application/json", **extra
    )
    assert response.status_code == 400
    assert "error" in response.json()
    assert not StripeEvent.objects.exists()


def test_a_signature_inside_the_tolerance_is_accepted(client, fake_stripe):
    event = fake_stripe.event("plan.created", {"id": "plan_x"})
    response = deliver(client, event, timestamp=int(time.time()) - 290)
    assert response.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"object": "event"}', id="no-id"),
        pytest.param(b'{"id": "evt_1", "object": "charge"}', id="not-an-event"),
        pytest.param(
            b'{"id": "evt_1", "object": "event", "type": "x", "data": {}}',
            id="no-object",
        ),
        pytest.param(b"\xff\xfe", id="not-utf8"),
    ],
)
def test_signed_garbage_is_refused_with_a_clear_error(client, fake_stripe, body):
    response = client.post(
        WEBHOOK_URL,
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign(body),
    )
    assert response.status_code == 400
    assert response.json()["error"]
    assert not StripeEvent.objects.exists()


def test_without_a_signing_secret_the_webhook_says_so(client, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    response = client.post(WEBHOOK_URL, data=b"{}", content_type="application/json")
    assert response.status_code == 503
    assert "not configured" in response.json()["error"]


def test_get_is_not_allowed(client, fake_stripe):
    assert client.get(WEBHOOK_URL).status_code == 405


# -- Community to Enterprise and back -------------------------------------------


def test_community_to_enterprise_and_back_changes_and_logs_every_entitlement(
    client, fake_stripe, stripe_prices, community
):
    org = community
    assert live_features(org) == set()
    subscription_id = subscribe(
        client, org, stripe_prices["enterprise_month"], fake_stripe
    )

    assert live_features(org) == ENTERPRISE
    assert feature_quantity(org=org, feature="customizations") is None
    assert feature_quantity(org=org, feature="auditor_seats") is None
    rows = subscription_rows(org)
    assert rows.count() == 6
    assert {r.reference for r in rows} == {
        f"{subscription_id}/"
        f"{fake_stripe.subscriptions[subscription_id]['items']['data'][0]['id']}/"
        "price_enterprise_month"
    }
    subscription = Subscription.objects.get(stripe_subscription_id=subscription_id)
    assert subscription.status == "active"
    assert subscription.plan_keys == ["enterprise"]
    assert subscription.current_period_end > timezone.now()
    assert BillingAccount.objects.get(org=org).stripe_customer_id
    granted = AuditEvent.objects.filter(org=org, action=Action.ENTITLEMENT_GRANTED)
    assert granted.count() == 6
    assert AuditEvent.objects.filter(
        org=org, action=Action.SUBSCRIPTION_CHANGED
    ).exists()
    assert StripeEvent.objects.filter(processed_at__isnull=True).count() == 0

    # A FIPS mirror while entitled, then the customer cancels.
    repo = builders.repository("nginx")
    builders.build(builders.series(repo, "1.27"), fips=True)
    owner = Membership.objects.get(org=org, role=Role.OWNER).user
    mirror_add(org=org, repository=repo, actor=owner, include_fips=True)
    deliver_all(
        client, fake_stripe.subscription_set_status(subscription_id, "canceled")
    )

    assert live_features(org) == set()
    assert subscription_rows(org).filter(ends_at__isnull=True).count() == 0
    assert {r.end_reason for r in subscription_rows(org)} == {
        f"Subscription canceled ({subscription_id})"
    }
    assert (
        AuditEvent.objects.filter(org=org, action=Action.ENTITLEMENT_ENDED).count() == 6
    )
    mirror = Mirror.objects.get(org=org)
    assert mirror.status == Mirror.Status.ENTITLEMENT_LOST
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).status == (
        "canceled"
    )
    # The history stays: every row still there, each with its end.
    assert subscription_rows(org).count() == 6


def test_upgrading_select_to_enterprise_ends_select_rows_and_grants_enterprise(
    client, fake_stripe, stripe_prices, community
):
    org = community
    subscription_id = subscribe(client, org, stripe_prices["select_month"], fake_stripe)
    assert feature_quantity(org=org, feature="customizations") == 5
    assert feature_quantity(org=org, feature="auditor_seats") == 2

    deliver_all(
        client,
        fake_stripe.subscription_change_price(subscription_id, "price_enterprise_year"),
    )
    assert feature_quantity(org=org, feature="customizations") is None
    assert feature_quantity(org=org, feature="auditor_seats") is None
    ended = subscription_rows(org).exclude(ends_at=None)
    assert {r.reference.rsplit("/", 1)[1] for r in ended} == {"price_select_month"}
    assert {r.end_reason for r in ended} == {f"Plan changed ({subscription_id})"}
    open_rows = subscription_rows(org).filter(ends_at=None)
    assert {r.reference.rsplit("/", 1)[1] for r in open_rows} == {
        "price_enterprise_year"
    }


def test_an_addon_adds_els_beside_the_plan(
    client, fake_stripe, stripe_prices, community
):
    org = community
    subscribe(client, org, stripe_prices["select_month"], fake_stripe)
    subscribe(client, org, stripe_prices["els_month"], fake_stripe)
    assert "els" in live_features(org)
    assert Subscription.objects.for_org(org).count() == 2


# -- duplicates, order, concurrency ------------------------------------------------


def test_a_duplicate_delivery_has_one_effect(
    client, fake_stripe, stripe_prices, community
):
    events = fake_stripe.checkout_complete(
        checkout(client, community, stripe_prices["enterprise_month"], fake_stripe)
    )
    deliver_all(client, events)
    before = (subscription_rows(community).count(), AuditEvent.objects.count())
    responses = deliver_all(client, events + events)
    assert all(r.json()["duplicate"] for r in responses)
    assert (subscription_rows(community).count(), AuditEvent.objects.count()) == before
    assert StripeEvent.objects.count() == 3
    assert set(StripeEvent.objects.values_list("deliveries", flat=True)) == {3}


def test_updated_delivered_before_created_ends_in_the_right_state(
    client, fake_stripe, stripe_prices, community
):
    events = fake_stripe.checkout_complete(
        checkout(client, community, stripe_prices["select_month"], fake_stripe)
    )
    subscription_id = events[1]["data"]["object"]["id"]
    upgrade = fake_stripe.subscription_change_price(
        subscription_id, "price_enterprise_month"
    )
    # Newest first: the upgrade, then the stale created and checkout events.
    deliver_all(client, upgrade + list(reversed(events)))
    open_rows = subscription_rows(community).filter(ends_at=None)
    assert {r.reference.rsplit("/", 1)[1] for r in open_rows} == {
        "price_enterprise_month"
    }
    # The stale copies never granted Select in between.
    assert not subscription_rows(community).filter(reference__endswith="select_month")


def test_deleted_delivered_before_updated_stays_canceled(
    client, fake_stripe, stripe_prices, community
):
    subscription_id = subscribe(
        client, community, stripe_prices["select_month"], fake_stripe
    )
    stale_update = fake_stripe.cancel_at_period_end(subscription_id)
    deleted = fake_stripe.subscription_set_status(subscription_id, "canceled")
    deliver_all(client, deleted + stale_update)
    assert live_features(community) == set()
    assert Subscription.objects.get(stripe_subscription_id=subscription_id).status == (
        "canceled"
    )


def test_subscription_event_before_the_customer_is_linked_finds_the_org_by_metadata(
    client, fake_stripe, stripe_prices, community
):
    events = fake_stripe.checkout_complete(
        checkout(client, community, stripe_prices["select_month"], fake_stripe)
    )
    # As if the customer link were lost: only the metadata can tell the org.
    BillingAccount.objects.filter(org=community).update(stripe_customer_id=None)
    deliver_all(client, [events[1]])
    assert "sla" in live_features(community)
    assert BillingAccount.objects.get(org=community).stripe_customer_id


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_have_one_effect(
    require_postgres, fake_stripe, stripe_prices
):
    org = OrganizationFactory(features=())
    client = Client()
    events = fake_stripe.checkout_complete(
        checkout(client, org, stripe_prices["enterprise_month"], fake_stripe)
    )
    payload = json.dumps(events[0]).encode()
    barrier = threading.Barrier(4)
    statuses = []

    def post():
        barrier.wait()
        try:
            response = Client().post(
                WEBHOOK_URL,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(payload),
            )
            statuses.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    event = StripeEvent.objects.get()
    assert event.deliveries == 4
    assert event.processed_at is not None
    assert subscription_rows(org).count() == 6
    assert (
        AuditEvent.objects.filter(org=org, action=Action.ENTITLEMENT_GRANTED).count()
        == 6
    )


@pytest.mark.django_db(transaction=True)
def test_two_workers_processing_one_stored_event_apply_it_once(
    require_postgres, fake_stripe, stripe_prices, settings
):
    org = OrganizationFactory(features=())
    client = Client()
    events = fake_stripe.checkout_complete(
        checkout(client, org, stripe_prices["enterprise_month"], fake_stripe)
    )
    # Store without processing (as if the broker held the task).
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"
    from apps.billing.services.events import stripe_event_receive

    payload = json.dumps(events[1]).encode()
    event, _ = stripe_event_receive(payload=payload, signature=sign(payload))
    barrier = threading.Barrier(3)
    outcomes = []

    def work():
        barrier.wait()
        try:
            outcomes.append(stripe_event_process(event_pk=event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("already processed") == 2
    assert subscription_rows(org).count() == 6
    assert StripeEvent.objects.get(pk=event.pk).attempts == 1


# -- failures and retries --------------------------------------------------------


def test_a_processing_failure_leaves_the_event_stored_and_it_is_retried(
    client, fake_stripe, stripe_prices, community
):
    events = fake_stripe.checkout_complete(
        checkout(client, community, stripe_prices["select_month"], fake_stripe)
    )
    fake_stripe.fail_requests = 1000  # Stripe's API is down.
    response = deliver(client, events[0])
    assert response.status_code == 200
    event = StripeEvent.objects.get()
    assert event.processed_at is None
    assert event.attempts >= 1
    assert "Fake outage" in event.last_error or "APIError" in event.last_error
    assert live_features(community) == set()

    fake_stripe.fail_requests = 0
    StripeEvent.objects.update(received_at=timezone.now() - timedelta(minutes=10))
    assert events_retry() == 1
    event.refresh_from_db()
    assert event.processed_at is not None
    assert event.last_error == ""
    assert "sla" in live_features(community)


def test_an_event_for_an_unknown_customer_is_recorded_and_ignored(client, fake_stripe):
    event = fake_stripe.event(
        "customer.subscription.updated",
        {"id": "sub_unknown", "customer": "cus_nobody", "metadata": {}},
    )
    assert deliver(client, event).status_code == 200
    stored = StripeEvent.objects.get()
    assert stored.processed_at is not None
    assert "no organization" in stored.outcome


def test_a_subscription_of_another_customer_is_a_conflict_not_a_grant(
    client, fake_stripe, stripe_prices, community
):
    other = OrganizationFactory(features=())
    subscription_id = subscribe(
        client, other, stripe_prices["select_month"], fake_stripe
    )
    # A forged-looking event: signed (so from Stripe) but pointing our org's
    # id at another customer's subscription.
    BillingAccount.objects.create(org=community, stripe_customer_id="cus_ours")
    obj = dict(fake_stripe.subscriptions[subscription_id], customer="cus_ours")
    deliver_all(client, [fake_stripe.event("customer.subscription.updated", obj)])
    stored = StripeEvent.objects.order_by("-id").first()
    assert "conflict" in stored.outcome
    assert live_features(community) == set()


# -- past_due, grace, suspension, restoration --------------------------------------


def test_past_due_keeps_features_for_the_grace_then_suspends_and_payment_restores(
    client, fake_stripe, stripe_prices, community, settings
):
    settings.BILLING_GRACE_DAYS = 7
    org = community
    subscription_id = subscribe(client, org, stripe_prices["select_month"], fake_stripe)
    failed = fake_stripe.payment_fails(subscription_id)
    deliver_all(client, failed)
    subscription = Subscription.objects.get(stripe_subscription_id=subscription_id)
    assert subscription.status == "past_due"
    assert subscription.past_due_since is not None
    assert "sla" in live_features(org)
    assert (
        AuditEvent.objects.filter(org=org, action=Action.BILLING_GRACE_STARTED).count()
        == 1
    )

    # Six days on: still within grace.
    since = Subscription.objects.filter(stripe_subscription_id=subscription_id)
    since.update(past_due_since=timezone.now() - timedelta(days=6))
    assert billing_grace_sweep() == 0
    assert "sla" in live_features(org)

    # Past seven days: suspended.
    since.update(past_due_since=timezone.now() - timedelta(days=7, minutes=1))
    assert billing_grace_sweep() == 1
    subscription.refresh_from_db()
    assert subscription.suspended_at is not None
    rows = subscription_rows(org)
    assert not rows.filter(ends_at=None).exists()
    assert {r.end_reason for r in rows} == {
        f"Payment overdue past the grace period ({subscription_id})"
    }
    assert (
        AuditEvent.objects.filter(org=org, action=Action.BILLING_SUSPENDED).count() == 1
    )
    assert not has_feature(org=org, feature="sla")

    # The customer pays: restored with new rows, the gap stays on record.
    invoice_id = failed[0]["data"]["object"]["id"]
    deliver_all(client, fake_stripe.invoice_pays(invoice_id))
    subscription.refresh_from_db()
    assert subscription.status == "active"
    assert subscription.suspended_at is None
    assert subscription.past_due_since is None
    assert "sla" in live_features(org)
    assert (
        AuditEvent.objects.filter(org=org, action=Action.BILLING_RESTORED).count() == 1
    )
    assert subscription_rows(org).count() == 12


def test_payment_within_grace_keeps_the_same_rows(
    client, fake_stripe, stripe_prices, community
):
    subscription_id = subscribe(
        client, community, stripe_prices["select_month"], fake_stripe
    )
    failed = fake_stripe.payment_fails(subscription_id)
    deliver_all(client, failed)
    deliver_all(client, fake_stripe.invoice_pays(failed[0]["data"]["object"]["id"]))
    assert subscription_rows(community).count() == 6
    assert not subscription_rows(community).exclude(ends_at=None).exists()
    assert not AuditEvent.objects.filter(action=Action.BILLING_SUSPENDED).exists()


def test_grace_ends_even_when_stripe_cannot_be_reached(
    client, fake_stripe, stripe_prices, community
):
    subscription_id = subscribe(
        client, community, stripe_prices["select_month"], fake_stripe
    )
    deliver_all(client, fake_stripe.payment_fails(subscription_id))
    fake_stripe.fail_requests = 1000
    Subscription.objects.update(past_due_since=timezone.now() - timedelta(days=8))
    assert billing_grace_sweep() == 1
    assert not subscription_rows(community).filter(ends_at=None).exists()


def test_pause_ends_and_resume_restores(client, fake_stripe, stripe_prices, community):
    subscription_id = subscribe(
        client, community, stripe_prices["select_month"], fake_stripe
    )
    deliver_all(client, fake_stripe.subscription_set_status(subscription_id, "paused"))
    assert live_features(community) == set()
    deliver_all(client, fake_stripe.subscription_set_status(subscription_id, "active"))
    assert "sla" in live_features(community)
    types = set(StripeEvent.objects.values_list("type", flat=True))
    assert {"customer.subscription.paused", "customer.subscription.resumed"} <= types


# -- Stripe Entitlements and reconciliation -------------------------------------------


def test_the_entitlement_summary_is_compared_with_the_portals_grants(
    client, fake_stripe, stripe_prices, community
):
    subscribe(client, community, stripe_prices["select_month"], fake_stripe)
    customer = BillingAccount.objects.get(org=community).stripe_customer_id
    deliver_all(client, [fake_stripe.entitlement_summary(customer)])
    agreed = StripeEvent.objects.get(type__startswith="entitlements.")
    assert "Stripe lists" not in agreed.outcome

    fake_stripe.price_features["price_select_month"] = ["sla"]
    deliver_all(client, [fake_stripe.entitlement_summary(customer)])
    disagreed = StripeEvent.objects.filter(type__startswith="entitlements.").latest(
        "id"
    )
    assert "Stripe lists features ['sla']" in disagreed.outcome


def test_reconciliation_repairs_lost_webhooks_and_logs_each_repair(
    client, fake_stripe, stripe_prices, community
):
    subscribe(
        client,
        community,
        stripe_prices["enterprise_month"],
        fake_stripe,
        deliver_events=False,
    )
    assert live_features(community) == set()
    counts = billing_reconcile_all()
    assert counts == {"orgs": 1, "repaired": 1, "failed": 0}
    assert live_features(community) == ENTERPRISE
    repair = AuditEvent.objects.get(org=community, action=Action.BILLING_DRIFT_REPAIRED)
    assert any("granted" in line for line in repair.details["repairs"])
    assert any("invoice" in line for line in repair.details["repairs"])

    # Nothing drifted since: no second repair record.
    assert billing_reconcile_all() == {"orgs": 1, "repaired": 0, "failed": 0}
    assert (
        AuditEvent.objects.filter(
            org=community, action=Action.BILLING_DRIFT_REPAIRED
        ).count()
        == 1
    )


def test_reconciliation_ends_a_subscription_canceled_while_webhooks_were_lost(
    client, fake_stripe, stripe_prices, community
):
    subscription_id = subscribe(
        client, community, stripe_prices["select_month"], fake_stripe
    )
    fake_stripe.subscription_set_status(subscription_id, "canceled")  # never delivered
    assert "sla" in live_features(community)
    billing_reconcile_all()
    assert live_features(community) == set()


def test_reconciliation_of_one_failing_org_does_not_stop_the_others(
    client, fake_stripe, stripe_prices, community
):
    subscribe(client, community, stripe_prices["select_month"], fake_stripe)
    fake_stripe.fail_requests = 1000
    assert billing_reconcile_all()["failed"] == 1
