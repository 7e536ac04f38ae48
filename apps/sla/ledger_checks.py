"""The invariants the ledger checks about itself (manage.py ledger_check).

Each check is a function of the time that returns violations; a check that
returns none holds. Apps above the ledger (reports) add their own checks with
``register`` at ``AppConfig.ready()``, so this module imports none of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet

from apps.catalog.formats.verdict import CHECK_REVOKED
from apps.catalog.models import Attestation, Repository
from apps.entitlements.models import Entitlement, FeatureKey, Mirror
from apps.entitlements.selectors import entitlement_cache, has_feature
from apps.orgs.models import Organization
from apps.vulns.models import Finding

from .models import SlaClock, SlaPolicyAssignment, SlaPolicyVersion
from .services.policies import policy_resolution

# Transitions run every five minutes: a clock is late to move only past this.
TRANSITION_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    message: str
    # The organization concerned (its slug), when there is one.
    org: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


Check = Callable[[datetime], Iterator[Violation]]
# Each check function and the names of the violations it may yield.
CHECKS: dict[Check, tuple[str, ...]] = {}


def register(*names: str) -> Callable[[Check], Check]:
    def add(check: Check) -> Check:
        CHECKS[check] = names
        return check

    return add


def entitled_orgs(at: datetime) -> list[Organization]:
    """Every org holding a live `sla` entitlement (for any repository)."""
    ids = (
        Entitlement.objects.live(at=at)
        .filter(feature__key=FeatureKey.SLA)
        .values("org_id")
    )
    return list(Organization.objects.filter(pk__in=ids).order_by("slug"))


@dataclass(frozen=True)
class Gap:
    """An entitled org's mirrored repository where the ledger falls short."""

    org: Organization
    repository_id: int
    repository: str
    no_policy: bool
    missing: int


def _candidates(org_ids: list[int]) -> dict[tuple[int, int], dict[str, int]]:
    """(org, repository) -> affected findings without a clock of the org, by
    severity, over every mirror of these orgs: one query, whatever the
    number of orgs and mirrors."""
    clocked = SlaClock.objects.filter(org_id=OuterRef("org"), finding_id=OuterRef("pk"))
    rows = (
        Finding.objects.filter(status=Finding.Status.AFFECTED)
        .annotate(
            org=F("digest__variant__series__repository__mirrors__org_id"),
            repository=F("digest__variant__series__repository_id"),
        )
        .filter(org__in=org_ids)
        .exclude(Exists(clocked))
        .values_list("org", "repository", "severity")
        .annotate(n=Count("pk"))
        .order_by()
    )
    found: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    for org_id, repository_id, severity, n in rows:
        found[(org_id, repository_id)][severity] = n
    return found


def ledger_gaps(*, at: datetime, orgs: list[Organization] | None = None) -> list[Gap]:
    """Per entitled org and mirrored repository: no policy to open clocks by,
    or findings in scope without a clock. The findings without a clock are
    found for every org at once; a policy is resolved only where some are."""
    entitled = entitled_orgs(at) if orgs is None else orgs
    by_id = {org.pk: org for org in entitled}
    candidates = _candidates(list(by_id))
    names = dict(
        Repository.objects.filter(
            pk__in={repository_id for _, repository_id in candidates}
        ).values_list("pk", "name")
    )
    gaps = []
    with entitlement_cache():
        for (org_id, repository_id), severities in sorted(candidates.items()):
            org, repository = by_id[org_id], Repository(pk=repository_id)
            if not has_feature(
                org=org, feature=FeatureKey.SLA, repository=repository, at=at
            ):
                continue
            version = policy_resolution(org=org, repository=repository, at=at).version
            name = names[repository_id]
            if version is None:
                gaps.append(Gap(org, repository_id, name, True, 0))
                continue
            missing = sum(
                n for severity, n in severities.items() if version.days_for(severity)
            )
            if missing:
                gaps.append(Gap(org, repository_id, name, False, missing))
    return sorted(gaps, key=lambda g: (g.org.slug, g.repository))


def _orgs_without_policy(at: datetime) -> list[Organization]:
    """Entitled orgs no policy can govern: without a contract policy in
    effect, while no plan granting `sla` has a default policy (the rule of
    policy_resolution, for every org at once)."""
    if SlaPolicyVersion.objects.filter(
        policy__plan__isnull=False,
        policy__org__isnull=True,
        policy__plan__grants__feature__key=FeatureKey.SLA,
    ).exists():
        return []
    assigned = (
        SlaPolicyAssignment.objects.filter(effective_from__lte=at)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gt=at))
        .values("org_id")
    )
    covered = {row["org_id"] for row in assigned}
    return [org for org in entitled_orgs(at) if org.pk not in covered]


@register("policy_missing", "clock_missing")
def _complete(at: datetime) -> Iterator[Violation]:
    gaps = ledger_gaps(at=at)
    flagged = {gap.org.pk for gap in gaps if gap.no_policy}
    for org in _orgs_without_policy(at):
        if org.pk not in flagged:
            yield Violation(
                "policy_missing",
                f"org {org.slug}",
                "The org holds the SLA entitlement but no policy applies: "
                "no clock can open.",
                org.slug,
            )
    for gap in gaps:
        subject = f"org {gap.org.slug}, repository {gap.repository}"
        if gap.no_policy:
            yield Violation(
                "policy_missing",
                subject,
                "The org holds the SLA entitlement but no policy applies: "
                "no clock can open.",
                gap.org.slug,
            )
        else:
            yield Violation(
                "clock_missing",
                subject,
                f"{gap.missing} finding(s) in scope of the policy have no clock.",
                gap.org.slug,
            )


def _against_mirrors(
    check: str, clocks: QuerySet[SlaClock], *, mirrored: bool, message: str
) -> Iterator[Violation]:
    """A violation for each of ``clocks`` whose repository the org mirrors
    (``mirrored``) or does not."""
    mirror = Exists(
        Mirror.objects.filter(
            org_id=OuterRef("org_id"),
            repository_id=OuterRef("finding__digest__variant__series__repository_id"),
        )
    )
    rows = (
        (clocks.filter(mirror) if mirrored else clocks.exclude(mirror))
        .values_list(
            "pk", "org__slug", "finding__digest__variant__series__repository__name"
        )
        .order_by("pk")
    )
    for pk, org, repository in rows.iterator(2000):
        yield Violation(
            check, f"clock {pk} (org {org}, repository {repository})", message, org
        )


@register("clock_running_unmirrored")
def _running_unmirrored(at: datetime) -> Iterator[Violation]:
    return _against_mirrors(
        "clock_running_unmirrored",
        SlaClock.objects.filter(state__in=SlaClock.RUNNING),
        mirrored=False,
        message="The clock runs on a repository the org no longer mirrors.",
    )


@register("clock_stopped_while_mirrored")
def _stopped_mirrored(at: datetime) -> Iterator[Violation]:
    return _against_mirrors(
        "clock_stopped_while_mirrored",
        SlaClock.objects.filter(
            state=SlaClock.State.EXEMPT, stop_reason=SlaClock.StopReason.UNMIRRORED
        ),
        mirrored=True,
        message="The clock was stopped when the repository was unmirrored, and "
        "the repository is mirrored again: it should run.",
    )


@register("clock_running_withdrawn", "clock_stopped_withdrawn_in_force")
def _withdrawn(at: datetime) -> Iterator[Violation]:
    """A clock runs only on a finding in force: one whose advisory was
    withdrawn stops, and comes back when the advisory does."""
    late = at - TRANSITION_GRACE
    checks = {
        "clock_running_withdrawn": (
            SlaClock.objects.filter(
                state__in=SlaClock.RUNNING,
                finding__status=Finding.Status.WITHDRAWN,
                finding__withdrawn_at__lte=late,
            ),
            "The clock runs on a finding whose advisory was withdrawn.",
        ),
        "clock_stopped_withdrawn_in_force": (
            SlaClock.objects.filter(
                state=SlaClock.State.EXEMPT,
                stop_reason=SlaClock.StopReason.ADVISORY_WITHDRAWN,
                stopped_at__lte=late,
            ).exclude(finding__status=Finding.Status.WITHDRAWN),
            "The clock was stopped when its advisory was withdrawn, and the "
            "advisory is in force again: it should run.",
        ),
    }
    for name, (rows, message) in checks.items():
        for pk, org in (
            rows.values_list("pk", "org__slug").order_by("pk").iterator(2000)
        ):
            yield Violation(name, f"clock {pk} (org {org})", message, org)


def vex_stopped_out_of_force(*, at: datetime) -> QuerySet[SlaClock]:
    """Clocks still stopped by a VEX statement whose document left force
    (superseded or withdrawn) more than the grace ago."""
    late = at - TRANSITION_GRACE
    return SlaClock.objects.filter(
        state=SlaClock.State.EXEMPT, stop_reason=SlaClock.StopReason.VEX
    ).filter(
        Q(vex_statement__document__superseded_at__lte=late)
        | Q(vex_statement__document__withdrawn_at__lte=late)
    )


@register("clock_stopped_by_vex_out_of_force")
def _vex_out_of_force(at: datetime) -> Iterator[Violation]:
    rows = vex_stopped_out_of_force(at=at).values_list(
        "pk", "org__slug", "vex_statement__document_id"
    )
    for pk, org, document in rows.order_by("pk").iterator(2000):
        yield Violation(
            "clock_stopped_by_vex_out_of_force",
            f"clock {pk} (org {org})",
            f"The clock was stopped by VEX document {document}, which has since "
            "been superseded or withdrawn: it should run.",
            org,
        )


@register("clock_state_stale")
def _state_stale(at: datetime) -> Iterator[Violation]:
    late = at - TRANSITION_GRACE
    running = SlaClock.objects.filter(state__in=SlaClock.RUNNING)
    stale = {
        "should be breached (deadline passed)": running.exclude(
            state=SlaClock.State.BREACHED
        ).filter(due_at__lte=late),
        "should be at risk": running.filter(
            state=SlaClock.State.OPEN, at_risk_at__lte=late, due_at__gt=late
        ),
        "should be met or missed (fix published)": running.filter(
            finding__status=Finding.Status.FIXED,
            finding__fixed_published_at__lte=late,
        ),
    }
    for message, rows in stale.items():
        for pk, org in (
            rows.values_list("pk", "org__slug").order_by("pk").iterator(2000)
        ):
            yield Violation(
                "clock_state_stale",
                f"clock {pk} (org {org})",
                f"The clock {message}; the transitions have not run.",
                org,
            )


@register("evidence_subject_mismatch")
def _evidence_subject(at: datetime) -> Iterator[Violation]:
    from apps.evidence.subject_recheck import unchecked_subject_mismatches

    for found in unchecked_subject_mismatches():
        attestation = found.attestation
        yield Violation(
            "evidence_subject_mismatch",
            f"{attestation.get_kind_display()} {attestation.sha256[:12]} on "
            f"{attestation.digest.digest}",
            "Attached before subjects were checked, and its own subject is "
            f"another image ({', '.join(found.named)}): remove it, or keep it "
            "with a staff override and its reason.",
        )


@register("signature_verified_by_revoked_signer")
def _verified_by_revoked(at: datetime) -> Iterator[Violation]:
    """A revoked signer vouches for nothing: what it verified says so ("no
    longer trusted"), never Verified."""
    kinds = dict(Attestation.Kind.choices)
    rows = (
        Attestation.objects.filter(
            signature_status=Attestation.SignatureStatus.VERIFIED,
            signature_signer__revoked_at__isnull=False,
        )
        .values_list(
            "kind",
            "sha256",
            "digest__digest",
            "signature_signer__name",
            "signature_signer__revoked_at",
        )
        .order_by("pk")
    )
    for kind, sha256, digest, signer, revoked_at in rows.iterator(chunk_size=2000):
        yield Violation(
            "signature_verified_by_revoked_signer",
            f"{kinds.get(kind, kind)} {sha256[:12]} on {digest}",
            f"Shown as Verified by {signer}, which was revoked on "
            f"{revoked_at:%Y-%m-%d %H:%M} UTC: its signature is no longer "
            "trusted (manage.py signatures_recheck records it).",
        )


def ledger_figures(*, at: datetime) -> dict[str, int]:
    """What the checks count but do not call wrong: attestations whose
    signature is no longer trusted because their signer was revoked, and
    the attestations by signature verdict."""
    rows = (
        Attestation.objects.values("signature_status")
        .annotate(
            n=Count("pk"),
            revoked=Count("pk", filter=Q(signature_check=CHECK_REVOKED)),
        )
        .order_by("signature_status")
    )
    figures = {
        f"signatures_{status}": 0 for status in Attestation.SignatureStatus.values
    }
    figures["signatures_no_longer_trusted"] = 0
    for row in rows:
        figures[f"signatures_{row['signature_status']}"] = row["n"]
        if row["signature_status"] == Attestation.SignatureStatus.UNTRUSTED:
            figures["signatures_no_longer_trusted"] = row["revoked"]
    return figures


def ledger_violations(*, at: datetime) -> tuple[dict[str, int], list[Violation]]:
    """Run every registered check; each check's count, and the violations."""
    counts: dict[str, int] = {}
    found: list[Violation] = []
    for check, names in CHECKS.items():
        for name in names:
            counts.setdefault(name, 0)
        for violation in check(at):
            counts[violation.check] = counts.get(violation.check, 0) + 1
            found.append(violation)
    return counts, found
