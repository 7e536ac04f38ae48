from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    BILLING = "billing", "Billing"


class OrganizationQuerySet(models.QuerySet):
    def visible_to(self, user, *, now=None) -> OrganizationQuerySet:
        """Organizations the user belongs to or holds a live auditor grant for."""
        if user is None or not user.is_authenticated:
            return self.none()
        now = now or timezone.now()
        grants = AuditorGrant.objects.live(now=now).filter(email__iexact=user.email)
        return self.filter(
            Q(memberships__user=user) | Q(pk__in=grants.values("org_id"))
        ).distinct()


class Organization(models.Model):
    """A customer: the tenant that owns memberships, mirrors, tokens and evidence."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=50, unique=True)
    require_mfa = models.BooleanField(
        default=False, help_text="Members must set up two-factor authentication."
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrganizationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("orgs:dashboard", kwargs={"org_slug": self.slug})


class Membership(models.Model):
    """A person's role in one organization."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "user"],
                name="membership_one_per_user_and_org",
                violation_error_message="This person is already a member.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}) in {self.org}"


class InvitationQuerySet(OrgScopedQuerySet):
    def pending(self, *, now=None) -> InvitationQuerySet:
        now = now or timezone.now()
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        )


class Invitation(models.Model):
    """A single-use, expiring offer to join an organization with a role."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(accepted_at__isnull=False) & Q(revoked_at__isnull=False)),
                name="invitation_not_both_accepted_and_revoked",
                violation_error_message=(
                    "An invitation is accepted or revoked, not both."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation for {self.email} to {self.org}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class AuditorGrantQuerySet(OrgScopedQuerySet):
    def live(self, *, now=None) -> AuditorGrantQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, access_expires_at__gt=now)


class AuditorGrant(models.Model):
    """Read-only, time-limited access for an external auditor to one organization."""

    org = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="auditor_grants"
    )
    email = models.EmailField()
    window_start = models.DateField(help_text="First day of the observation window.")
    window_end = models.DateField(help_text="Last day of the observation window.")
    access_expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AuditorGrantQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_end__gte=models.F("window_start")),
                name="auditor_grant_window_ordered",
                violation_error_message="The window must end on or after its start.",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Auditor {self.email} for {self.org} "
            f"({self.window_start} to {self.window_end})"
        )

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.access_expires_at <= timezone.now():
            return "expired"
        return "active"
