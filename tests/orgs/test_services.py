from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.orgs import services
from apps.orgs.models import Invitation, Membership, Organization, Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def actions(org):
    return list(
        AuditEvent.objects.for_org(org).order_by("id").values_list("action", flat=True)
    )


def test_org_create_makes_creator_owner_and_logs_it(
    user, django_capture_on_commit_callbacks
):
    org = services.org_create(name="  Initech  ", owner=user)
    assert org.name == "Initech"
    assert org.slug == "initech"
    assert Membership.objects.get(org=org, user=user).role == Role.OWNER
    assert actions(org) == [Action.ORG_CREATED, Action.MEMBER_JOINED]


def test_org_create_gives_unique_slugs_and_avoids_reserved_ones(user):
    first = services.org_create(name="Initech", owner=user)
    second = services.org_create(name="Initech", owner=user)
    reserved = services.org_create(name="Admin", owner=user)
    assert (first.slug, second.slug) == ("initech", "initech-2")
    assert reserved.slug == "admin-org"


def test_org_create_rejects_blank_name_and_writes_nothing(user):
    with pytest.raises(ValidationError):
        services.org_create(name="   ", owner=user)
    assert not Organization.objects.exists()
    assert not AuditEvent.objects.exists()


def test_invitation_mails_a_single_use_link_and_accepting_joins(
    org, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = services.invitation_create(
            org=org, email="New@Example.com", role=Role.ADMIN, actor_membership=owner
        )
    assert invitation.email == "new@example.com"
    assert len(mail.outbox) == 1
    assert f"/invitations/{token}/" in mail.outbox[0].body
    assert token not in invitation.token_hash

    newcomer = UserFactory(email="new@example.com")
    membership = services.invitation_accept(raw_token=token, user=newcomer)
    assert membership.role == Role.ADMIN
    with pytest.raises(ValidationError, match="already been used"):
        services.invitation_accept(raw_token=token, user=newcomer)
    assert Action.INVITATION_ACCEPTED in actions(org)


def test_expired_invitation_is_refused(org, owner):
    _, token = services.invitation_create(
        org=org,
        email="late@example.com",
        role=Role.MEMBER,
        actor_membership=owner,
        now=timezone.now() - timedelta(days=30),
    )
    late = UserFactory(email="late@example.com")
    with pytest.raises(ValidationError, match="expired"):
        services.invitation_accept(raw_token=token, user=late)
    assert not Membership.objects.filter(user=late).exists()


def test_invitation_for_someone_else_is_refused(org, owner):
    _, token = services.invitation_create(
        org=org, email="intended@example.com", role=Role.MEMBER, actor_membership=owner
    )
    stranger = UserFactory(email="stranger@example.com")
    with pytest.raises(ValidationError, match=r"intended@example\.com"):
        services.invitation_accept(raw_token=token, user=stranger)
    assert Invitation.objects.get().accepted_at is None


def test_unknown_and_revoked_invitation_tokens_are_refused(org, owner):
    invitation, token = services.invitation_create(
        org=org, email="x@example.com", role=Role.MEMBER, actor_membership=owner
    )
    services.invitation_revoke(invitation=invitation, actor=owner.user)
    x = UserFactory(email="x@example.com")
    with pytest.raises(ValidationError, match="withdrawn"):
        services.invitation_accept(raw_token=token, user=x)
    with pytest.raises(ValidationError, match="not valid"):
        services.invitation_accept(raw_token="not-a-token", user=x)


def test_reinviting_replaces_the_pending_invitation(org, owner):
    first, _ = services.invitation_create(
        org=org, email="twice@example.com", role=Role.MEMBER, actor_membership=owner
    )
    services.invitation_create(
        org=org, email="twice@example.com", role=Role.ADMIN, actor_membership=owner
    )
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert Invitation.objects.for_org(org).pending().get().role == Role.ADMIN


def test_inviting_an_existing_member_is_an_error(org, owner, member):
    with pytest.raises(ValidationError, match="already a member"):
        services.invitation_create(
            org=org, email=member.user.email, role=Role.MEMBER, actor_membership=owner
        )


def test_admin_cannot_invite_an_owner(org, admin):
    with pytest.raises(PermissionDenied):
        services.invitation_create(
            org=org, email="boss@example.com", role=Role.OWNER, actor_membership=admin
        )
    assert not Invitation.objects.exists()


def test_last_owner_cannot_leave_or_be_demoted_or_removed(org, owner, admin):
    with pytest.raises(ValidationError, match="last owner"):
        services.membership_leave(membership=owner)
    with pytest.raises(ValidationError, match="at least one owner"):
        services.membership_change_role(
            membership=owner, role=Role.ADMIN, actor_membership=owner
        )
    co_owner = MembershipFactory(org=org, role=Role.OWNER)
    services.membership_leave(membership=owner)
    with pytest.raises(ValidationError, match="last owner"):
        services.membership_remove(membership=co_owner, actor_membership=co_owner)
    assert Membership.objects.filter(pk=co_owner.pk, role=Role.OWNER).exists()


def test_admin_cannot_touch_owners(org, owner, admin):
    with pytest.raises(PermissionDenied):
        services.membership_change_role(
            membership=owner, role=Role.MEMBER, actor_membership=admin
        )
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=owner, actor_membership=admin)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_role_change_is_logged_with_before_and_after(org, owner, member):
    services.membership_change_role(
        membership=member, role=Role.BILLING, actor_membership=owner
    )
    event = AuditEvent.objects.get(action=Action.MEMBER_ROLE_CHANGED)
    assert event.details == {
        "user": member.user.email,
        "from": "member",
        "to": "billing",
    }
    assert event.actor == owner.user


def test_removing_a_member_revokes_their_tokens(org, owner, admin):
    token, _ = api_token_create(
        org=org, name="deploy", scopes=["org:read"], expires_at=None, actor=admin.user
    )
    services.membership_remove(membership=admin, actor_membership=owner)
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert not Membership.objects.filter(pk=admin.pk).exists()
    assert Action.TOKEN_REVOKED in actions(org)


def test_transfer_ownership_swaps_roles(org, owner, member):
    services.org_transfer_ownership(from_membership=owner, to_membership=member)
    owner.refresh_from_db()
    member.refresh_from_db()
    assert (owner.role, member.role) == (Role.ADMIN, Role.OWNER)
    assert Action.OWNERSHIP_TRANSFERRED in actions(org)


def test_transfer_across_orgs_is_refused(org, owner, outsider):
    with pytest.raises(ValidationError):
        services.org_transfer_ownership(from_membership=owner, to_membership=outsider)
    outsider.refresh_from_db()
    assert outsider.org_id != org.pk


def test_auditor_grant_validates_and_writes_nothing_on_error(org, owner):
    today = timezone.now().date()
    with pytest.raises(ValidationError) as excinfo:
        services.auditor_grant_create(
            org=org,
            email="aud@example.com",
            window_start=today,
            window_end=today - timedelta(days=1),
            access_expires_at=timezone.now() - timedelta(minutes=1),
            actor=owner.user,
        )
    assert set(excinfo.value.message_dict) == {"window_end", "access_expires_at"}
    assert not org.auditor_grants.exists()
    assert Action.AUDITOR_GRANTED not in actions(org)


def test_auditor_grant_gives_read_only_access_until_it_expires(org, owner):
    from apps.orgs.permissions import Perm
    from apps.orgs.selectors import org_access_get

    auditor = UserFactory(email="aud@example.com")
    today = timezone.now().date()
    grant = services.auditor_grant_create(
        org=org,
        email="AUD@example.com",
        window_start=today - timedelta(days=90),
        window_end=today,
        access_expires_at=timezone.now() + timedelta(days=1),
        actor=owner.user,
    )
    access = org_access_get(user=auditor, org=org)
    assert access.is_auditor
    assert access.can(Perm.EVIDENCE_VIEW)
    assert not access.can(Perm.MEMBERS_VIEW)
    assert not access.can(Perm.AUDIT_VIEW)
    assert org_access_get(user=auditor, org=org, now=grant.access_expires_at) is None
    services.auditor_grant_revoke(grant=grant, actor=owner.user)
    assert org_access_get(user=auditor, org=org) is None
    with pytest.raises(ValidationError):
        services.auditor_grant_revoke(grant=grant, actor=owner.user)


def test_org_update_logs_only_real_changes(org, owner):
    services.org_update(org=org, actor=owner.user, name="Acme", require_mfa=False)
    assert Action.ORG_UPDATED not in actions(org)
    services.org_update(org=org, actor=owner.user, name="Acme", require_mfa=True)
    event = AuditEvent.objects.get(action=Action.ORG_UPDATED)
    assert event.details == {"changes": {"require_mfa": [False, True]}}


def test_token_secret_is_never_stored(org, owner):
    token, raw = api_token_create(
        org=org, name="ci", scopes=["org:read"], expires_at=None, actor=owner.user
    )
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert all(raw not in str(value) for value in row.values())
    assert raw.startswith(f"hip_{token.prefix}_")


def test_only_staff_tokens_may_load_catalog_evidence(org, owner):
    with pytest.raises(ValidationError, match="publisher staff"):
        api_token_create(
            org=org,
            name="loader",
            scopes=[ApiToken.Scope.CATALOG_WRITE],
            expires_at=None,
            actor=owner.user,
        )
    staff = UserFactory(is_staff=True)
    token, _ = api_token_create(
        org=org,
        name="loader",
        scopes=[ApiToken.Scope.CATALOG_WRITE],
        expires_at=None,
        actor=staff,
    )
    assert token.scopes == ["catalog:write"]
