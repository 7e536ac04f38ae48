from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)  # type: ignore[attr-defined]
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an email address."""

    username = None  # type: ignore[assignment]
    email = models.EmailField("email address", unique=True)

    objects = UserManager()  # type: ignore[misc,assignment]

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []  # type: ignore[misc]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class ApiToken(models.Model):
    """An organization's API credential; only its SHA-256 is stored."""

    class Scope(models.TextChoices):
        ORG_READ = "org:read", "Read organization"
        MEMBERS_READ = "members:read", "Read members"
        AUDIT_READ = "audit:read", "Read audit log"
        AUDITORS_READ = "auditors:read", "Read auditor grants"
        AUDITORS_WRITE = "auditors:write", "Manage auditor grants"
        TOKENS_READ = "tokens:read", "Read API tokens"
        EVIDENCE_READ = "evidence:read", "Download FIPS/STIG evidence of the plan"
        CUSTOMIZATIONS_READ = "customizations:read", "Read customizations"
        CUSTOMIZATIONS_WRITE = "customizations:write", "Manage customizations"
        SLA_READ = "sla:read", "Read SLA clocks, metrics and waivers"
        # The FedRAMP CR26 inputs: class, repositories' IRV and PAIN, clock
        # evaluations (owners and admins).
        SLA_WRITE = "sla:write", "Set FedRAMP CR26 evaluations"
        # Reading and downloading reports is evidence:read.
        REPORTS_WRITE = "reports:write", "Request reports"
        # Pull images the organization is entitled to (apps/registry).
        REGISTRY_PULL = "registry:pull", "Pull images from the registry"
        REGISTRY_READ = "registry:read", "Read the registry pull log"
        # Publisher staff only, asked again on every use: push images.
        REGISTRY_PUSH = "registry:push", "Push images to the registry (staff)"
        # Publisher staff only: load SBOMs, provenance, advisories and VEX.
        CATALOG_WRITE = "catalog:write", "Load catalog evidence (staff)"

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_active_at(self, when) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > when

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class OrgSsoConnection(models.Model):
    """An organization's OpenID Connect identity provider, bound to an allauth app."""

    org = models.OneToOneField(
        "orgs.Organization", on_delete=models.PROTECT, related_name="sso"
    )
    social_app = models.OneToOneField(
        "socialaccount.SocialApp", on_delete=models.PROTECT, related_name="org_sso"
    )
    email_domains = models.JSONField(
        default=list,
        help_text="Email domains whose people join this organization through SSO.",
    )
    verified_domains = models.JSONField(
        default=list,
        help_text="The claimed domains publisher staff confirmed this organization "
        "owns. SSO answers for these only.",
    )
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrgScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"SSO for {self.org}"

    @property
    def provider_id(self) -> str:
        return self.social_app.provider_id

    @property
    def pending_domains(self) -> list[str]:
        return [d for d in self.email_domains if d not in self.verified_domains]

    def vouches_for(self, domain: str) -> bool:
        """Whether this organization's provider is trusted for addresses in domain."""
        return self.enabled and domain.lower() in self.verified_domains
