"""Reads about customizations, scoped to one organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from apps.entitlements.selectors import feature_quantity

from .models import Customization


@dataclass(frozen=True)
class CustomizationUsage:
    """How many customizations are in use, and how many the plan allows
    (``limit`` None: unlimited)."""

    used: int
    limit: int | None

    @property
    def can_create(self) -> bool:
        return self.limit is None or self.used < self.limit

    @property
    def over_by(self) -> int:
        if self.limit is None:
            return 0
        return max(0, self.used - self.limit)


def customization_usage(*, org, at: datetime | None = None) -> CustomizationUsage:
    return CustomizationUsage(
        used=Customization.objects.for_org(org).active().count(),
        limit=feature_quantity(org=org, feature="customizations", at=at),
    )


def customization_list(*, org) -> QuerySet[Customization]:
    """The organization's customizations in use, by name."""
    return (
        Customization.objects.for_org(org)
        .active()
        .select_related("repository", "created_by")
        .order_by("name", "id")
    )
