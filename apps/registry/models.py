"""What the registry token service decided: one row per requested repository.

A row names who asked (a person, an API token or nobody), the organization the
answer was given for, the repository path and the actions asked and granted,
and why anything was refused. Never a password or a token secret.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class PullLogEntry(models.Model):
    """One decision of the token service on one repository path."""

    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registry_pulls",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    token = models.ForeignKey(
        "accounts.ApiToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registry_pulls",
    )
    # The account name the client gave (an email or a token prefix), for
    # refusals where no person or token could be found.
    account = models.CharField(max_length=254, blank=True)
    repository = models.CharField(max_length=255)
    requested = models.JSONField(default=list)
    granted = models.JSONField(default=list)
    reason = models.CharField(max_length=500, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "pull log entries"
        indexes = [
            models.Index(fields=["org", "-created_at"], name="pull_log_org_recent")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(repository=""),
                name="pull_log_names_repository",
                violation_error_message="A pull log entry names its repository.",
            ),
        ]

    def __str__(self) -> str:
        granted = ",".join(self.granted) or "nothing"
        return f"{self.repository}: {granted}"

    @property
    def denied(self) -> bool:
        return set(self.requested) - set(self.granted) != set()
