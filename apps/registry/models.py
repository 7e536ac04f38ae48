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
    # Feature keys whose absence refused the pull: what would allow it.
    missing_features = models.JSONField(default=list, blank=True)
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


class RegistryEvent(models.Model):
    """A manifest pulled or pushed, as the registry reported it.

    Stored once per registry event id (the registry retries a delivery with
    the same ids). ``org`` is the organization the pull was for: the owner
    of a mirror path, or the organization the token service granted the
    actor's pull to (its pull log); empty for anonymous pulls and publisher
    pushes. ``image`` is the catalog build with that digest, when there is
    one.
    """

    class Action(models.TextChoices):
        PULL = "pull", "Pulled"
        PUSH = "push", "Pushed"
        MOUNT = "mount", "Mounted"
        DELETE = "delete", "Deleted"

    event_id = models.CharField(max_length=100, unique=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registry_events",
    )
    repository = models.CharField(max_length=255)
    digest = models.CharField(max_length=71)
    image = models.ForeignKey(
        "catalog.ImageDigest",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="registry_events",
    )
    tag = models.CharField(max_length=128, blank=True)
    media_type = models.CharField(max_length=255, blank=True)
    # The subject of the token that authorized the request (an email or a
    # token prefix), empty for anonymous requests.
    actor = models.CharField(max_length=254, blank=True)
    addr = models.CharField(max_length=255, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["org", "image", "occurred_at"], name="registry_event_org_image"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(digest__regex=r"^sha256:[0-9a-f]{64}$"),
                name="registry_event_digest_is_sha256",
                violation_error_message="A digest is sha256: and 64 lowercase hex.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.repository}@{self.digest[:19]}"
