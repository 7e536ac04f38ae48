"""Stripe webhook throughput: signed events through the real view and a real
Celery worker, on PostgreSQL and Redis, with duplicates.

ORGS organizations each subscribe (Checkout completed on a local fake of
Stripe's API: checkout.session.completed, customer.subscription.created,
invoice.paid). The events, plus DUP_SHARE of them delivered a second time, are
posted in a shuffled order to /billing/stripe/webhook/ through Django's
request handler (signature check, store once, enqueue); a `celery worker`
process (2 processes) does the work, re-reading each subscription from the
fake. Measured in the same run:

- baseline: the same handler answering /healthz, per request;
- receive: webhook posts per second (verify + store + enqueue);
- end to end: events per second from the first post until every stored event
  is processed;
- direct: the same kind of work done in this process without HTTP or broker
  (stripe_event_process on a second set of orgs), for the queue's cost.

Then checks: every unique event stored once and processed, deliveries counted,
and each org holding exactly one set of entitlement rows and audit records
(zero lost, zero doubled). Needs PostgreSQL and Redis:

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
    BENCH_REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/bench_stripe_webhook.py [EVENTS]
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EVENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
DUP_SHARE = 0.10
# Three events per subscription; EVENTS counts every delivery, duplicates too.
ORGS = round(EVENTS * (1 - DUP_SHARE)) // 3
DIRECT_ORGS = max(ORGS // 4, 10)

if "BENCH_DATABASE_URL" not in os.environ:
    raise SystemExit("Set BENCH_DATABASE_URL to a scratch PostgreSQL database.")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
os.environ["CELERY_BROKER_URL"] = REDIS
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="portal-bench-media-"))
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("ALLOWED_HOSTS", "testserver")

from tests.billing.fake_stripe import (  # noqa: E402
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    sign,
)

fake = FakeStripe().start()
os.environ["STRIPE_SECRET_KEY"] = API_KEY
os.environ["STRIPE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
os.environ["STRIPE_API_BASE"] = fake.url
os.environ["STRIPE_MAX_NETWORK_RETRIES"] = "0"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.audit.models import AuditEvent  # noqa: E402
from apps.billing.models import BillingAccount, Price, StripeEvent  # noqa: E402
from apps.billing.services.events import (  # noqa: E402
    stripe_event_process,
    stripe_event_receive,
)
from apps.billing.tiers import tiers_load  # noqa: E402
from apps.entitlements.models import Entitlement  # noqa: E402
from apps.orgs.models import Organization  # noqa: E402
from portal.celery import app as celery_app  # noqa: E402

rng = random.Random(11)


def reset_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    call_command("migrate", verbosity=0)
    tiers_load()


def map_prices() -> list[Price]:
    prices = []
    for price in Price.objects.filter(active=True, plan__is_addon=False):
        price.stripe_price_id = f"price_{price.plan.key}_{price.interval}"
        price.save(update_fields=["stripe_price_id"])
        prices.append(price)
    return prices


def subscribe_at_fake(orgs, prices) -> dict[int, list[dict]]:
    """Each org pays at the fake; returns the events Stripe would send."""
    events = {}
    for org in orgs:
        customer = fake.customer_create({"name": org.name, "metadata": {}})
        BillingAccount.objects.create(org=org, stripe_customer_id=customer["id"])
        price = rng.choice(prices)
        session = fake.session_create(
            {
                "mode": "subscription",
                "customer": customer["id"],
                "client_reference_id": str(org.pk),
                "line_items": [{"price": price.stripe_price_id, "quantity": "1"}],
                "subscription_data": {"metadata": {"org_id": str(org.pk)}},
            }
        )
        events[org.pk] = fake.checkout_complete(session["id"])
    return events


def timed(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - start


def main() -> None:
    reset_database()
    prices = map_prices()
    grants = {
        p.stripe_price_id: p.plan.grants.count() for p in prices
    }  # rows per subscription
    orgs = [
        Organization.objects.create(name=f"Bench {i}", slug=f"bench-{i}")
        for i in range(ORGS + DIRECT_ORGS)
    ]
    queued, direct = orgs[:ORGS], orgs[ORGS:]
    by_org = subscribe_at_fake(queued, prices)
    unique = [event for events in by_org.values() for event in events]
    deliveries = unique + rng.sample(unique, EVENTS - len(unique))
    rng.shuffle(deliveries)
    bodies = [json.dumps(event).encode() for event in deliveries]

    client = Client()
    baseline = timed(lambda: client.get("/healthz"), 500) / 500

    celery_app.connection_for_write().default_channel.queue_purge("default")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--quiet",
            "-A",
            "portal",
            "worker",
            "-Q",
            "default",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
    )
    try:
        time.sleep(3)  # the worker connects before the clock starts
        start = time.perf_counter()
        statuses = []
        for body in bodies:
            response = client.post(
                "/billing/stripe/webhook/",
                data=body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(body),
            )
            statuses.append(response.status_code)
        received = time.perf_counter() - start
        deadline = time.time() + 600
        while StripeEvent.objects.filter(processed_at__isnull=True).exists():
            if time.time() > deadline:
                raise SystemExit("events still unprocessed after 10 minutes")
            time.sleep(0.05)
        end_to_end = time.perf_counter() - start
    finally:
        worker.terminate()
        worker.wait(30)

    # Direct: the same work in this process, no HTTP, no broker.
    direct_events = [
        e for events in subscribe_at_fake(direct, prices).values() for e in events
    ]
    stored = []
    for event in direct_events:
        body = json.dumps(event).encode()
        stored.append(stripe_event_receive(payload=body, signature=sign(body))[0])
    start = time.perf_counter()
    for event in stored:
        stripe_event_process(event_pk=event.pk)
    direct_time = time.perf_counter() - start

    # Correctness: zero lost, zero doubled.
    assert statuses == [200] * len(bodies), set(statuses)
    events = StripeEvent.objects.filter(event_id__in=[e["id"] for e in unique])
    assert events.count() == len(unique), "an event was lost"
    assert sum(events.values_list("deliveries", flat=True)) == len(deliveries)
    assert not events.filter(processed_at__isnull=True).exists()
    doubled = lost = 0
    for org in queued:
        subscription = by_org[org.pk][1]["data"]["object"]
        price_id = subscription["items"]["data"][0]["price"]["id"]
        rows = Entitlement.objects.filter(org=org).count()
        logged = AuditEvent.objects.filter(
            org=org, action=AuditEvent.Action.ENTITLEMENT_GRANTED
        ).count()
        doubled += rows > grants[price_id] or logged > grants[price_id]
        lost += rows < grants[price_id]
    processing_retries = sum(events.values_list("attempts", flat=True)) - len(unique)

    print("webhook benchmark, PostgreSQL + Redis, 2 worker processes")
    print(
        f"  deliveries {len(deliveries)} ({len(unique)} unique events, "
        f"{len(deliveries) - len(unique)} duplicates) for {ORGS} organizations"
    )
    print(
        f"  baseline: /healthz through the same handler "
        f"{baseline * 1000:.2f} ms/request"
    )
    print(
        f"  receive:  {len(bodies) / received:,.0f} posts/s "
        f"({received / len(bodies) * 1000:.2f} ms each, "
        f"{received / len(bodies) / baseline:.1f}x /healthz)"
    )
    print(
        f"  end to end: {len(unique) / end_to_end:,.0f} events/s processed "
        f"({end_to_end:.1f} s for all)"
    )
    print(
        f"  direct (no HTTP, no broker, one process): "
        f"{len(stored) / direct_time:,.0f} events/s"
    )
    print(
        f"  organizations with doubled effects: {doubled}, with lost effects: {lost}; "
        f"processing attempts beyond one per event: {processing_retries}"
    )
    fake.stop()


if __name__ == "__main__":
    main()
