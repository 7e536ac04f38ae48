"""Two runs at once on PostgreSQL: each notice goes out once."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from apps.notifications import services
from apps.notifications.kinds import webhook_event_choices
from apps.notifications.models import Notification
from apps.notifications.services import run as notice_run
from apps.sla.models import SlaClock
from tests.sla.builders import staff

from .builders import LATER, move_to, org_with_clocks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres", "sla_defaults"),
]


def test_two_concurrent_runs_send_each_notice_once(monkeypatch, receiver):
    org = org_with_clocks(40)
    staff(email="desk@publisher.example")
    owner = org.memberships.get(role="owner").user
    _, receiver.secret = services.webhook_endpoint_create(
        org=org,
        url=receiver.url,
        events=[value for value, _ in webhook_event_choices()],
        actor=owner,
    )
    move_to(SlaClock.State.BREACHED)
    # Both runs open their transaction and pick their clocks before either
    # writes: the race the unique keys must settle.
    barrier = threading.Barrier(2, timeout=20)
    claim = notice_run._claim
    first_claim = threading.local()

    def claim_together(*args, **kwargs):
        if not getattr(first_claim, "done", False):
            first_claim.done = True
            barrier.wait()
        return claim(*args, **kwargs)

    monkeypatch.setattr(notice_run, "_claim", claim_together)
    results, errors = [], []

    def run():
        try:
            results.append(services.notices_run(now=LATER))
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
    assert sorted(r.notices for r in results) == [0, 40 * 3]
    assert Notification.objects.count() == 40 * 3
    digests = [m for m in mail.outbox if owner.email in m.to]
    assert len(digests) == 1
    assert digests[0].body.count("BREACHED: ") == 40
    assert len([m for m in mail.outbox if "desk@publisher.example" in m.to]) == 1
    assert len(receiver.received) == 1
    assert len(receiver.received[0].payload["data"]["clocks"]) == 40
