from django.conf import settings
from django.db import models

from apps.core.tenancy import OrgScopedQuerySet

GENESIS_HASH = "0" * 64


class AuditEvent(models.Model):
    """One append-only, hash-chained record of something a person or the system did."""

    class Action(models.TextChoices):
        SIGNUP = "user.signup", "Signed up"
        LOGIN = "user.login", "Logged in"
        LOGIN_FAILED = "user.login_failed", "Login failed"
        LOGOUT = "user.logout", "Logged out"
        PASSWORD_CHANGED = "user.password_changed", "Password changed"
        PASSWORD_RESET = "user.password_reset", "Password reset"
        EMAIL_CONFIRMED = "user.email_confirmed", "Email confirmed"
        MFA_ADDED = "mfa.added", "MFA method added"
        MFA_REMOVED = "mfa.removed", "MFA method removed"
        MFA_RESET = "mfa.reset", "Recovery codes regenerated"
        SESSION_ENDED = "session.ended", "Other sessions signed out"
        ORG_CREATED = "org.created", "Organization created"
        ORG_UPDATED = "org.updated", "Organization settings changed"
        OWNERSHIP_TRANSFERRED = "org.ownership_transferred", "Ownership transferred"
        SSO_CONFIGURED = "org.sso_configured", "SSO configured"
        SSO_DOMAINS_VERIFIED = "org.sso_domains_verified", "SSO domains verified"
        SSO_LOGIN = "org.sso_login", "Signed in through SSO"
        MEMBER_JOINED = "member.joined", "Member joined"
        MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
        MEMBER_REMOVED = "member.removed", "Member removed"
        MEMBER_LEFT = "member.left", "Member left"
        INVITATION_CREATED = "invitation.created", "Invitation sent"
        INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
        INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
        TOKEN_CREATED = "token.created", "API token created"
        TOKEN_REVOKED = "token.revoked", "API token revoked"
        AUDITOR_GRANTED = "auditor.granted", "Auditor access granted"
        AUDITOR_REVOKED = "auditor.revoked", "Auditor access revoked"
        EVIDENCE_IMPORTED = "evidence.imported", "Evidence imported"
        ENTITLEMENT_GRANTED = "entitlement.granted", "Entitlement granted"
        ENTITLEMENT_ENDED = "entitlement.ended", "Entitlement ended"
        MIRROR_ADDED = "mirror.added", "Repository mirrored"
        MIRROR_REMOVED = "mirror.removed", "Mirror removed"
        MIRROR_ENTITLEMENT_LOST = "mirror.entitlement_lost", "Mirror lost entitlement"
        MIRROR_ENTITLEMENT_RESTORED = (
            "mirror.entitlement_restored",
            "Mirror entitlement restored",
        )
        BILLING_CHECKOUT_STARTED = "billing.checkout_started", "Checkout started"
        BILLING_PORTAL_OPENED = "billing.portal_opened", "Billing portal opened"
        BILLING_CUSTOMER_LINKED = "billing.customer_linked", "Stripe customer linked"
        SUBSCRIPTION_CHANGED = "billing.subscription_changed", "Subscription changed"
        BILLING_GRACE_STARTED = "billing.grace_started", "Payment overdue: grace"
        BILLING_SUSPENDED = "billing.suspended", "Suspended for non-payment"
        BILLING_RESTORED = "billing.restored", "Entitlements restored after payment"
        BILLING_DRIFT_REPAIRED = "billing.drift_repaired", "Billing drift repaired"
        BILLING_EVENT_RETRIED = "billing.event_retried", "Stripe event retried"
        CUSTOMIZATION_CREATED = "customization.created", "Customization created"
        CUSTOMIZATION_UPDATED = "customization.updated", "Customization changed"
        CUSTOMIZATION_REMOVED = "customization.removed", "Customization removed"
        SSO_LOGIN_REFUSED = "org.sso_login_refused", "SSO sign-in refused"
        EVIDENCE_DOWNLOADED = "evidence.downloaded", "Evidence downloaded"
        SLA_POLICY_CREATED = "sla.policy_created", "SLA policy created"
        SLA_POLICY_VERSIONED = "sla.policy_versioned", "SLA policy new version"
        SLA_POLICY_ASSIGNED = "sla.policy_assigned", "SLA policy assigned"
        SLA_WAIVER_REQUESTED = "sla.waiver_requested", "SLA waiver requested"
        SLA_WAIVER_APPROVED = "sla.waiver_approved", "SLA waiver approved"
        SLA_WAIVER_REJECTED = "sla.waiver_rejected", "SLA waiver rejected"
        SLA_WAIVER_EXPIRED = "sla.waiver_expired", "SLA waiver expired"
        SLA_CLOCK_EXEMPTED = "sla.clock_exempted", "SLA clock exempted"
        SLA_CLOCKS_UNMIRRORED = (
            "sla.clocks_unmirrored",
            "SLA clocks stopped (unmirrored)",
        )
        SLA_CLOCKS_RESUMED = "sla.clocks_resumed", "SLA clocks resumed (mirrored again)"
        SLA_LEDGER_REPAIRED = "sla.ledger_repaired", "SLA ledger repaired by the sweep"
        SLA_CLOCKS_VEX_RESUMED = (
            "sla.clocks_vex_resumed",
            "SLA clocks resumed (VEX no longer in force)",
        )
        VEX_SUPERSEDED = "vex.superseded", "VEX document superseded"
        VEX_WITHDRAWN = "vex.withdrawn", "VEX document withdrawn"
        BUILD_REGISTERED = "catalog.build_registered", "Build registered"
        WEBHOOK_ENDPOINT_ADDED = "webhook.endpoint_added", "Webhook endpoint added"
        WEBHOOK_ENDPOINT_REMOVED = "webhook.endpoint_removed", "Webhook removed"
        SIGNER_REGISTERED = "signer.registered", "Trusted signer registered"
        SIGNER_ROTATED = "signer.rotated", "Trusted signer key rotated"
        SIGNER_REVOKED = "signer.revoked", "Trusted signer revoked"
        FIPS_MODULE_CHANGED = "fips.module_changed", "Crypto module changed"
        REPORT_REQUESTED = "report.requested", "Report requested"
        REPORT_READY = "report.ready", "Report ready"
        REPORT_FAILED = "report.failed", "Report failed"
        REPORT_DOWNLOADED = "report.downloaded", "Report downloaded"
        SIGNING_KEY_ADDED = "report.signing_key_added", "Report signing key added"
        CRA_CASE_OPENED = "cra.case_opened", "CRA Article 14 case opened"
        CRA_MEASURE_RECORDED = "cra.measure_recorded", "CRA corrective measure recorded"
        CRA_STAGE_SUBMITTED = "cra.stage_submitted", "CRA report submitted"
        FEDRAMP_PROFILE_SET = "fedramp.profile_set", "FedRAMP class set"
        FEDRAMP_EXPOSURE_SET = (
            "fedramp.exposure_set",
            "FedRAMP repository IRV/PAIN set",
        )
        FEDRAMP_CLOCK_EVALUATED = (
            "fedramp.clock_evaluated",
            "FedRAMP clock evaluation set",
        )

    created_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_email = models.CharField(max_length=254, blank=True)
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(max_length=64, choices=Action.choices, db_index=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=255, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    details = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["org", "-id"], name="audit_org_recent"),
            models.Index(fields=["actor", "-id"], name="audit_actor_recent"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor_email}"
        )
