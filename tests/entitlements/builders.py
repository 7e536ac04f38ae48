"""Entitlement rows for fixtures, written directly (no audit events), as the
Stripe side or a contract would leave them."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from apps.billing.tiers import tiers_load
from apps.entitlements.models import Entitlement, Feature


def entitle(
    org,
    *features: str,
    repository=None,
    quantity: int | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    source: str = Entitlement.Source.CONTRACT,
    reference: str = "TEST-CONTRACT",
) -> list[Entitlement]:
    starts_at = starts_at or timezone.now() - timedelta(days=1)
    ensure_tiers()
    return [
        Entitlement.objects.create(
            org=org,
            feature=Feature.objects.get(key=key),
            repository=repository,
            quantity=quantity,
            starts_at=starts_at,
            ends_at=ends_at,
            source=source,
            reference=reference,
        )
        for key in features
    ]


def ensure_tiers() -> None:
    """A transactional test's flush empties the tables the data migration
    filled; put the rows back for the tests after it."""
    if not Feature.objects.exists():
        tiers_load()
