"""Registry records are kept bounded: anonymous rows for a month, an
organization's for the reports' year (and a little more)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.registry.models import PullLogEntry, RegistryEvent
from apps.registry.tasks import registry_prune, registry_records_prune
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def _rows(org, days_ago: int, tag: str):
    at = timezone.now() - timedelta(days=days_ago)
    PullLogEntry.objects.create(
        org=org, repository="nginx", requested=["pull"], granted=["pull"], created_at=at
    )
    RegistryEvent.objects.create(
        event_id=f"{tag}-{days_ago}",
        action="pull",
        org=org,
        repository="nginx",
        digest="sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        occurred_at=at,
    )


def test_retention_by_owner_and_age(settings):
    settings.REGISTRY_LOG_DAYS = 400
    settings.REGISTRY_ANONYMOUS_LOG_DAYS = 30
    org = OrganizationFactory()
    for days in (1, 29, 31, 399, 401):
        _rows(org, days, "org")
        _rows(None, days, "anon")
    assert registry_records_prune() == {"pull_log": 4, "events": 4}
    kept = set(RegistryEvent.objects.values_list("event_id", flat=True))
    assert kept == {"org-1", "org-29", "org-31", "org-399", "anon-1", "anon-29"}
    assert PullLogEntry.objects.filter(org__isnull=True).count() == 2
    assert PullLogEntry.objects.filter(org=org).count() == 4
    # The task runs the same, and a second run finds nothing left to do.
    assert registry_prune() == {"pull_log": 0, "events": 0}
