"""Reads for the webhook pages."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from apps.orgs.models import Organization

from .models import Delivery, WebhookEndpoint


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
