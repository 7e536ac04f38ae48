"""Receiving the registry's notifications: which organization pulled which
digest, kept once per event id.

The registry names the actor (the ``sub`` of the token it was shown), not
the organization. The organization is found the way the token service
decided it: a mirror path belongs to the organization of its first
component; otherwise the pull log holds, for that account and repository,
the grant the registry relied on, issued at most one token lifetime before
the pull (plus ``CLOCK_SKEW`` between the two machines' clocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.catalog.models import ImageDigest
from apps.orgs.models import Organization

from .formats.events import RegistryEventData
from .models import PullLogEntry, RegistryEvent

CLOCK_SKEW = timedelta(seconds=60)
# Pull log rows read per event to find the grant (newest first).
GRANT_CANDIDATES = 20


@dataclass(frozen=True)
class Received:
    stored: int
    duplicates: int
    ignored: int


def _granting_org_id(event: RegistryEventData) -> int | None:
    if not event.actor or event.action != RegistryEvent.Action.PULL:
        return None
    ttl = timedelta(seconds=settings.REGISTRY_TOKEN_TTL_SECONDS)
    candidates = PullLogEntry.objects.filter(
        account=event.actor,
        repository=event.repository,
        created_at__gte=event.occurred_at - ttl - CLOCK_SKEW,
        created_at__lte=event.occurred_at + CLOCK_SKEW,
        org__isnull=False,
    ).order_by("-created_at", "-id")[:GRANT_CANDIDATES]
    for entry in candidates.only("org_id", "granted"):
        if "pull" in entry.granted:
            return entry.org_id
    return None


def _org_id(event: RegistryEventData, mirror_orgs: dict[str, int]) -> int | None:
    namespace, slash, _ = event.repository.partition("/")
    if slash:
        return mirror_orgs.get(namespace)
    return _granting_org_id(event)


@transaction.atomic
def registry_events_receive(
    events: list[RegistryEventData], *, now: datetime | None = None
) -> Received:
    """Store the manifest events not stored before; blob events are counted
    as ignored (the registry reports each layer fetched)."""
    now = now or timezone.now()
    manifests = [e for e in events if e.is_manifest]
    known = set(
        RegistryEvent.objects.filter(
            event_id__in=[e.event_id for e in manifests]
        ).values_list("event_id", flat=True)
    )
    fresh: dict[str, RegistryEventData] = {}
    for event in manifests:
        if event.event_id not in known:
            fresh.setdefault(event.event_id, event)
    namespaces = {
        e.repository.partition("/")[0] for e in fresh.values() if "/" in e.repository
    }
    mirror_orgs = dict(
        Organization.objects.filter(slug__in=namespaces).values_list("slug", "id")
    )
    images = dict(
        ImageDigest.objects.filter(
            digest__in={e.digest for e in fresh.values()}
        ).values_list("digest", "id")
    )
    RegistryEvent.objects.bulk_create(
        [
            RegistryEvent(
                event_id=e.event_id,
                action=e.action,
                org_id=_org_id(e, mirror_orgs),
                repository=e.repository,
                digest=e.digest,
                image_id=images.get(e.digest),
                tag=e.tag,
                media_type=e.media_type,
                actor=e.actor,
                addr=e.addr,
                user_agent=e.user_agent,
                occurred_at=e.occurred_at,
                received_at=now,
            )
            for e in fresh.values()
        ],
        ignore_conflicts=True,
    )
    return Received(
        stored=len(fresh),
        duplicates=len(manifests) - len(fresh),
        ignored=len(events) - len(manifests),
    )
