"""Reading what the registry decided and saw: an organization's recent
token decisions (the pull log) and the digests it pulled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Max, Min, QuerySet

from apps.catalog.models import ImageDigest
from apps.orgs.models import Organization

from .models import PullLogEntry, RegistryEvent


def pull_log_list(*, org: Organization, denied_only: bool = False) -> QuerySet:
    """The organization's pull log, newest first, with who asked.

    A denial is an entry that was granted less than it asked for."""
    entries = PullLogEntry.objects.for_org(org).select_related("user", "token")
    if denied_only:
        entries = entries.exclude(granted=F("requested"))
    return entries.order_by("-created_at", "-id")


@dataclass(frozen=True)
class ImageRun:
    """A digest the organization pulled: where from, when first and last."""

    repository: str
    digest: str
    image: ImageDigest | None
    first_pulled_at: datetime
    last_pulled_at: datetime
    pulls: int


def images_run_list(
    *,
    org: Organization,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[ImageRun]:
    """The digests the organization pulled (optionally in ``[start, end)``),
    most recently pulled first, each with its catalog build when there is
    one. Two queries whatever the number of pulls."""
    pulls = RegistryEvent.objects.for_org(org).filter(action=RegistryEvent.Action.PULL)
    if start is not None:
        pulls = pulls.filter(occurred_at__gte=start)
    if end is not None:
        pulls = pulls.filter(occurred_at__lt=end)
    rows = list(
        pulls.values("repository", "digest", "image_id")
        .annotate(first=Min("occurred_at"), last=Max("occurred_at"), pulls=Count("id"))
        .order_by("-last", "repository")
    )
    images = ImageDigest.objects.select_related("variant__series__repository").in_bulk(
        {row["image_id"] for row in rows if row["image_id"]}
    )
    return [
        ImageRun(
            repository=row["repository"],
            digest=row["digest"],
            image=images.get(row["image_id"]),
            first_pulled_at=row["first"],
            last_pulled_at=row["last"],
            pulls=row["pulls"],
        )
        for row in rows
    ]


@dataclass(frozen=True)
class DigestPulls:
    first_pulled_at: datetime
    last_pulled_at: datetime
    pulls: int


def digest_pulls(*, org: Organization, image_id: int) -> DigestPulls | None:
    """When the organization first and last pulled one catalog build, and
    how often; None when it never did (or the registry never said)."""
    figures = (
        RegistryEvent.objects.for_org(org)
        .filter(action=RegistryEvent.Action.PULL, image_id=image_id)
        .aggregate(first=Min("occurred_at"), last=Max("occurred_at"), n=Count("id"))
    )
    if not figures["n"]:
        return None
    return DigestPulls(figures["first"], figures["last"], figures["n"])
