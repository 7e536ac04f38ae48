"""Reads for the webhook pages, the recipients of notices and what was told."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count, Q, QuerySet

from apps.orgs.models import Membership, Organization, Role

from .models import Delivery, Notification, WebhookEndpoint


def webhook_endpoint_list(*, org: Organization) -> QuerySet[WebhookEndpoint]:
    return (
        WebhookEndpoint.objects.for_org(org)
        .select_related("created_by")
        .annotate(
            delivered=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.DELIVERED)
            ),
            failed=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.FAILED)
            ),
            pending=Count(
                "deliveries", filter=Q(deliveries__status=Delivery.Status.PENDING)
            ),
        )
    )


def delivery_list(
    *, org: Organization, endpoint: WebhookEndpoint | None = None
) -> QuerySet[Delivery]:
    deliveries = Delivery.objects.for_org(org).select_related("endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return deliveries.order_by("-created_at", "-id")


def notice_recipients(org_ids: set[int]) -> dict[int, list[str]]:
    """org id -> the email addresses of its active owners and admins, who
    receive its notices."""
    people: dict[int, list[str]] = defaultdict(list)
    for org_id, email in (
        Membership.objects.filter(
            org_id__in=org_ids,
            role__in=[Role.OWNER, Role.ADMIN],
            user__is_active=True,
        )
        .order_by("user__email")
        .values_list("org_id", "user__email")
    ):
        people[org_id].append(email)
    return people


def notices_told(*, org: Organization, kind: str) -> dict[int, list[str]]:
    """subject id -> the channels a notice of ``kind`` about it went out on
    to the organization."""
    told: dict[int, list[str]] = defaultdict(list)
    for subject_id, channel in (
        Notification.objects.for_org(org)
        .filter(kind=kind)
        .order_by("subject_id", "channel")
        .values_list("subject_id", "channel")
    ):
        told[subject_id].append(channel)
    return dict(told)
