"""Tenancy in one place: every customer-owned row reaches its organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

from django.db import models

if TYPE_CHECKING:
    from apps.orgs.models import Organization


class OrgScopedQuerySet(models.QuerySet):
    """A queryset whose rows belong to one organization.

    Models set ``org_lookup`` when the path to the organization is not ``org``.
    """

    def for_org(self, org: Organization) -> Self:
        lookup = getattr(self.model, "org_lookup", "org")
        return self.filter(**{lookup: org})
