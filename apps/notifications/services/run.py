"""The notice run: every kind of notice, once, in one pass.

A run lets each registered family record what became due (``prepare``), asks
each kind what is due now, writes one ledger row per (kind, subject,
organization, channel) ignoring conflicts, and sends only the rows it wrote
itself: one email digest per organization, one digest to publisher staff, one
signed webhook message per endpoint and family.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from ..kinds import Due, NoticeKind, notice_families, notice_kind, notice_kinds
from ..models import Notification, WebhookEndpoint
from .messages import Notice, org_digests, staff_digest, webhook_deliveries

Channel = Notification.Channel
logger = logging.getLogger(__name__)


def _unsent(
    due: QuerySet[Any],
    *,
    kind: NoticeKind,
    channel: str,
    endpoint: WebhookEndpoint | None,
) -> QuerySet[Any]:
    sent = Notification.objects.filter(
        kind=kind.name, subject_id=OuterRef("pk"), org_id=OuterRef("org_id")
    )
    if endpoint is None:
        sent = sent.filter(channel=channel, endpoint__isnull=True)
    else:
        sent = sent.filter(endpoint=endpoint)
    return due.exclude(Exists(sent))


def _pairs(
    due: Due,
    *,
    kind: NoticeKind,
    channel: str,
    endpoint: WebhookEndpoint | None,
) -> list[tuple[int, int]]:
    """(subject id, org id) due on this channel, in subject order."""
    if isinstance(due, QuerySet):
        if endpoint is not None:
            due = due.filter(org_id=endpoint.org_id)
        return list(
            _unsent(due, kind=kind, channel=channel, endpoint=endpoint)
            .order_by("pk")
            .values_list("pk", "org_id")
        )
    pairs = due if endpoint is None else [p for p in due if p[1] == endpoint.org_id]
    return sorted(pairs)


def _claim(
    due: Due,
    *,
    run_id: uuid.UUID,
    kind: NoticeKind,
    channel: str,
    endpoint: WebhookEndpoint | None,
    now: datetime,
) -> None:
    rows = (
        Notification(
            org_id=org_id,
            kind=kind.name,
            subject_id=subject_id,
            channel=channel,
            endpoint=endpoint,
            run_id=run_id,
            created_at=now,
        )
        for subject_id, org_id in _pairs(
            due, kind=kind, channel=channel, endpoint=endpoint
        )
    )
    # A row another run wrote first (committed or not) is skipped here; on
    # PostgreSQL the insert waits for that run to commit, then skips. Every
    # run inserts kind by kind in subject order, so two runs never wait on
    # each other in a cycle.
    Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)


def _claim_due(*, run_id: uuid.UUID, now: datetime) -> None:
    endpoints = list(WebhookEndpoint.objects.filter(enabled=True).order_by("pk"))
    for kind in notice_kinds():
        due = kind.find(now)
        if not isinstance(due, QuerySet):
            due = list(due)
        channels: list[tuple[str, WebhookEndpoint | None]] = [(Channel.EMAIL, None)]
        if kind.staff:
            channels.append((Channel.STAFF_EMAIL, None))
        channels.extend(
            (Channel.WEBHOOK, endpoint)
            for endpoint in endpoints
            if endpoint.subscribes(kind.name)
        )
        for channel, endpoint in channels:
            _claim(
                due,
                run_id=run_id,
                kind=kind,
                channel=channel,
                endpoint=endpoint,
                now=now,
            )


def _mine(run_id: uuid.UUID) -> list[Notice]:
    """This run's rows with their kinds and subjects (one query per family),
    family by family, each in its own order."""
    rows = list(
        Notification.objects.filter(run_id=run_id)
        .select_related("org", "endpoint")
        .order_by("pk")
    )
    ids: dict[str, set[int]] = defaultdict(set)
    kinds: dict[str, NoticeKind] = {}
    for row in rows:
        kind = notice_kind(row.kind)
        if kind is None:
            raise LookupError(f"Notice kind {row.kind!r} is not registered.")
        kinds[row.kind] = kind
        ids[kind.family.name].add(row.subject_id)
    subjects = {
        family.name: family.load(sorted(ids[family.name]))
        for family in notice_families()
        if family.name in ids
    }
    position = {family.name: i for i, family in enumerate(notice_families())}
    notices = []
    for row in rows:
        kind = kinds[row.kind]
        subject = subjects[kind.family.name].get(row.subject_id)
        if subject is None:
            # Recorded in this transaction from what the kind found: only a
            # loader that disagrees with its finder gets here.
            logger.error("Notice %s: %s %s not found", row.pk, row.kind, row.subject_id)
            continue
        notices.append(Notice(row=row, kind=kind, subject=subject))
    notices.sort(
        key=lambda n: (
            position[n.family.name],
            n.family.order(n.subject),
            n.kind.name,
        )
    )
    return notices


@dataclass
class RunResult:
    run_id: str
    events_found: int
    notices: int
    emails: int
    webhooks: int
    staff_emails: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def notices_run(*, now: datetime | None = None) -> RunResult:
    """Send every notice of every kind due as of ``now`` that no run has
    sent, once."""
    from apps.core.tasks import deliver_email

    from ..tasks import webhook_deliver

    now = now or timezone.now()
    found = sum(f.prepare(now) for f in notice_families() if f.prepare is not None)
    run_id = uuid.uuid4()
    with transaction.atomic():
        _claim_due(run_id=run_id, now=now)
        notices = _mine(run_id)
        emails = org_digests(notices)
        to_staff = staff_digest(notices)
        deliveries = webhook_deliveries(notices, run_id=run_id, now=now)

        def send() -> None:
            for email in [*emails, *([to_staff] if to_staff else [])]:
                deliver_email.delay(**email)
            for delivery_id in deliveries:
                webhook_deliver.delay(delivery_id)

        transaction.on_commit(send)
    return RunResult(
        run_id=str(run_id),
        events_found=found,
        notices=len(notices),
        emails=len(emails),
        webhooks=len(deliveries),
        staff_emails=1 if to_staff else 0,
    )
