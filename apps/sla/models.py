"""The SLA ledger: versioned policies, their assignment to organizations, one
clock per organization and finding, and the waivers that stop a clock.

Nothing here is deleted or recomputed once decided: a policy version used by a
clock is frozen (a change is a new version), and a clock keeps the version,
start event and deadline it was opened with.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.core.tenancy import OrgScopedQuerySet

from . import clock as arithmetic

SLA_SEVERITIES = ("critical", "high", "medium", "low")


class StartEvent(models.TextChoices):
    UPSTREAM_FIX = arithmetic.UPSTREAM_FIX, "Upstream fix released"
    DISCLOSURE = arithmetic.DISCLOSURE, "Disclosure"
    DETECTION = arithmetic.DETECTION, "Detection"
    RELEASE = arithmetic.RELEASE, "Affected digest released"


class ClockStartEvent(models.TextChoices):
    UPSTREAM_FIX = arithmetic.UPSTREAM_FIX, "Upstream fix released"
    DISCLOSURE = arithmetic.DISCLOSURE, "Disclosure"
    DETECTION = arithmetic.DETECTION, "Detection"
    RELEASE = arithmetic.RELEASE, "Affected digest released"
    COVERAGE = arithmetic.COVERAGE, "Coverage began (SLA entitlement)"


class DayKind(models.TextChoices):
    CALENDAR = arithmetic.CALENDAR, "Calendar days"
    BUSINESS = arithmetic.BUSINESS, "Business days"


class SlaPolicy(models.Model):
    """A named SLA policy: a plan's default, or one customer's contract."""

    key = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # A plan's default policy names the plan; a contract policy may name the
    # organization it was written for.
    plan = models.ForeignKey(
        "billing.Plan",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_policies",
    )
    org = models.ForeignKey(
        "orgs.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_policies",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "SLA policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(plan__isnull=True) | Q(org__isnull=True),
                name="sla_policy_plan_or_org",
                violation_error_message=(
                    "A policy is a plan's default or a customer's contract, not both."
                ),
            ),
            models.UniqueConstraint(
                fields=["plan"],
                condition=Q(plan__isnull=False),
                name="sla_policy_one_default_per_plan",
                violation_error_message="This plan already has a default policy.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def _days_ok(name: str) -> Q:
    return Q(**{f"{name}__isnull": True}) | Q(**{f"{name}__gte": 1})


class SlaPolicyVersion(models.Model):
    """One immutable-once-used set of terms of a policy."""

    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.PROTECT, related_name="versions"
    )
    version = models.PositiveIntegerField()
    # Days per severity; null: that severity is outside the SLA.
    critical_days = models.PositiveSmallIntegerField(null=True, blank=True)
    high_days = models.PositiveSmallIntegerField(null=True, blank=True)
    medium_days = models.PositiveSmallIntegerField(null=True, blank=True)
    low_days = models.PositiveSmallIntegerField(null=True, blank=True)
    day_kind = models.CharField(
        max_length=10, choices=DayKind.choices, default=DayKind.BUSINESS
    )
    # Codes of the ``holidays`` package (ISO 3166-1 alpha-2 and subdivision);
    # blank country: no holidays.
    holiday_country = models.CharField(max_length=3, blank=True)
    holiday_subdivision = models.CharField(max_length=10, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    start_event = models.CharField(
        max_length=20, choices=StartEvent.choices, default=StartEvent.UPSTREAM_FIX
    )
    at_risk_percent = models.PositiveSmallIntegerField(default=70)
    kev_caps = models.BooleanField(
        default=True, help_text="The CISA KEV due date caps the deadline when earlier."
    )
    # Service credit per breach, in percent of the monthly fee, capped per
    # calendar month; null: the terms grant no credits.
    credit_percent_per_breach = models.PositiveSmallIntegerField(null=True, blank=True)
    credit_cap_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["policy", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "version"],
                name="sla_policy_version_unique",
                violation_error_message="This version of the policy exists.",
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1),
                name="sla_policy_version_from_one",
                violation_error_message="Versions count from 1.",
            ),
            models.CheckConstraint(
                condition=_days_ok("critical_days")
                & _days_ok("high_days")
                & _days_ok("medium_days")
                & _days_ok("low_days"),
                name="sla_policy_version_days_positive",
                violation_error_message="Days per severity are at least 1 (or empty).",
            ),
            models.CheckConstraint(
                condition=Q(at_risk_percent__gte=1, at_risk_percent__lte=99),
                name="sla_policy_version_at_risk_percent",
                violation_error_message="The at-risk threshold is from 1 to 99 %.",
            ),
            models.CheckConstraint(
                condition=Q(credit_percent_per_breach__isnull=True)
                | Q(credit_percent_per_breach__lte=100),
                name="sla_policy_version_credit_percent",
                violation_error_message="A credit per breach is at most 100 %.",
            ),
            models.CheckConstraint(
                condition=Q(credit_cap_percent__isnull=True)
                | Q(credit_cap_percent__lte=100),
                name="sla_policy_version_credit_cap",
                violation_error_message="A credit cap is at most 100 %.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.version}"

    def days_for(self, severity: str) -> int | None:
        if severity not in SLA_SEVERITIES:
            return None
        return getattr(self, f"{severity}_days")

    @property
    def calendar(self) -> arithmetic.Calendar:
        return arithmetic.Calendar(
            day_kind=self.day_kind,
            time_zone=self.time_zone,
            holiday_country=self.holiday_country,
            holiday_subdivision=self.holiday_subdivision,
        )


class SlaPolicyAssignment(models.Model):
    """A contract policy in effect for one organization over a period."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="sla_assignments"
    )
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.PROTECT, related_name="assignments"
    )
    effective_from = models.DateTimeField()
    effective_to = models.DateTimeField(null=True, blank=True)
    # The contract's monthly fee in cents, the base of its service credits;
    # null: the plan's monthly list price.
    monthly_fee_cents = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["org", "-effective_from"]
        indexes = [
            models.Index(fields=["org", "effective_from"], name="sla_assignment_org")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_to__gt=F("effective_from")),
                name="sla_assignment_ends_after_start",
                violation_error_message="An assignment must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} for {self.org}"


class SlaClock(models.Model):
    """The ledger: one organization's patch clock on one finding."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        AT_RISK = "at_risk", "At risk"
        BREACHED = "breached", "Breached"
        MET = "met", "Met"
        MISSED = "missed", "Missed (fixed late)"
        EXEMPT = "exempt", "Exempt"

    class StopReason(models.TextChoices):
        FIXED = "fixed", "Fixed digest published"
        VEX = "vex", "VEX not_affected"
        WAIVER = "waiver", "Approved waiver"
        UNMIRRORED = "unmirrored", "Repository no longer mirrored"
        ADVISORY_WITHDRAWN = "withdrawn", "Advisory withdrawn"

    RUNNING = (State.OPEN, State.AT_RISK, State.BREACHED)

    # Every index is rewritten when a transition changes a clock's state, so
    # the ledger keeps few: the unique (org, finding) serves org lookups and
    # sla_clock_finding finding lookups, in place of the foreign keys' own.
    org = models.ForeignKey(
        "orgs.Organization",
        on_delete=models.PROTECT,
        related_name="sla_clocks",
        db_index=False,
    )
    finding = models.ForeignKey(
        "vulns.Finding",
        on_delete=models.PROTECT,
        related_name="sla_clocks",
        db_index=False,
    )
    policy_version = models.ForeignKey(
        SlaPolicyVersion, on_delete=models.PROTECT, related_name="clocks"
    )
    # The finding's severity when the clock opened: what the deadline was set by.
    severity = models.CharField(max_length=10)
    # The event the clock actually started from: the policy's, or detection
    # when the policy's event had no timestamp, or coverage when the event came
    # before the org's coverage began.
    start_event = models.CharField(max_length=20, choices=ClockStartEvent.choices)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    at_risk_at = models.DateTimeField()
    kev_capped = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(
        max_length=10, choices=StopReason.choices, blank=True
    )
    exempt_reason = models.TextField(blank=True)
    vex_statement = models.ForeignKey(
        "vulns.VexStatement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sla_clocks",
        db_index=False,
    )
    waiver = models.ForeignKey(
        "sla.SlaWaiver",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["org", "finding"],
                name="sla_clock_once_per_org_finding",
                violation_error_message="This finding already has a clock here.",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gte=F("started_at"))
                & Q(at_risk_at__gte=F("started_at"))
                & Q(at_risk_at__lte=F("due_at")),
                name="sla_clock_times_in_order",
                violation_error_message="A clock is at risk and due after it starts.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["open", "at_risk", "breached"], stopped_at=None)
                | Q(
                    state__in=["met", "missed", "exempt"],
                    stopped_at__isnull=False,
                ),
                name="sla_clock_stopped_when_decided",
                violation_error_message="Only a stopped clock has a stop time.",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "due_at"], name="sla_clock_state_due"),
            # Only open clocks turn at risk: a partial index, which clocks
            # leaving the open state drop out of.
            models.Index(
                fields=["at_risk_at"],
                condition=Q(state="open"),
                name="sla_clock_state_risk",
            ),
            models.Index(
                fields=["vex_statement"],
                condition=Q(vex_statement__isnull=False),
                name="sla_clock_vex",
            ),
            models.Index(
                fields=["waiver"],
                condition=Q(waiver__isnull=False),
                name="sla_clock_waiver",
            ),
            # An org's clocks by state, and its fixed ones by fix time (metrics).
            models.Index(
                fields=["org", "state", "stopped_at"], name="sla_clock_org_state"
            ),
            models.Index(fields=["finding"], name="sla_clock_finding"),
            # The customer's clock list in its order (running first by
            # deadline, then the most recently stopped): a page is read off
            # the index instead of sorting every clock of the org. (DESC puts
            # nulls first in PostgreSQL, as the list's order asks.)
            models.Index(
                "org",
                F("stopped_at").desc(),
                "due_at",
                F("id").desc(),
                name="sla_clock_org_list",
            ),
        ]

    def __str__(self) -> str:
        return f"Clock {self.pk} ({self.state})"

    @property
    def start_fell_back(self) -> bool:
        """True when the clock could not start from its policy's event."""
        return self.start_event != self.policy_version.start_event


class SlaWaiver(models.Model):
    """A staff request to stop a clock until an expiry, approved by another."""

    class State(models.TextChoices):
        REQUESTED = "requested", "Requested"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Expired"

    clock = models.ForeignKey(
        SlaClock, on_delete=models.PROTECT, related_name="waivers"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.TextField()
    expires_at = models.DateTimeField()
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.REQUESTED
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    rejected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    rejected_at = models.DateTimeField(null=True, blank=True)
    rejection_reason = models.TextField(blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    org_lookup = "clock__org"
    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="sla_waiver_state_expiry")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True)
                | ~Q(approved_by=F("requested_by")),
                name="sla_waiver_four_eyes",
                violation_error_message=(
                    "A waiver is approved by someone other than who requested it."
                ),
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="sla_waiver_expires_after_request",
                violation_error_message="A waiver expires after it is requested.",
            ),
            models.UniqueConstraint(
                fields=["clock"],
                condition=Q(state__in=["requested", "approved"]),
                name="sla_waiver_one_pending_per_clock",
                violation_error_message="This clock already has a waiver pending.",
            ),
        ]

    def __str__(self) -> str:
        return f"Waiver {self.pk} ({self.state})"


class LedgerCheckRun(models.Model):
    """One run of the ledger's invariants (manage.py ledger_check, nightly)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    # Each check's name and how many violations it found (0: it held).
    checks = models.JSONField(default=dict)
    # The violations, each {"check", "subject", "message"}; capped, with the
    # full count in violation_count.
    violations = models.JSONField(default=list)
    violation_count = models.PositiveIntegerField(default=0)
    # Who or what ran it: "beat", "command", "seed_demo", or a staff email.
    trigger = models.CharField(max_length=254, default="command")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at"], name="sla_ledger_check_recent")]

    def __str__(self) -> str:
        return f"Ledger check {self.started_at:%Y-%m-%d %H:%M} ({self.violation_count})"

    @property
    def ok(self) -> bool:
        return self.violation_count == 0


# --- FedRAMP CR26 inputs ----------------------------------------------------------
#
# Each is append-only: a change is a new row from its moment on, so the history
# of every evaluation (who, when, why) is kept, and a report as of a past moment
# reads the inputs of that moment (apps/sla/cr26.py).


class FedrampClass(models.TextChoices):
    A = "A", "Class A"
    B = "B", "Class B"
    C = "C", "Class C"
    D = "D", "Class D"


class FedrampDisposition(models.TextChoices):
    FULLY_MITIGATED = "fully_mitigated", "Fully mitigated"
    FALSE_POSITIVE = "false_positive", "False positive"


def _pain_ok(name: str, *, nullable: bool) -> Q:
    ok = Q(**{f"{name}__gte": 1, f"{name}__lte": 5})
    return ok | Q(**{f"{name}__isnull": True}) if nullable else ok


class FedrampProfile(models.Model):
    """An organization's FedRAMP certification class from ``set_at`` on
    (blank: not a FedRAMP customer from then), with the URI of its
    Certification Package Overview its VER reports name."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="+"
    )
    certification_class = models.CharField(
        max_length=1, choices=FedrampClass.choices, blank=True
    )
    package_uri = models.URLField(max_length=500, blank=True)
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    set_by_staff = models.BooleanField(default=False)
    set_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["org", "set_at", "id"]
        indexes = [models.Index(fields=["org", "set_at"], name="sla_fedramp_profile")]
        constraints = [
            models.CheckConstraint(
                condition=Q(certification_class="") | ~Q(package_uri=""),
                name="sla_fedramp_profile_class_has_package",
                violation_error_message=(
                    "A FedRAMP class needs the URI of the Certification Package "
                    "Overview its reports name."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.org_id}: {self.certification_class or 'no class'}"


class FedrampExposure(models.Model):
    """A mirrored repository's CR26 defaults for its clocks from ``set_at``
    on: whether the service running it is internet-reachable (IRV) and the
    potential agency impact N-rating (PAIN)."""

    org = models.ForeignKey(
        "orgs.Organization", on_delete=models.PROTECT, related_name="+"
    )
    repository = models.ForeignKey(
        "catalog.Repository", on_delete=models.PROTECT, related_name="+"
    )
    internet_reachable = models.BooleanField()
    pain = models.PositiveSmallIntegerField()
    reason = models.TextField(blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    set_by_staff = models.BooleanField(default=False)
    set_at = models.DateTimeField(default=timezone.now)

    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["org", "repository", "set_at", "id"]
        indexes = [
            models.Index(
                fields=["org", "repository", "set_at"], name="sla_fedramp_exposure"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=_pain_ok("pain", nullable=False),
                name="sla_fedramp_exposure_pain",
                violation_error_message="PAIN is N1 to N5.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository_id}: N{self.pain}, IRV {self.internet_reachable}"


class FedrampClockEvaluation(models.Model):
    """A person's CR26 evaluation of one clock from ``set_at`` on: each row
    is the whole override (empty follows the repository's default or the
    derived LEV), with the reason; a disposition closes the vulnerability,
    ``accepted`` declares it accepted."""

    clock = models.ForeignKey(
        SlaClock, on_delete=models.PROTECT, related_name="fedramp_evaluations"
    )
    pain = models.PositiveSmallIntegerField(null=True, blank=True)
    internet_reachable = models.BooleanField(null=True, blank=True)
    likely_exploitable = models.BooleanField(null=True, blank=True)
    disposition = models.CharField(
        max_length=20, choices=FedrampDisposition.choices, blank=True
    )
    accepted = models.BooleanField(default=False)
    reason = models.TextField()
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    set_by_staff = models.BooleanField(default=False)
    set_at = models.DateTimeField(default=timezone.now)

    org_lookup = "clock__org"
    objects = OrgScopedQuerySet.as_manager()

    class Meta:
        ordering = ["clock", "set_at", "id"]
        indexes = [
            models.Index(fields=["clock", "set_at"], name="sla_fedramp_evaluation")
        ]
        constraints = [
            models.CheckConstraint(
                condition=_pain_ok("pain", nullable=True),
                name="sla_fedramp_evaluation_pain",
                violation_error_message="PAIN is N1 to N5.",
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="sla_fedramp_evaluation_reason",
                violation_error_message="An evaluation states its reason.",
            ),
        ]

    def __str__(self) -> str:
        return f"Evaluation of clock {self.clock_id} at {self.set_at:%Y-%m-%d %H:%M}"
