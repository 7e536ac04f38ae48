"""One ledger and one run for every kind of notice: SLA thresholds and FIPS
alerts reach an organization in one digest, each kind's notices are let out
once by the database, and the kinds are registered data."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.entitlements.models import Mirror
from apps.fips.models import FipsEvent
from apps.notifications import kinds
from apps.notifications.models import Delivery, Notification
from apps.notifications.selectors import notices_told
from apps.notifications.services import notices_run, webhook_endpoint_create
from apps.sla import services as sla
from apps.sla.models import SlaClock
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import OrganizationFactory, UserFactory
from tests.fips import builders as fips

from .builders import org_with_clocks

pytestmark = pytest.mark.usefixtures("sla_defaults")


def _run(capture, now=None):
    with capture(execute=True):
        return notices_run(now=now)


def org_with_clocks_and_a_fips_module(n: int):
    """An org with ``n`` breached clocks that also mirrors, with FIPS, a
    repository whose FIPS build carries a module sunsetting in 100 days."""
    org = org_with_clocks(n, name="Both Kinds")
    sla.sla_transitions_run(now=timezone.now())
    repo = catalog.repository("python")
    fips.attest(
        fips.fips_build(catalog.series(repo, "3.12")),
        fips.module(4282, sunset_in=100),
    )
    entitle(org, "fips", repository=repo)
    Mirror.objects.create(
        org=org,
        repository=repo,
        include_fips=True,
        created_by=org.memberships.get(role="owner").user,
        created_at=timezone.now() - timedelta(days=30),
    )
    return org


def test_sla_and_fips_notices_go_out_in_one_digest_per_org(
    django_capture_on_commit_callbacks,
):
    org = org_with_clocks_and_a_fips_module(3)
    quiet = org_with_clocks(0, name="Quiet")
    result = _run(django_capture_on_commit_callbacks)
    assert result.events_found == 1
    # Three clocks to the org and to staff, one FIPS event to the org.
    assert result.notices == 3 * 2 + 1
    assert result.emails == 1
    (digest,) = mail.outbox
    assert sorted(digest.to) == [
        f"admin@{org.slug}.example",
        f"owner@{org.slug}.example",
    ]
    assert "3 breached" in digest.subject
    assert "FIPS 1 change" in digest.subject
    assert digest.body.count("BREACHED: CVE-2099-") == 3
    assert "#4282" in digest.body
    assert "within 180 days" in digest.body
    assert f"/o/{org.slug}/sla/" in digest.body
    assert f"/o/{org.slug}/fips/" in digest.body
    (html, _) = digest.alternatives[0]
    assert html.count("<h2>") == 2
    assert not [m for m in mail.outbox if f"owner@{quiet.slug}.example" in m.to]
    again = _run(django_capture_on_commit_callbacks)
    assert (again.notices, again.emails, len(mail.outbox)) == (0, 0, 1)


def test_an_endpoint_gets_one_message_per_family_as_before(
    django_capture_on_commit_callbacks, receiver
):
    org = org_with_clocks_and_a_fips_module(2)
    owner = org.memberships.get(role="owner").user
    _, receiver.secret = webhook_endpoint_create(
        org=org,
        url=receiver.url,
        events=["sla.breached", "fips.alert"],
        actor=owner,
    )
    result = _run(django_capture_on_commit_callbacks)
    assert result.webhooks == 2
    messages = {m.payload["type"]: m.payload["data"] for m in receiver.valid()}
    assert set(messages) == {"sla.notices", "fips.notices"}
    assert len(messages["sla.notices"]["clocks"]) == 2
    assert {c["event"] for c in messages["sla.notices"]["clocks"]} == {"sla.breached"}
    assert [e["kind"] for e in messages["fips.notices"]["events"]] == ["sunset"]
    for delivery in Delivery.objects.all():
        linked = set(delivery.notifications.values_list("kind", flat=True))
        assert linked == (
            {"sla.breached"} if delivery.event_type == "sla.notices" else {"fips.alert"}
        )


def _row(org, kind="sla.breached", subject_id=1, channel="email", endpoint=None):
    return Notification(
        org=org,
        kind=kind,
        subject_id=subject_id,
        channel=channel,
        endpoint=endpoint,
        run_id=uuid.uuid4(),
    )


def _refused(row) -> bool:
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize("kind", ["sla.at_risk", "sla.breached", "fips.alert"])
def test_each_kind_is_told_once_per_subject_org_and_channel(kind, receiver):
    org = OrganizationFactory()
    other = OrganizationFactory()
    endpoint, _ = webhook_endpoint_create(
        org=org, url=receiver.url, events=[kind], actor=UserFactory()
    )
    _row(org, kind).save()
    assert _refused(_row(org, kind))
    # Another channel, another organization, another subject, another kind:
    # each its own notice.
    assert not _refused(_row(org, kind, channel="staff_email"))
    assert not _refused(_row(other, kind))
    assert not _refused(_row(org, kind, subject_id=2))
    assert not _refused(_row(org, "other.kind"))
    _row(org, kind, channel="webhook", endpoint=endpoint).save()
    assert _refused(_row(org, kind, channel="webhook", endpoint=endpoint))


def test_the_ledger_refuses_rows_that_name_no_kind_or_break_the_channel_rules(
    receiver,
):
    org = OrganizationFactory()
    endpoint, _ = webhook_endpoint_create(
        org=org, url=receiver.url, events=["sla.breached"], actor=UserFactory()
    )
    assert _refused(_row(org, kind="breached"))
    assert _refused(_row(org, kind=""))
    assert _refused(_row(org, channel="sms"))
    assert _refused(_row(org, channel="webhook"))
    assert _refused(_row(org, channel="email", endpoint=endpoint))


def test_the_kinds_are_registered_by_their_apps():
    registered = {k.name: k for k in kinds.notice_kinds()}
    assert set(registered) >= {"sla.at_risk", "sla.breached", "fips.alert"}
    assert registered["sla.breached"].staff
    assert not registered["fips.alert"].staff
    assert [f.name for f in kinds.notice_families()][:2] == ["sla", "fips"]
    assert ("fips.alert", registered["fips.alert"].label) in (
        kinds.webhook_event_choices()
    )


def test_a_kind_is_registered_under_one_name_only():
    breached = kinds.notice_kind("sla.breached")
    assert kinds.notice_kind_register(breached) is breached
    impostor = kinds.NoticeKind(
        name="sla.breached",
        label="Another",
        word="Other",
        family=breached.family,
        find=lambda now: [],
    )
    with pytest.raises(ImproperlyConfigured, match="registered twice"):
        kinds.notice_kind_register(impostor)
    for name in ("breached", "", "x." + "y" * 40):
        with pytest.raises(ImproperlyConfigured, match="family"):
            kinds.notice_kind_register(
                kinds.NoticeKind(
                    name=name,
                    label="",
                    word="",
                    family=breached.family,
                    find=lambda now: [],
                )
            )
    assert kinds.notice_kind("sla.breached") is breached
    assert kinds.notice_kind("breached") is None


def test_an_endpoint_may_subscribe_only_to_registered_kinds(receiver):
    org = OrganizationFactory()
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(
            org=org,
            url=receiver.url,
            events=["sla.breached", "fips.nope"],
            actor=UserFactory(),
        )
    assert refused.value.message_dict["events"] == ["Unknown events: fips.nope."]


def test_what_was_told_is_read_per_org_and_kind(django_capture_on_commit_callbacks):
    org = org_with_clocks_and_a_fips_module(1)
    other = org_with_clocks(1, name="Other")
    sla.sla_transitions_run(now=timezone.now())
    _run(django_capture_on_commit_callbacks)
    event = FipsEvent.objects.get()
    assert notices_told(org=org, kind="fips.alert") == {event.pk: ["email"]}
    clock = SlaClock.objects.for_org(org).get()
    assert notices_told(org=org, kind="sla.breached") == {
        clock.pk: ["email", "staff_email"]
    }
    assert notices_told(org=other, kind="fips.alert") == {}
