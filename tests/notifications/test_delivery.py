"""Signed deliveries: retried with backoff, timed out, never redirected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.notifications import services
from apps.notifications.kinds import webhook_event_choices
from apps.notifications.models import Delivery
from apps.notifications.services import (
    MAX_ATTEMPTS,
    webhook_delivery_attempt,
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_sign,
)
from apps.notifications.tasks import webhook_deliver
from tests.core.outbound_support import production_rules
from tests.factories import OrganizationFactory, UserFactory

from .receiver import expected_signature

pytestmark = pytest.mark.django_db


def test_signature_matches_the_standard_webhooks_test_vector():
    # The vector of the Standard Webhooks reference libraries.
    assert (
        webhook_sign(
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body=b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_signature_agrees_with_an_independent_hmac():
    secret = services.webhook_secret_new()
    header = webhook_sign(secret=secret, message_id="msg_1", timestamp=42, body=b"{}")
    assert header == "v1," + expected_signature(secret, "msg_1", "42", b"{}")


@pytest.fixture
def delivery(receiver):
    org = OrganizationFactory()
    endpoint, receiver.secret = webhook_endpoint_create(
        org=org,
        url=receiver.url,
        events=[value for value, _ in webhook_event_choices()],
        actor=UserFactory(),
    )
    return Delivery.objects.create(
        org=org,
        endpoint=endpoint,
        message_id="msg_test",
        event_type="sla.notices",
        payload={"type": "sla.notices", "data": {"clocks": [{"clock": 1}]}},
        next_attempt_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _attempt_when_due(d: Delivery) -> Delivery:
    delivery, _ = webhook_delivery_attempt(delivery_id=d.pk, now=d.next_attempt_at)
    return delivery


def test_a_500_is_retried_with_growing_waits_until_it_succeeds(delivery, receiver):
    receiver.plan = [500, 503]
    first = _attempt_when_due(delivery)
    assert first.status == Delivery.Status.PENDING
    assert first.response_code == 500
    second = _attempt_when_due(first)
    third = _attempt_when_due(second)
    assert third.status == Delivery.Status.DELIVERED
    assert third.attempts == 3
    assert third.response_code == 200
    waits = [
        datetime.fromisoformat(e["next"]) - datetime.fromisoformat(e["at"])
        for e in third.attempt_log[:2]
    ]
    assert waits == [timedelta(seconds=30), timedelta(seconds=150)]
    # Every attempt is the same message, signed afresh, and verified.
    assert [r.msg_id for r in receiver.received] == ["msg_test"] * 3
    assert all(r.valid for r in receiver.received)


def test_an_attempt_before_it_is_due_sends_nothing(delivery, receiver):
    receiver.plan = [500]
    failed = _attempt_when_due(delivery)
    early, attempted = webhook_delivery_attempt(
        delivery_id=failed.pk, now=failed.next_attempt_at - timedelta(seconds=1)
    )
    assert not attempted
    assert early.attempts == 1
    assert len(receiver.received) == 1


def test_the_fifth_failure_is_final(delivery, receiver):
    receiver.plan = [500] * MAX_ATTEMPTS
    d = delivery
    for _ in range(MAX_ATTEMPTS):
        d = _attempt_when_due(d)
    assert d.status == Delivery.Status.FAILED
    assert d.next_attempt_at is None
    assert len(d.attempt_log) == MAX_ATTEMPTS
    assert webhook_delivery_attempt(delivery_id=d.pk)[0].attempts == MAX_ATTEMPTS
    assert len(receiver.received) == MAX_ATTEMPTS


def test_no_answer_in_time_is_a_failed_attempt(delivery, receiver, monkeypatch):
    monkeypatch.setattr(services.delivery, "READ_TIMEOUT", 0.3)
    receiver.plan = [("sleep", 1.5)]
    d = _attempt_when_due(delivery)
    assert d.status == Delivery.Status.PENDING
    assert d.attempts == 1
    assert d.response_code is None
    assert "No answer within 0.3 s" in d.last_error
    assert d.next_attempt_at == delivery.next_attempt_at + timedelta(seconds=30)


def test_a_redirect_is_not_followed(delivery, receiver):
    receiver.plan = [("redirect", "/elsewhere")]
    d = _attempt_when_due(delivery)
    assert d.status == Delivery.Status.PENDING
    assert d.response_code == 302
    assert "/elsewhere not followed" in d.last_error
    assert [r.path for r in receiver.received] == ["/hooks/sla"]


def test_an_unreachable_endpoint_is_a_failed_attempt(delivery):
    delivery.endpoint.url = "http://127.0.0.1:9/closed"
    delivery.endpoint.save()
    d = _attempt_when_due(delivery)
    assert d.attempts == 1
    assert d.status == Delivery.Status.PENDING
    assert "ConnectionError" in d.last_error


def test_disabling_an_endpoint_fails_its_pending_deliveries(delivery, receiver):
    webhook_endpoint_disable(endpoint=delivery.endpoint, actor=UserFactory())
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert _attempt_when_due(delivery).attempts == 0
    assert receiver.received == []


def test_the_task_delivers_once_even_when_sent_twice(delivery, receiver):
    assert webhook_deliver.delay(delivery.pk).get() == Delivery.Status.DELIVERED
    assert webhook_deliver.delay(delivery.pk).get() == Delivery.Status.DELIVERED
    assert len(receiver.received) == 1


def test_the_periodic_run_retries_deliveries_that_are_due(delivery, receiver):
    from apps.notifications.tasks import run

    receiver.plan = [500]
    failed = _attempt_when_due(delivery)
    Delivery.objects.filter(pk=failed.pk).update(
        next_attempt_at=failed.next_attempt_at - timedelta(days=365)
    )
    result = run.delay().get()
    assert result["notices"] == 0
    failed.refresh_from_db()
    assert failed.status == Delivery.Status.DELIVERED
    assert failed.attempts == 2


def test_a_failed_task_leaves_the_retry_to_its_schedule(delivery, receiver):
    receiver.plan = [500, 500]
    assert webhook_deliver.delay(delivery.pk).get() == Delivery.Status.PENDING
    # A second task before the retry is due sends nothing and schedules nothing.
    assert webhook_deliver.delay(delivery.pk).get() == Delivery.Status.PENDING
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert len(receiver.received) == 1
    assert delivery.next_attempt_at > timezone.now()


def test_a_worker_schedules_the_retry_after_the_backoff(
    delivery, receiver, monkeypatch
):
    scheduled = []
    monkeypatch.setattr(
        webhook_deliver,
        "apply_async",
        lambda args, countdown: scheduled.append((args, countdown)),
    )
    receiver.plan = [500]
    # Called as a worker calls it, not inline.
    assert webhook_deliver.run(delivery.pk) == Delivery.Status.PENDING
    ((args, countdown),) = scheduled
    assert args == (delivery.pk,)
    assert 25 < countdown <= 30


def test_in_production_nothing_is_sent_to_a_local_address(delivery, receiver, settings):
    # Created while local addresses were allowed (development), then sent
    # under production rules: refused before any connection is made.
    production_rules(settings)
    settings.OUTBOUND_ALLOW_HTTP = True  # the receiver speaks plain http
    attempted = _attempt_when_due(delivery)
    assert receiver.received == []
    assert "Not sent" in attempted.last_error
    assert "private or local address" in attempted.last_error
