"""Reads about organizations, always scoped to one organization or one person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from apps.core.mixins import user_has_mfa

from .models import AuditorGrant, Invitation, Membership, Organization
from .permissions import AUDITOR, Perm, role_has


@dataclass(frozen=True)
class OrgAccess:
    """How one person reaches one organization: a membership or an auditor grant."""

    org: Organization
    role: str
    membership: Membership | None = None
    grant: AuditorGrant | None = None

    def can(self, perm: Perm) -> bool:
        return role_has(self.role, perm)

    @property
    def is_auditor(self) -> bool:
        return self.role == AUDITOR


def org_access_get(
    *, user, org: Organization, now: datetime | None = None
) -> OrgAccess | None:
    if user is None or not user.is_authenticated:
        return None
    membership = Membership.objects.filter(org=org, user=user).first()
    if membership is not None:
        return OrgAccess(org=org, role=membership.role, membership=membership)
    grant = (
        AuditorGrant.objects.for_org(org)
        .live(now=now or timezone.now())
        .filter(email__iexact=user.email)
        .order_by("-access_expires_at")
        .first()
    )
    if grant is not None:
        return OrgAccess(org=org, role=AUDITOR, grant=grant)
    return None


def org_mfa_unmet(*, org: Organization, user) -> bool:
    """The organization's two-factor rule, one place for every door: pages
    (OrgMixin), evidence (apps.evidence.access) and API tokens
    (apps.accounts.standing) all ask here."""
    return bool(org.require_mfa) and not user_has_mfa(user)


def user_memberships(*, user) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user).select_related("org").order_by("org__name")
    )


def user_auditor_grants(*, user, now: datetime | None = None) -> QuerySet[AuditorGrant]:
    return (
        AuditorGrant.objects.live(now=now or timezone.now())
        .filter(email__iexact=user.email)
        .select_related("org")
        .order_by("org__name")
    )


def member_list(*, org: Organization) -> QuerySet[Membership]:
    return (
        Membership.objects.for_org(org).select_related("user").order_by("user__email")
    )


def invitation_pending_list(*, org: Organization) -> QuerySet[Invitation]:
    return Invitation.objects.for_org(org).pending().select_related("invited_by")


def auditor_grant_list(*, org: Organization) -> QuerySet[AuditorGrant]:
    return AuditorGrant.objects.for_org(org).select_related("created_by")


def owner_count(*, org: Organization) -> int:
    return Membership.objects.for_org(org).filter(role="owner").count()
