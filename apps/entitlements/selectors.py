"""The one question every guard asks: does org O have feature F for repository R
at time T?

All of an organization's entitlement rows (its whole history: a handful of rows)
are read in one query and answered from memory. Inside a request the loaded rows
are kept for the rest of the request (see middleware.py), so every check on a
page costs at most one query per organization; writes through services.py drop
the organization's cached rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from .models import Entitlement, FeatureKey, Mirror

# org pk -> its loaded rows; None outside a request: every call reads afresh.
_request_cache: ContextVar[dict[int, Entitlements] | None] = ContextVar(
    "entitlements_request_cache", default=None
)


@dataclass(frozen=True)
class _Row:
    feature: str
    repository_id: int | None
    quantity: int | None
    starts_at: datetime
    ends_at: datetime | None

    def live(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


def _key(feature: str) -> str:
    if feature not in FeatureKey.values:
        # A typo must not read as "not entitled" and deny silently.
        raise ValueError(f"Unknown feature {feature!r}.")
    return feature


class Entitlements:
    """One organization's entitlement rows, in memory."""

    def __init__(self, rows: list[_Row]):
        self._rows = rows

    @classmethod
    def load(cls, org) -> Entitlements:
        rows = [
            _Row(*values)
            for values in Entitlement.objects.for_org(org).values_list(
                "feature__key", "repository_id", "quantity", "starts_at", "ends_at"
            )
        ]
        return cls(rows)

    def _live(self, feature: str, repository, at: datetime | None) -> list[_Row]:
        feature = _key(feature)
        at = at or timezone.now()
        repo_id = getattr(repository, "pk", repository)
        return [
            r
            for r in self._rows
            if r.feature == feature
            and r.live(at)
            # An all-repositories row answers for any repository; a row for one
            # repository only for that one, never for the org-wide question.
            and (r.repository_id is None or r.repository_id == repo_id)
        ]

    def has(self, feature: str, *, repository=None, at=None) -> bool:
        return bool(self._live(feature, repository, at))

    def quantity(self, feature: str, *, repository=None, at=None) -> int | None:
        """The live total; None is unlimited, 0 is none."""
        rows = self._live(feature, repository, at)
        if any(r.quantity is None for r in rows):
            return None
        return sum(r.quantity or 0 for r in rows)


@contextmanager
def entitlement_cache() -> Iterator[None]:
    """Answer every check inside from rows read once per organization (the
    middleware wraps each request in this; tasks and commands may too)."""
    token = _request_cache.set({})
    try:
        yield
    finally:
        _request_cache.reset(token)


def entitlements_for(*, org) -> Entitlements:
    cache = _request_cache.get()
    if cache is None:
        return Entitlements.load(org)
    if org.pk not in cache:
        cache[org.pk] = Entitlements.load(org)
    return cache[org.pk]


def entitlements_forget(*, org) -> None:
    """After a write: the next check in this request reads the rows again."""
    cache = _request_cache.get()
    if cache is not None:
        cache.pop(org.pk, None)


def has_feature(*, org, feature: str, repository=None, at=None) -> bool:
    return entitlements_for(org=org).has(feature, repository=repository, at=at)


def feature_quantity(*, org, feature: str, repository=None, at=None) -> int | None:
    """How many of a counted feature the org has: None unlimited, 0 none."""
    return entitlements_for(org=org).quantity(feature, repository=repository, at=at)


FEATURE_ACTIVE = "active"
FEATURE_LAPSED = "lapsed"
FEATURE_NEVER = "never"


def feature_state(*, org, feature: str, now: datetime) -> str:
    """Whether the org holds ``feature`` now (for any repository), held it once
    and no longer, or never held it: what a page offers, or keeps as record.
    One query."""
    ends = list(
        Entitlement.objects.for_org(org)
        .filter(feature__key=_key(feature), starts_at__lte=now)
        .values_list("ends_at", flat=True)
    )
    if any(end is None or end > now for end in ends):
        return FEATURE_ACTIVE
    return FEATURE_LAPSED if ends else FEATURE_NEVER


def entitlement_list(*, org):
    return (
        Entitlement.objects.for_org(org)
        .select_related("feature", "repository", "created_by", "ended_by")
        .order_by("-starts_at", "-id")
    )


def entitlement_list_all():
    return Entitlement.objects.select_related(
        "org", "feature", "repository", "created_by", "ended_by"
    ).order_by("-created_at", "-id")


def mirror_list(*, org):
    return Mirror.objects.for_org(org).select_related("repository", "created_by")
