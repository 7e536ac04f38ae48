"""Two FIPS notice runs at once on PostgreSQL: each notice goes out once."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from apps.fips import notices
from apps.notifications.models import Notification
from apps.notifications.services import notices_run, webhook_endpoint_create
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers

from . import builders as b

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]


def test_two_concurrent_runs_send_each_notice_once(monkeypatch, receiver):
    ensure_tiers()
    repo = catalog.repository("python")
    line = catalog.series(repo, "3.12")
    b.attest(
        b.fips_build(line),
        b.module(4282, sunset_in=20),
        b.module(4283, sunset_in=None, status="revoked"),
    )
    orgs = [b.customer(repo, name=f"Customer {i}") for i in range(5)]
    org, owner = orgs[0]
    _, receiver.secret = webhook_endpoint_create(
        org=org, url=receiver.url, events=["fips.alert"], actor=owner
    )
    notices.fips_events_detect()
    # Both runs work out who to tell before either writes: the race the
    # ledger's unique keys must settle.
    barrier = threading.Barrier(2, timeout=20)
    audience = notices.event_audience

    def audience_together(*args, **kwargs):
        found = audience(*args, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(notices, "event_audience", audience_together)
    results, errors = [], []

    def run():
        try:
            results.append(notices_run())
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    # 5 orgs x 2 events by email, and 2 events to the one endpoint.
    assert sorted(r.notices for r in results) == [0, 12]
    assert Notification.objects.filter(kind="fips.alert").count() == 12
    for customer, _ in orgs:
        (digest,) = [m for m in mail.outbox if f"owner@{customer.slug}.example" in m.to]
        assert digest.body.count("- ") >= 2
    assert len(receiver.valid()) == 1
    assert len(receiver.received[0].payload["data"]["events"]) == 2
