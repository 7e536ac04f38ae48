"""The move to one ledger: SLA notices rewritten in place, FIPS notices copied
in from FipsNotice, nothing lost, nothing told again, and the way back."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from apps.fips.models import FipsEvent
from apps.fips.notices import fips_events_detect
from apps.notifications.models import Notification
from apps.notifications.services import notices_run
from apps.notifications.tasks import run as notices_run_task
from apps.sla import services as sla
from apps.sla.models import SlaClock
from tests.catalog import builders as catalog
from tests.fips import builders as fips

from .builders import org_with_clocks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("sla_defaults"),
]

BEFORE = [
    ("notifications", "0001_initial"),
    ("fips", "0002_digest_modules_events_notices"),
]
AFTER = [
    ("notifications", "0002_one_ledger_for_every_kind"),
    ("fips", "0003_notices_into_the_one_ledger"),
]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def latest(monkeypatch):
    # Committed at once here, a FIPS import would queue (and, inline, run) the
    # notice run: these tests write the ledger themselves.
    monkeypatch.setattr(notices_run_task, "delay", lambda *args, **kwargs: None)
    yield
    # Whatever happened, leave the schema as the other tests expect it.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_notices_told_before_the_migration_are_not_told_again(
    latest, django_capture_on_commit_callbacks
):
    told = org_with_clocks(2, name="Told Before")
    sla.sla_transitions_run(now=timezone.now())
    repo = catalog.repository("python")
    fips.attest(
        fips.fips_build(catalog.series(repo, "3.12")), fips.module(4282, sunset_in=10)
    )
    fips_told, _ = fips.customer(repo, name="Fips Told")
    untold, _ = fips.customer(repo, name="Not Told Yet")
    assert fips_events_detect() == 1
    event = FipsEvent.objects.get()
    clocks = list(SlaClock.objects.order_by("pk").values_list("pk", "org_id"))
    run_id = uuid.uuid4()

    old = _migrate(BEFORE)
    OldNotification = old.get_model("notifications", "Notification")
    FipsNotice = old.get_model("fips", "FipsNotice")
    for clock_id, org_id in clocks:
        for channel in ("email", "staff_email"):
            OldNotification.objects.create(
                org_id=org_id,
                clock_id=clock_id,
                threshold="breached",
                channel=channel,
                run_id=run_id,
            )
    FipsNotice.objects.create(
        org_id=fips_told.pk,
        event_id=event.pk,
        channel="email",
        run_id=run_id,
        created_at=timezone.now(),
    )

    new = _migrate(AFTER)
    with pytest.raises(LookupError):
        new.get_model("fips", "FipsNotice")
    assert sorted(
        Notification.objects.values_list("kind", "subject_id", "org_id", "channel")
    ) == sorted(
        [
            ("sla.breached", c, o, ch)
            for c, o in clocks
            for ch in ("email", "staff_email")
        ]
        + [("fips.alert", event.pk, fips_told.pk, "email")]
    )
    assert set(Notification.objects.values_list("run_id", flat=True)) == {run_id}

    with django_capture_on_commit_callbacks(execute=True):
        result = notices_run()
    # Only the organization never told of the event hears of it now.
    assert (result.notices, result.emails) == (1, 1)
    (message,) = mail.outbox
    assert f"owner@{untold.slug}.example" in message.to
    assert "#4282" in message.body
    assert not [m for m in mail.outbox if f"owner@{told.slug}.example" in m.to]


def test_the_migration_goes_back_with_every_row(latest):
    org_with_clocks(1, name="Round Trip")
    sla.sla_transitions_run(now=timezone.now())
    clock = SlaClock.objects.get()
    repo = catalog.repository("python")
    fips.attest(
        fips.fips_build(catalog.series(repo, "3.12")), fips.module(4282, sunset_in=10)
    )
    customer, _ = fips.customer(repo)
    fips_events_detect()
    event = FipsEvent.objects.get()
    run_id = uuid.uuid4()
    for kind, subject_id, org_id, channel in (
        ("sla.at_risk", clock.pk, clock.org_id, "email"),
        ("sla.breached", clock.pk, clock.org_id, "staff_email"),
        ("fips.alert", event.pk, customer.pk, "email"),
    ):
        Notification.objects.create(
            kind=kind,
            subject_id=subject_id,
            org_id=org_id,
            channel=channel,
            run_id=run_id,
        )

    old = _migrate(BEFORE)
    assert sorted(
        old.get_model("notifications", "Notification").objects.values_list(
            "clock_id", "threshold", "channel"
        )
    ) == [(clock.pk, "at_risk", "email"), (clock.pk, "breached", "staff_email")]
    assert list(
        old.get_model("fips", "FipsNotice").objects.values_list(
            "event_id", "org_id", "channel"
        )
    ) == [(event.pk, customer.pk, "email")]

    _migrate(AFTER)
    assert Notification.objects.count() == 3
    assert Notification.objects.get(kind="fips.alert").subject_id == event.pk
