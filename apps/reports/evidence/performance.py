"""The SLA performance report across customers (publisher staff): the figures
of all customers together and of each, with the service credits owed."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from apps.orgs.models import Organization
from apps.sla.models import SlaClock
from apps.sla.selectors.credits import sla_credits_owed_all
from apps.sla.selectors.metrics import sla_metrics

from ..models import Report
from .common import Progress, metrics_json, ts, window_bounds


def sla_performance_evidence(report: Report, progress: Progress) -> dict[str, Any]:
    start, end = window_bounds(report)
    progress(10, "Figures across customers")
    overall = sla_metrics(start=start, end=end)
    org_ids = (
        SlaClock.objects.filter(started_at__lt=end)
        .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gte=start))
        .values_list("org_id", flat=True)
        .distinct()
        .order_by("org_id")
    )
    orgs = list(Organization.objects.filter(pk__in=org_ids).order_by("name", "pk"))
    progress(20, "Figures per customer")
    credits = {c.org.pk: c for c in sla_credits_owed_all(start=start, end=end)}
    customers = []
    for index, org in enumerate(orgs):
        metrics = sla_metrics(org=org, start=start, end=end)
        owed = credits.get(org.pk)
        customers.append(
            {
                "org": {"name": org.name, "slug": org.slug},
                **metrics_json(metrics),
                "credits_cents": owed.total_cents if owed else 0,
            }
        )
        if orgs:
            progress(20 + 50 * (index + 1) // len(orgs), "Figures per customer")
    return {
        "period": {"start": ts(start), "end": ts(end)},
        "all_customers": metrics_json(overall),
        "customers": customers,
    }
