"""Who may download a build's evidence: the rule every door out applies.

Evidence of FIPS and STIG builds is sold: it is for publisher staff and for
organizations entitled to it. Pages, the attestation download, the STIG
checklist exports, the API and report bundles all ask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from django.utils import timezone

from apps.accounts.standing import token_suspension
from apps.catalog.models import ImageDigest, Variant
from apps.core.mixins import staff_in_standing
from apps.entitlements.selectors import has_feature
from apps.orgs.models import AuditorGrant, Membership
from apps.orgs.selectors import org_mfa_unmet

# Variant flag -> the entitlement its evidence needs, and its name in messages.
EVIDENCE_FEATURES = (("fips", "FIPS"), ("stig", "STIG"))


@dataclass(frozen=True)
class EvidenceAccess:
    """The answer for one requester and one build's evidence.

    ``features`` are the entitlements the build's evidence needs (none: it is
    public); ``org`` is the organization whose entitlement allowed it (None
    for public evidence and for publisher staff); ``via`` says how.
    """

    allowed: bool
    features: tuple[str, ...] = ()
    org: Any = None
    via: str = "public"
    # The entitled organization whose two-factor rule the person does not meet.
    mfa_org: Any = None

    @property
    def guarded(self) -> bool:
        return bool(self.features)

    @property
    def label(self) -> str:
        """``FIPS``, ``STIG`` or ``FIPS and STIG``."""
        names = dict(EVIDENCE_FEATURES)
        return " and ".join(names[f] for f in self.features)

    @property
    def refusal(self) -> str:
        if self.mfa_org is not None:
            return (
                f"{self.mfa_org.name} requires two-factor authentication: set up an "
                f"authenticator app in your account to download its {self.label} "
                "evidence."
            )
        plural = "s" if len(self.features) > 1 else ""
        return (
            f"This evidence needs the {self.label} entitlement{plural} for this "
            f"repository: sign in as a member of an organization that holds "
            f"{'them' if plural else 'it'}, or see the plans that include "
            f"{'them' if plural else 'it'}."
        )


def evidence_features(*, variant: Variant) -> tuple[str, ...]:
    """The entitlements a variant's evidence needs: () when it is public."""
    return tuple(key for key, _ in EVIDENCE_FEATURES if getattr(variant, key))


def _entitled(org, features: tuple[str, ...], repository, at) -> bool:
    return all(
        has_feature(org=org, feature=f, repository=repository, at=at) for f in features
    )


def evidence_access(
    *,
    image: ImageDigest,
    user=None,
    token=None,
    at: datetime | None = None,
) -> EvidenceAccess:
    """May this requester download ``image``'s attestations now (or at ``at``)?

    Evidence of FIPS and STIG builds is for publisher staff, and for an
    organization holding the matching entitlement for the build's repository
    (a variant that is both needs both): its members, its auditors with a
    live grant, its API tokens. Every other build's evidence is public.

    The answer holds for every attestation of the build, so a page asks once;
    entitlement rows come from the per-request cache (one query per org).
    """
    features = evidence_features(variant=image.variant)
    if not features:
        return EvidenceAccess(allowed=True)
    at = at or timezone.now()
    repository = image.variant.series.repository_id
    if token is not None:
        if (
            token.is_active_at(at)
            and token_suspension(token) is None
            and _entitled(token.org, features, repository, at)
        ):
            return EvidenceAccess(True, features, token.org, "token")
        return EvidenceAccess(False, features)
    if user is None or not user.is_authenticated:
        return EvidenceAccess(False, features)
    if staff_in_standing(user):
        return EvidenceAccess(True, features, None, "staff")
    memberships = Membership.objects.filter(user=user).select_related("org")
    grants = (
        AuditorGrant.objects.live(now=at)
        .filter(email__iexact=user.email)
        .select_related("org")
        .order_by("org__name", "org_id")
    )
    held_back = None
    # Lazily: the grants are read only when no membership answered.
    def through_grants():
        for grant in grants:
            yield grant.org, "auditor"

    for org, via in chain(
        ((m.org, "member") for m in memberships.order_by("org__name", "org_id")),
        through_grants(),
    ):
        if not _entitled(org, features, repository, at):
            continue
        # The organization's two-factor rule covers its evidence as it covers
        # its pages: entitled through it, refused until the person has one.
        if org_mfa_unmet(org=org, user=user):
            held_back = held_back or org
            continue
        return EvidenceAccess(True, features, org, via)
    return EvidenceAccess(False, features, mfa_org=held_back)
