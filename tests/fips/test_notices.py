"""FIPS notices: who is told, of what, once per event and channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apps.fips.models import FipsEvent
from apps.fips.notices import fips_events_detect
from apps.fips.services import crypto_module_update
from apps.notifications.models import Delivery, Notification
from apps.notifications.services import notices_run, webhook_endpoint_create
from tests.catalog import builders as catalog
from tests.sla.builders import staff

from . import builders as b

pytestmark = pytest.mark.django_db
FIPS_NOTICES = Notification.objects.filter(kind="fips.alert")


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def go(now=None):
        with django_capture_on_commit_callbacks(execute=True):
            return notices_run(now=now)

    return go


@pytest.fixture
def repo():
    return catalog.repository("python")


@pytest.fixture
def line(repo):
    return catalog.series(repo, "3.12")


def _mail_to(org):
    return [m for m in mail.outbox if f"owner@{org.slug}.example" in m.to]


def test_a_sunset_within_180_days_tells_each_customer_once(run, repo, line):
    m = b.module(4282, sunset_in=150)
    b.attest(b.fips_build(line), m)
    acme, _ = b.customer(repo, name="Acme")
    globex, _ = b.customer(repo, name="Globex")
    result = run()
    assert result.emails == 2
    (message,) = _mail_to(acme)
    assert sorted(message.to) == [
        f"admin@{acme.slug}.example",
        f"owner@{acme.slug}.example",
    ]
    assert "#4282" in message.body
    assert f"sunsets on {m.sunset_date.isoformat()}, within 180 days" in message.body
    assert "/o/acme/fips/" in message.body or f"/o/{acme.slug}/fips/" in message.body
    event = FipsEvent.objects.get()
    assert (event.kind, event.days_before_sunset) == ("sunset", 180)
    assert len(_mail_to(globex)) == 1
    again = run()
    assert again.notices == again.emails == 0
    assert len(mail.outbox) == 2


def test_each_threshold_is_its_own_notice_and_the_nearest_wins(run, repo, line):
    m = b.module(4282, sunset_in=100)
    b.attest(b.fips_build(line), m)
    org, _ = b.customer(repo)
    run()
    now = timezone.now()
    run(now=now + timedelta(days=11))  # 89 days left: the 90-day notice
    run(now=now + timedelta(days=12))  # nothing new
    run(now=now + timedelta(days=71))  # 29 days left: the 30-day notice
    thresholds = list(
        FipsEvent.objects.order_by("occurred_at").values_list(
            "days_before_sunset", flat=True
        )
    )
    assert thresholds == [180, 90, 30]
    assert len(_mail_to(org)) == 3
    # A customer arriving late hears only of the nearest threshold.
    late, _ = b.customer(repo, name="Latecomer")
    result = run(now=now + timedelta(days=72))
    assert result.notices == 1
    (message,) = _mail_to(late)
    assert "within 30 days" in message.body
    notice = FIPS_NOTICES.get(org=late)
    assert FipsEvent.objects.get(pk=notice.subject_id).days_before_sunset == 30


def test_a_passed_sunset_on_a_module_still_listed_active_is_told(run, repo, line):
    m = b.module(4282, sunset_in=-66)
    b.attest(b.fips_build(line), m)
    org, _ = b.customer(repo)
    run()
    event = FipsEvent.objects.get()
    assert event.days_before_sunset == 0
    assert "reached its sunset date" in event.summary
    assert len(_mail_to(org)) == 1


def test_going_historical_is_told_and_ends_the_sunset_notices(run, repo, line):
    m = b.module(4282, sunset_in=20)
    b.attest(b.fips_build(line), m)
    org, _ = b.customer(repo)
    run()
    crypto_module_update(module=m, actor=staff(), status="historical")
    result = run()
    assert result.notices == 1
    event = FipsEvent.objects.get(kind="historical")
    assert "is now historical" in event.summary
    assert event.occurred_at == m.changes.get(field="status").changed_at
    assert len(_mail_to(org)) == 2


def test_revocation_is_told(run, repo, line):
    m = b.module(4282, sunset_in=None)
    b.attest(b.fips_build(line), m)
    org, _ = b.customer(repo)
    assert run().notices == 0
    crypto_module_update(module=m, actor=staff(), status="revoked")
    run()
    assert FipsEvent.objects.get().kind == "revoked"
    (message,) = _mail_to(org)
    assert "#4282 (OpenSSL FIPS Provider) is now revoked" in message.body


def test_only_entitled_customers_mirroring_fips_are_told(run, repo, line):
    m = b.module(4282, sunset_in=10)
    b.attest(b.fips_build(line), m)
    told, _ = b.customer(repo, name="Told")
    not_entitled, _ = b.customer(repo, entitled=False, name="Community")
    no_fips, _ = b.customer(repo, include_fips=False, name="Runtime only")
    other_repo, _ = b.customer(catalog.repository("node"), name="Node shop")
    run()
    assert len(_mail_to(told)) == 1
    for org in (not_entitled, no_fips, other_repo):
        assert _mail_to(org) == []
        assert not FIPS_NOTICES.filter(org=org).exists()


def test_an_ended_entitlement_stops_the_notices(run, repo, line):
    m = b.module(4282, sunset_in=10)
    b.attest(b.fips_build(line), m)
    org, _ = b.customer(repo)
    org.entitlements.update(ends_at=timezone.now() - timedelta(minutes=1))
    run()
    assert _mail_to(org) == []


def test_a_swap_goes_to_those_mirroring_the_series_when_it_happened(run, repo, line):
    old = b.module(4282, sunset_in=None)
    new = b.module(4856, standard="140-3", sunset_in=None)
    b.attest(b.fips_build(line, built_days_ago=10), old)
    org, _ = b.customer(repo)
    b.attest(b.fips_build(line, built_days_ago=1), new)
    later, _ = b.customer(repo, name="Later")
    later.mirrors.update(created_at=timezone.now() + timedelta(minutes=5))
    run(now=timezone.now() + timedelta(minutes=10))
    (message,) = _mail_to(org)
    assert "no longer carries #4282" in message.body
    assert "now carries #4856" in message.body
    assert _mail_to(later) == []


def test_webhooks_get_one_signed_message_per_endpoint(run, repo, line, receiver):
    m1 = b.module(4282, sunset_in=10)
    m2 = b.module(4283, sunset_in=None, status="revoked")
    b.attest(b.fips_build(line), m1, m2)
    org, owner = b.customer(repo)
    endpoint, receiver.secret = webhook_endpoint_create(
        org=org,
        url=receiver.url,
        description="SIEM",
        events=["fips.alert"],
        actor=owner,
    )
    sla_only, _ = webhook_endpoint_create(
        org=org,
        url=receiver.url,
        description="SLA",
        events=["sla.breached"],
        actor=owner,
    )
    result = run()
    assert result.webhooks == 1
    delivery = Delivery.objects.get()
    assert delivery.endpoint == endpoint
    assert delivery.event_type == "fips.notices"
    kinds = sorted(e["kind"] for e in delivery.payload["data"]["events"])
    assert kinds == ["revoked", "sunset"]
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    (received,) = receiver.valid()
    assert received.payload["type"] == "fips.notices"
    assert received.payload["data"]["organization"] == org.slug
    assert FIPS_NOTICES.filter(channel="webhook", endpoint=endpoint).count() == 2
    assert not Notification.objects.filter(endpoint=sla_only).exists()
    assert run().webhooks == 0


def test_detection_is_idempotent(repo, line):
    m = b.module(4282, sunset_in=45)
    b.attest(b.fips_build(line), m)
    assert fips_events_detect() == 1
    assert fips_events_detect() == 0
    assert FipsEvent.objects.count() == 1


def test_modules_no_build_carries_make_no_events(run):
    b.module(4282, sunset_in=10)
    assert run().events_found == 0
