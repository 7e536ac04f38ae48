"""One digest per organization per run, never one message per clock, and never
the same notice twice."""

from __future__ import annotations

import pytest
from django.core import mail

from apps.notifications.kinds import notice_kind, webhook_event_choices
from apps.notifications.models import Delivery, Notification
from apps.notifications.services import notices_run, webhook_endpoint_create
from apps.sla.models import SlaClock
from tests.sla.builders import staff

from .builders import LATER, move_to, org_with_clocks

pytestmark = pytest.mark.usefixtures("sla_defaults")
State = SlaClock.State
ALL_EVENTS = [value for value, _ in webhook_event_choices()]


def _run(capture, now=LATER):
    with capture(execute=True):
        return notices_run(now=now)


def _to_org(org):
    return [m for m in mail.outbox if f"owner@{org.slug}.example" in m.to]


def test_a_hundred_breaches_make_one_digest_to_owners_and_admins(
    django_capture_on_commit_callbacks,
):
    org = org_with_clocks(100, name="Initech")
    move_to(State.BREACHED)
    result = _run(django_capture_on_commit_callbacks)
    (digest,) = _to_org(org)
    assert sorted(digest.to) == [
        f"admin@{org.slug}.example",
        f"owner@{org.slug}.example",
    ]
    assert "100 breached" in digest.subject
    assert digest.body.count("BREACHED: CVE-2099-") == 100
    assert result.emails == 1
    assert Notification.objects.filter(channel="email").count() == 100


def test_a_second_run_sends_nothing(django_capture_on_commit_callbacks):
    org_with_clocks(5)
    staff(email="desk@publisher.example")
    move_to(State.BREACHED)
    _run(django_capture_on_commit_callbacks)
    sent = len(mail.outbox)
    assert sent == 2  # the organization's digest and the staff digest
    again = _run(django_capture_on_commit_callbacks)
    assert len(mail.outbox) == sent
    assert again.notices == 0
    assert again.emails == again.webhooks == again.staff_emails == 0


def test_at_risk_then_breached_are_two_notices_in_two_runs(
    django_capture_on_commit_callbacks,
):
    org = org_with_clocks(3)
    at = move_to(State.AT_RISK)
    _run(django_capture_on_commit_callbacks, now=at)
    (first,) = _to_org(org)
    assert "3 at risk" in first.subject
    assert "breached" not in first.subject
    due = move_to(State.BREACHED)
    _run(django_capture_on_commit_callbacks, now=due)
    second = _to_org(org)[1]
    assert "3 breached" in second.subject
    assert set(Notification.objects.values_list("kind", flat=True)) == {
        "sla.at_risk",
        "sla.breached",
    }


def test_each_org_gets_its_own_digest_and_staff_one_for_all(
    django_capture_on_commit_callbacks,
):
    a = org_with_clocks(2, name="Alpha")
    b = org_with_clocks(3, name="Bravo")
    desk = staff(email="desk@publisher.example")
    move_to(State.BREACHED)
    result = _run(django_capture_on_commit_callbacks)
    assert len(_to_org(a)) == len(_to_org(b)) == 1
    assert "Bravo" not in _to_org(a)[0].body
    (staff_digest,) = [m for m in mail.outbox if desk.email in m.to]
    assert "5 new breaches in 2 organizations" in staff_digest.subject
    assert "Alpha" in staff_digest.body
    assert "Bravo" in staff_digest.body
    assert "/staff/sla/" in staff_digest.body
    assert result.staff_emails == 1
    # Each digest carries an HTML part beside the text, linking to the ledger.
    (html, mime) = _to_org(a)[0].alternatives[0]
    assert mime == "text/html"
    assert f"/o/{a.slug}/sla/" in html
    assert f"/o/{a.slug}/sla/" in _to_org(a)[0].body


def test_clocks_not_yet_at_a_threshold_send_nothing(django_capture_on_commit_callbacks):
    org_with_clocks(3)
    first = SlaClock.objects.order_by("at_risk_at").first()
    result = _run(django_capture_on_commit_callbacks, now=first.at_risk_at)
    # The transitions have not run: the clocks are still open.
    assert result.notices == 0
    assert mail.outbox == []


def test_one_webhook_message_per_endpoint_lists_every_clock(
    django_capture_on_commit_callbacks, receiver
):
    org = org_with_clocks(100)
    owner = org.memberships.get(role="owner").user
    endpoint, secret = webhook_endpoint_create(
        org=org, url=receiver.url, events=ALL_EVENTS, actor=owner
    )
    receiver.secret = secret
    move_to(State.BREACHED)
    result = _run(django_capture_on_commit_callbacks)
    assert result.webhooks == 1
    (message,) = receiver.received
    assert message.valid
    payload = message.payload
    assert payload["type"] == "sla.notices"
    assert len(payload["data"]["clocks"]) == 100
    assert {c["event"] for c in payload["data"]["clocks"]} == {"sla.breached"}
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.message_id == message.msg_id
    assert (
        Notification.objects.filter(endpoint=endpoint, delivery=delivery).count() == 100
    )
    _run(django_capture_on_commit_callbacks)
    assert len(receiver.received) == 1


def test_an_endpoint_gets_only_the_events_it_subscribed(
    django_capture_on_commit_callbacks, receiver
):
    org = org_with_clocks(2)
    owner = org.memberships.get(role="owner").user
    _, receiver.secret = webhook_endpoint_create(
        org=org, url=receiver.url, events=["sla.breached"], actor=owner
    )
    at = move_to(State.AT_RISK)
    _run(django_capture_on_commit_callbacks, now=at)
    assert receiver.received == []
    move_to(State.BREACHED)
    _run(django_capture_on_commit_callbacks)
    assert len(receiver.received) == 1


def test_another_orgs_endpoint_hears_nothing(
    django_capture_on_commit_callbacks, receiver
):
    org_with_clocks(2)
    quiet = org_with_clocks(0)
    owner = quiet.memberships.get(role="owner").user
    webhook_endpoint_create(org=quiet, url=receiver.url, events=ALL_EVENTS, actor=owner)
    move_to(State.BREACHED)
    _run(django_capture_on_commit_callbacks)
    assert receiver.received == []
    assert not Delivery.objects.exists()


def test_the_digest_has_an_escaped_html_part(django_capture_on_commit_callbacks):
    from apps.notifications.services.messages import Notice, digest_render

    org = org_with_clocks(1, name="<b>Bold</b> Corp")
    move_to(State.BREACHED)
    _run(django_capture_on_commit_callbacks)
    row = Notification.objects.get(channel="email")
    notice = Notice(row=row, kind=notice_kind(row.kind), subject=SlaClock.objects.get())
    subject, text, html = digest_render(org=org, notices=[notice])
    assert "&lt;b&gt;Bold&lt;/b&gt; Corp" in html
    assert "<b>Bold</b> Corp" in text
    assert "1 breached" in subject
