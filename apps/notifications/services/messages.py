"""What a run sends: one email digest per organization (a section per family
of notices), one digest to publisher staff, one signed webhook message per
endpoint and family."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from ..kinds import NoticeFamily, NoticeKind, notice_families
from ..models import Delivery, Notification
from ..selectors import notice_recipients

Channel = Notification.Channel

# A digest section lists this many notices and counts the rest. One limit for
# every kind: 200, the SLA digest's, because a new advisory can put a hundred
# or more clocks of one organization at risk in one run and each line is what
# its owners act on; FIPS sections rarely pass ten lines, so the FIPS digest's
# former 100 never bound. 200 lines keep an email well under mail size limits.
DIGEST_LIST_LIMIT = 200


@dataclass
class Notice:
    """One ledger row of this run, with its kind and what it tells of."""

    row: Notification
    kind: NoticeKind
    subject: Any

    @property
    def family(self) -> NoticeFamily:
        return self.kind.family


def _site() -> dict[str, str]:
    return {
        "site_url": settings.SITE_URL.rstrip("/"),
        "site_name": settings.SITE_NAME,
    }


def _render(stem: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(one line, text, html) of ``<stem>_subject.txt``, ``<stem>.txt`` and
    ``<stem>.html``."""
    summary = " ".join(render_to_string(f"{stem}_subject.txt", context).split())
    text = render_to_string(f"{stem}.txt", context)
    html = render_to_string(f"{stem}.html", context)
    return summary, text, html


def _sections(
    notices: list[Notice], *, staff: bool, context: dict[str, Any]
) -> list[dict[str, str]]:
    by_family: dict[str, list[Notice]] = defaultdict(list)
    for notice in notices:
        by_family[notice.family.name].append(notice)
    sections = []
    for family in notice_families():
        listed = by_family.get(family.name)
        stem = family.staff_templates if staff else family.templates
        if not listed or not stem:
            continue
        counts: dict[str, int] = defaultdict(int)
        for notice in listed:
            counts[notice.kind.short] += 1
        summary, text, html = _render(
            stem,
            {
                **context,
                "listed": listed[:DIGEST_LIST_LIMIT],
                "unlisted": max(0, len(listed) - DIGEST_LIST_LIMIT),
                "count": len(listed),
                "counts": dict(counts),
                "orgs": len({n.row.org_id for n in listed}),
            },
        )
        # The section's HTML was escaped when it was rendered.
        sections.append({"summary": summary, "text": text, "html": mark_safe(html)})  # noqa: S308
    return sections


def digest_render(
    *, notices: list[Notice], org: Any = None, staff: bool = False
) -> tuple[str, str, str]:
    """(subject, text, html) of an organization's digest, or with ``staff``
    of the publisher staff's digest."""
    context: dict[str, Any] = {**_site(), "org": org}
    sections = _sections(notices, staff=staff, context=context)
    template = "notifications/staff_digest" if staff else "notifications/org_digest"
    return _render(template, {**context, "sections": sections})


def org_digests(notices: list[Notice]) -> list[dict[str, Any]]:
    """One email per organization listing every notice of this run for it."""
    by_org: dict[int, list[Notice]] = defaultdict(list)
    for notice in notices:
        if notice.row.channel == Channel.EMAIL:
            by_org[notice.row.org_id].append(notice)
    people = notice_recipients(set(by_org))
    emails = []
    for org_id, org_notices in by_org.items():
        to = people.get(org_id)
        if not to:
            continue
        subject, text, html = digest_render(
            notices=org_notices, org=org_notices[0].row.org
        )
        emails.append({"subject": subject, "body": text, "html": html, "to": to})
    return emails


def staff_digest(notices: list[Notice]) -> dict[str, Any] | None:
    """One email to the publisher's active staff for every org, or None."""
    staff = [n for n in notices if n.row.channel == Channel.STAFF_EMAIL]
    if not staff:
        return None
    to = list(
        get_user_model()
        .objects.filter(is_staff=True, is_active=True)
        .order_by("email")
        .values_list("email", flat=True)
    )
    if not to:
        return None
    subject, text, html = digest_render(notices=staff, staff=True)
    return {"subject": subject, "body": text, "html": html, "to": to}


def webhook_deliveries(
    notices: list[Notice], *, run_id: uuid.UUID, now: datetime
) -> list[int]:
    """One delivery per endpoint and family, linked from its ledger rows."""
    groups: dict[tuple[int, str], list[Notice]] = defaultdict(list)
    for notice in notices:
        if notice.row.endpoint_id is not None:
            groups[(notice.row.endpoint_id, notice.family.name)].append(notice)
    deliveries = []
    for (endpoint_id, _), group in groups.items():
        delivery = _delivery_create(notices=group, run_id=run_id, now=now)
        Notification.objects.filter(
            run_id=run_id,
            endpoint_id=endpoint_id,
            kind__in={n.kind.name for n in group},
        ).update(delivery=delivery)
        deliveries.append(delivery.pk)
    return deliveries


def _delivery_create(
    *, notices: list[Notice], run_id: uuid.UUID, now: datetime
) -> Delivery:
    first = notices[0].row
    endpoint = first.endpoint
    if endpoint is None:
        raise ValueError("A webhook notice names its endpoint.")
    family = notices[0].family
    payload = {
        "type": family.message_type,
        "timestamp": now.isoformat(),
        "data": {
            "run": str(run_id),
            "organization": first.org.slug,
            family.payload_key: [family.as_json(n.subject, n.kind) for n in notices],
        },
    }
    return Delivery.objects.create(
        org=first.org,
        endpoint=endpoint,
        message_id=f"msg_{uuid.uuid4().hex}",
        event_type=family.message_type,
        payload=payload,
        next_attempt_at=now,
        created_at=now,
    )
