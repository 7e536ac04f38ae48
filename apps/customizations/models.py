"""Customizations: an organization's recipe for a custom image built on a
repository it mirrors (extra packages, environment). Counted by the plan;
never deleted, only archived."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class CustomizationQuerySet(OrgScopedQuerySet):
    def active(self) -> CustomizationQuerySet:
        return self.filter(archived_at__isnull=True)


class Customization(models.Model):
    """A custom image recipe of one organization on one mirrored repository."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="customizations"
    )
    repository = models.ForeignKey(
        "catalog.Repository", on_delete=models.PROTECT, related_name="customizations"
    )
    name = models.SlugField(max_length=63)
    description = models.TextField(blank=True)
    # Package names, in the order given.
    extra_packages = models.JSONField(default=list, blank=True)
    # NAME -> value.
    environment = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    archived_at = models.DateTimeField(null=True, blank=True)

    objects = CustomizationQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-id"]
        indexes = [
            models.Index(fields=["org", "archived_at"], name="customization_org_active")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "name"],
                condition=Q(archived_at__isnull=True),
                name="customization_name_unique_per_org",
                violation_error_message="This organization already has a "
                "customization of that name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.repository.name})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None
