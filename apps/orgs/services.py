"""Writes about organizations, memberships, invitations and auditor grants."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.tasks import deliver_email
from apps.core.tokens import new_secret, secret_hash

from .extensions import auditor_seats
from .models import AuditorGrant, Invitation, Membership, Organization, Role
from .permissions import ASSIGNABLE_ROLES
from .signals import member_leaving

Action = AuditEvent.Action

RESERVED_SLUGS = frozenset({"new", "admin", "api", "static", "media", "accounts"})


def _unique_slug(name: str) -> str:
    base = slugify(name)[:40] or "org"
    if base in RESERVED_SLUGS:
        base = f"{base}-org"
    slug, n = base, 1
    while Organization.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _send(*, to: str, subject: str, template: str, context: dict) -> None:
    body = render_to_string(template, {**context, "SITE_URL": settings.SITE_URL})
    # After the commit, so a rolled-back invitation never reaches anyone.
    transaction.on_commit(
        lambda: deliver_email.delay(
            subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}",
            body=body,
            to=[to],
        )
    )


@transaction.atomic
def org_create(*, name: str, owner, request: HttpRequest | None = None) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organization a name."})
    org = Organization.objects.create(name=name, slug=_unique_slug(name))
    membership = Membership.objects.create(org=org, user=owner, role=Role.OWNER)
    audit_record(
        action=Action.ORG_CREATED, actor=owner, org=org, target=org, request=request
    )
    audit_record(
        action=Action.MEMBER_JOINED,
        actor=owner,
        org=org,
        target=membership,
        request=request,
        details={"role": Role.OWNER},
    )
    return org


@transaction.atomic
def org_update(
    *,
    org: Organization,
    actor,
    name: str,
    require_mfa: bool,
    request: HttpRequest | None = None,
) -> Organization:
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the organization a name."})
    changes: dict[str, list[Any]] = {}
    if org.name != name:
        changes["name"] = [org.name, name]
    if org.require_mfa != require_mfa:
        changes["require_mfa"] = [org.require_mfa, require_mfa]
    if not changes:
        return org
    org.name = name
    org.require_mfa = require_mfa
    org.save(update_fields=["name", "require_mfa"])
    audit_record(
        action=Action.ORG_UPDATED,
        actor=actor,
        org=org,
        target=org,
        request=request,
        details={"changes": changes},
    )
    return org


def _check_can_assign(actor_membership: Membership, role: str) -> None:
    if role not in ASSIGNABLE_ROLES.get(actor_membership.role, frozenset()):
        raise PermissionDenied(f"Your role cannot assign the {role} role.")


@transaction.atomic
def invitation_create(
    *,
    org: Organization,
    email: str,
    role: str,
    actor_membership: Membership,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> tuple[Invitation, str]:
    """Invite someone; returns the invitation and its secret link token."""
    now = now or timezone.now()
    email = email.strip().lower()
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    _check_can_assign(actor_membership, role)
    if Membership.objects.for_org(org).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    # A new invitation replaces any pending one for the same address.
    Invitation.objects.for_org(org).pending(now=now).filter(email__iexact=email).update(
        revoked_at=now
    )
    raw = new_secret()
    invitation = Invitation.objects.create(
        org=org,
        email=email,
        role=role,
        token_hash=secret_hash(raw),
        invited_by=actor_membership.user,
        created_at=now,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    audit_record(
        action=Action.INVITATION_CREATED,
        actor=actor_membership.user,
        org=org,
        target=invitation,
        request=request,
        details={"email": email, "role": role},
    )
    _send(
        to=email,
        subject=f"You are invited to {org.name}",
        template="orgs/email/invitation.txt",
        context={
            "invitation": invitation,
            "org": org,
            "inviter": actor_membership.user,
            "accept_path": reverse("invitation_accept", kwargs={"token": raw}),
        },
    )
    return invitation, raw


def invitation_get_by_token(*, raw_token: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("org", "invited_by")
        .filter(token_hash=secret_hash(raw_token))
        .first()
    )


@transaction.atomic
def invitation_accept(
    *, raw_token: str, user, request: HttpRequest | None = None, now=None
) -> Membership:
    now = now or timezone.now()
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("org")
        .filter(token_hash=secret_hash(raw_token))
        .first()
    )
    if invitation is None:
        raise ValidationError("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been used.")
    if invitation.revoked_at is not None:
        raise ValidationError("This invitation was withdrawn.")
    if invitation.expires_at <= now:
        raise ValidationError("This invitation has expired. Ask for a new one.")
    if invitation.email.lower() != user.email.lower():
        raise ValidationError(
            f"This invitation is for {invitation.email}; you are signed in as "
            f"{user.email}."
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                org=invitation.org, user=user, role=invitation.role
            )
    except IntegrityError as exc:
        raise ValidationError("You are already a member of this organization.") from exc
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    audit_record(
        action=Action.INVITATION_ACCEPTED,
        actor=user,
        org=invitation.org,
        target=membership,
        request=request,
        details={"role": invitation.role, "invitation_id": invitation.pk},
    )
    return membership


@transaction.atomic
def invitation_revoke(
    *, invitation: Invitation, actor, request: HttpRequest | None = None
) -> Invitation:
    if invitation.status != "pending":
        raise ValidationError(f"This invitation is {invitation.status}.")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit_record(
        action=Action.INVITATION_REVOKED,
        actor=actor,
        org=invitation.org,
        target=invitation,
        request=request,
        details={"email": invitation.email},
    )
    return invitation


def _lock_owners(org: Organization) -> int:
    # Locking the owners' rows serializes any two changes that could together
    # leave the organization without an owner.
    return len(
        list(
            Membership.objects.select_for_update()
            .for_org(org)
            .filter(role=Role.OWNER)
            .values_list("pk", flat=True)
        )
    )


@transaction.atomic
def membership_change_role(
    *,
    membership: Membership,
    role: str,
    actor_membership: Membership,
    request: HttpRequest | None = None,
) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    if role == membership.role:
        return membership
    _check_can_assign(actor_membership, role)
    _check_can_assign(actor_membership, membership.role)
    owners = _lock_owners(membership.org)
    if membership.role == Role.OWNER and owners <= 1:
        raise ValidationError("An organization needs at least one owner.")
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        action=Action.MEMBER_ROLE_CHANGED,
        actor=actor_membership.user,
        org=membership.org,
        target=membership,
        request=request,
        details={"user": membership.user.email, "from": old, "to": role},
    )
    return membership


def _revoke_member_tokens(membership: Membership, actor, request) -> None:
    # The tokens are the accounts app's (above this one): it listens.
    member_leaving.send(
        sender=Membership, membership=membership, actor=actor, request=request
    )


@transaction.atomic
def membership_remove(
    *,
    membership: Membership,
    actor_membership: Membership,
    request: HttpRequest | None = None,
) -> None:
    _check_can_assign(actor_membership, membership.role)
    owners = _lock_owners(membership.org)
    if membership.role == Role.OWNER and owners <= 1:
        raise ValidationError("The last owner cannot be removed.")
    _revoke_member_tokens(membership, actor_membership.user, request)
    audit_record(
        action=Action.MEMBER_REMOVED,
        actor=actor_membership.user,
        org=membership.org,
        target=membership,
        request=request,
        details={"user": membership.user.email, "role": membership.role},
    )
    membership.delete()


@transaction.atomic
def membership_leave(
    *, membership: Membership, request: HttpRequest | None = None
) -> None:
    owners = _lock_owners(membership.org)
    if membership.role == Role.OWNER and owners <= 1:
        raise ValidationError(
            "You are the last owner. Transfer ownership before you leave."
        )
    _revoke_member_tokens(membership, membership.user, request)
    audit_record(
        action=Action.MEMBER_LEFT,
        actor=membership.user,
        org=membership.org,
        target=membership,
        request=request,
        details={"role": membership.role},
    )
    membership.delete()


@transaction.atomic
def org_transfer_ownership(
    *,
    from_membership: Membership,
    to_membership: Membership,
    request: HttpRequest | None = None,
) -> None:
    if from_membership.org_id != to_membership.org_id:
        raise ValidationError("Both people must belong to the same organization.")
    if from_membership.role != Role.OWNER:
        raise PermissionDenied("Only an owner can transfer ownership.")
    if from_membership.pk == to_membership.pk:
        raise ValidationError("Choose another member.")
    _lock_owners(from_membership.org)
    to_membership.role = Role.OWNER
    to_membership.save(update_fields=["role"])
    from_membership.role = Role.ADMIN
    from_membership.save(update_fields=["role"])
    audit_record(
        action=Action.OWNERSHIP_TRANSFERRED,
        actor=from_membership.user,
        org=from_membership.org,
        target=to_membership,
        request=request,
        details={"from": from_membership.user.email, "to": to_membership.user.email},
    )


@transaction.atomic
def auditor_grant_create(
    *,
    org: Organization,
    email: str,
    window_start: date,
    window_end: date,
    access_expires_at: datetime,
    actor,
    request: HttpRequest | None = None,
    now: datetime | None = None,
) -> AuditorGrant:
    now = now or timezone.now()
    email = email.strip().lower()
    errors = {}
    if window_end < window_start:
        errors["window_end"] = "The window must end on or after its start."
    if access_expires_at <= now:
        errors["access_expires_at"] = "Access must expire in the future."
    if Membership.objects.for_org(org).filter(user__email__iexact=email).exists():
        errors["email"] = f"{email} is a member; auditors are outside the organization."
    if errors:
        raise ValidationError(errors)
    # Seats are what the plan or contract grants (None: unlimited).
    seats = auditor_seats(org=org, at=now)
    if seats is not None:
        used = AuditorGrant.objects.for_org(org).live(now=now).count()
        if used >= seats:
            raise ValidationError(
                f"All {seats} auditor seats are in use; revoke a grant or upgrade."
                if seats
                else "Your plan includes no auditor seats; upgrade to add auditors."
            )
    grant = AuditorGrant.objects.create(
        org=org,
        email=email,
        window_start=window_start,
        window_end=window_end,
        access_expires_at=access_expires_at,
        created_by=actor,
        created_at=now,
    )
    audit_record(
        action=Action.AUDITOR_GRANTED,
        actor=actor,
        org=org,
        target=grant,
        request=request,
        details={
            "email": email,
            "window_start": window_start.isoformat(),
            "window_end": window_end.isoformat(),
            "access_expires_at": access_expires_at.isoformat(),
        },
    )
    _send(
        to=email,
        subject=f"Auditor access to {org.name}",
        template="orgs/email/auditor_grant.txt",
        context={"grant": grant, "org": org, "path": reverse("auditor_home")},
    )
    return grant


@transaction.atomic
def auditor_grant_revoke(
    *, grant: AuditorGrant, actor, request: HttpRequest | None = None
) -> AuditorGrant:
    if grant.revoked_at is not None:
        raise ValidationError("This grant is already revoked.")
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    audit_record(
        action=Action.AUDITOR_REVOKED,
        actor=actor,
        org=grant.org,
        target=grant,
        request=request,
        details={"email": grant.email},
    )
    return grant
