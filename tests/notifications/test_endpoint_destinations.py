"""Where a webhook may point: checked by the outbound policy when the endpoint
is saved, and again, pinned, when each delivery is sent."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.models import Delivery, WebhookEndpoint
from apps.notifications.services import (
    webhook_delivery_attempt,
    webhook_endpoint_create,
)
from tests.core.outbound_support import Listener, fake_dns, production_rules

pytestmark = pytest.mark.django_db


def _post(client, org, url):
    return client.post(
        reverse("notifications:webhooks", kwargs={"org_slug": org.slug}),
        {"url": url, "events": ["sla.breached"]},
    )


def _nothing_written(before: int) -> None:
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1.nip.io/hook", "https://metadata.google.internal/x"]
)
def test_a_name_that_does_not_resolve_is_refused_in_production(
    org, owner, client_for, settings, monkeypatch, url
):
    """These were saved when they did not resolve at creation (the check
    failed open); later they may resolve to the portal's own network."""
    production_rules(settings)
    fake_dns(
        monkeypatch,
        {"127.0.0.1.nip.io": lambda: None, "metadata.google.internal": lambda: None},
    )
    before = AuditEvent.objects.count()
    response = _post(client_for(owner.user), org, url)
    assert response.status_code == 400
    (error,) = response.context["form"].errors["url"]
    assert "does not resolve to an address" in error
    _nothing_written(before)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://127.0.0.1.nip.io/hook", "public addresses only"),
        ("https://metadata.google.internal/x", "public addresses only"),
        ("https://[::ffff:127.0.0.1]/hook", "public addresses only"),
        ("https://[fd12::1]/hook", "public addresses only"),
        ("https://100.64.0.7/hook", "public addresses only"),
        ("http://hooks.test/hook", "must use https"),
        ("https://hooks.test:25/hook", "Port 25 is not allowed"),
        ("https://user:secret@hooks.test/hook", "user name or password"),
    ],
)
def test_the_form_refuses_what_the_policy_refuses(
    org, owner, client_for, settings, monkeypatch, url, message
):
    production_rules(settings)
    fake_dns(
        monkeypatch,
        {
            "127.0.0.1.nip.io": lambda: ["127.0.0.1"],
            "metadata.google.internal": lambda: ["169.254.169.254"],
            "hooks.test": lambda: ["93.184.215.14"],
        },
    )
    before = AuditEvent.objects.count()
    response = _post(client_for(owner.user), org, url)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors["url"])
    _nothing_written(before)


def test_a_public_name_is_saved_in_production(org, owner, settings, monkeypatch):
    production_rules(settings)
    fake_dns(monkeypatch, {"hooks.test": lambda: ["93.184.215.14"]})
    endpoint, _ = webhook_endpoint_create(
        org=org, url="https://hooks.test/sla", events=["sla.at_risk"], actor=owner.user
    )
    assert endpoint.url == "https://hooks.test/sla"


# --- at send time -----------------------------------------------------------------


@pytest.fixture
def hosts():
    """127.0.0.2 stands for a public address (the only one allowed); 127.0.0.1,
    same port, for the portal's own network."""
    public = Listener(host="127.0.0.2").start()
    internal = Listener(host="127.0.0.1", port=public.port).start()
    yield public, internal
    public.stop()
    internal.stop()


def _delivery(org, owner, url) -> Delivery:
    endpoint, _ = webhook_endpoint_create(
        org=org, url=url, events=["sla.at_risk"], actor=owner.user
    )
    return Delivery.objects.create(
        org=org,
        endpoint=endpoint,
        message_id="msg_pin",
        event_type="sla.notices",
        payload={"type": "sla.notices"},
        next_attempt_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _attempt(delivery: Delivery) -> Delivery:
    return webhook_delivery_attempt(
        delivery_id=delivery.pk, now=delivery.next_attempt_at
    )[0]


def test_a_delivery_to_a_name_that_moved_inside_is_not_sent(
    org, owner, settings, monkeypatch, hosts
):
    public, internal = hosts
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.2/32"]
    answers = iter([["127.0.0.2"]])
    fake_dns(monkeypatch, {"hooks.rebind.test": lambda: next(answers, ["127.0.0.1"])})
    delivery = _delivery(org, owner, f"http://hooks.rebind.test:{public.port}/sla")
    attempted = _attempt(delivery)
    assert attempted.status == Delivery.Status.PENDING
    assert attempted.response_code is None
    assert attempted.last_error.startswith("Not sent: ")
    assert "127.0.0.1" in attempted.last_error
    time.sleep(0.1)
    assert internal.requests == []
    assert public.requests == []


def test_a_delivery_goes_to_the_address_that_was_checked(
    org, owner, settings, monkeypatch, hosts
):
    public, internal = hosts
    settings.OUTBOUND_ALLOW_NETWORKS = ["127.0.0.2/32"]
    # Public when saved and when the delivery is checked; internal for any
    # lookup after that.
    answers = iter([["127.0.0.2"], ["127.0.0.2"]])
    fake_dns(monkeypatch, {"hooks.rebind.test": lambda: next(answers, ["127.0.0.1"])})
    delivery = _delivery(org, owner, f"http://hooks.rebind.test:{public.port}/sla")
    attempted = _attempt(delivery)
    assert attempted.status == Delivery.Status.DELIVERED
    (sent,) = public.requests
    assert sent.startswith(b"POST /sla HTTP/1.1\r\n")
    assert b"\r\nwebhook-id: msg_pin\r\n" in sent
    time.sleep(0.1)
    assert internal.requests == []
