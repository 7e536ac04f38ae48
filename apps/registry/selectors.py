"""Reading the pull log: an organization's recent registry decisions."""

from __future__ import annotations

from django.db.models import F, QuerySet

from apps.orgs.models import Organization

from .models import PullLogEntry


def pull_log_list(*, org: Organization, denied_only: bool = False) -> QuerySet:
    """The organization's pull log, newest first, with who asked.

    A denial is an entry that was granted less than it asked for."""
    entries = PullLogEntry.objects.for_org(org).select_related("user", "token")
    if denied_only:
        entries = entries.exclude(granted=F("requested"))
    return entries.order_by("-created_at", "-id")
