"""Tenancy walker specs for organizations: their pages, members, invitations,
auditor grants, and the pages outside any organization (tests/test_tenancy.py)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.orgs.models import AuditorGrant, Invitation, Membership, Organization, Role
from tests.walker import (
    ADMIN,
    AUDITOR,
    MANAGERS,
    MEMBER,
    OWNER,
    ROLES,
    ApiOp,
    ApiRoute,
    Expect,
    OrgRoute,
    Outcome,
    Post,
    SiteRoute,
    future,
    ids,
    url,
)

Scope = ApiToken.Scope


def _membership(outcome: Outcome, key: str = "member_pk") -> Membership | None:
    return Membership.objects.filter(pk=outcome.world.refs[key]).first()


def _role_changed(o: Outcome) -> None:
    assert _membership(o).role == Role.BILLING
    assert o.new_events(AuditEvent.Action.MEMBER_ROLE_CHANGED)


def _member_removed(o: Outcome) -> None:
    assert _membership(o) is None
    assert o.new_events(AuditEvent.Action.MEMBER_REMOVED)


def _invitation_revoked(o: Outcome) -> None:
    assert Invitation.objects.get(pk=o.world.refs["invitation_pk"]).revoked_at
    assert o.new_events(AuditEvent.Action.INVITATION_REVOKED)


def _invited(o: Outcome) -> None:
    assert Invitation.objects.for_org(o.world.org).filter(email="new@acme.example")
    assert o.new_events(AuditEvent.Action.INVITATION_CREATED)


def _left(o: Outcome) -> None:
    assert not Membership.objects.filter(org=o.world.org, user=o.user).exists()
    assert o.new_events(AuditEvent.Action.MEMBER_LEFT)


def _transferred(o: Outcome) -> None:
    assert _membership(o).role == Role.OWNER
    owner = Membership.objects.get(pk=o.world.memberships[OWNER].pk)
    assert owner.role == Role.ADMIN
    assert o.new_events(AuditEvent.Action.OWNERSHIP_TRANSFERRED)


def _renamed(o: Outcome) -> None:
    assert Organization.objects.get(pk=o.world.org.pk).name == "Acme Renamed"
    assert o.new_events(AuditEvent.Action.ORG_UPDATED)


def _granted(o: Outcome) -> None:
    assert AuditorGrant.objects.for_org(o.world.org).filter(email="new@audit.example")
    assert o.new_events(AuditEvent.Action.AUDITOR_GRANTED)


def _grant_revoked(o: Outcome) -> None:
    assert AuditorGrant.objects.get(pk=o.world.refs["grant_pk"]).revoked_at
    assert o.new_events(AuditEvent.Action.AUDITOR_REVOKED)


ORG_ROUTES = [
    OrgRoute(
        "orgs:dashboard",
        get=frozenset(ROLES),
        # The guard admits auditors here only to send them to their page.
        overrides={
            (AUDITOR, "GET"): Expect(302, url("orgs:evidence")),
            (AUDITOR, "POST"): Expect(405),
        },
    ),
    OrgRoute("orgs:evidence", get=frozenset({OWNER, ADMIN, MEMBER, AUDITOR})),
    OrgRoute(
        "orgs:members",
        get=frozenset({OWNER, ADMIN, MEMBER}),
        post=Post(
            MANAGERS,
            data=lambda r: {"email": "new@acme.example", "role": Role.MEMBER},
            location=url("orgs:members"),
            effect=_invited,
        ),
    ),
    OrgRoute(
        "orgs:member_role",
        kwargs={"org_slug": "org_slug", "pk": "member_pk"},
        post=Post(
            MANAGERS,
            data=lambda r: {"role": Role.BILLING},
            location=url("orgs:members"),
            effect=_role_changed,
        ),
    ),
    OrgRoute(
        "orgs:member_remove",
        kwargs={"org_slug": "org_slug", "pk": "member_pk"},
        post=Post(MANAGERS, location=url("orgs:members"), effect=_member_removed),
    ),
    OrgRoute(
        "orgs:invitation_revoke",
        kwargs={"org_slug": "org_slug", "pk": "invitation_pk"},
        post=Post(MANAGERS, location=url("orgs:members"), effect=_invitation_revoked),
    ),
    OrgRoute(
        "orgs:leave",
        get=frozenset(ROLES),
        post=Post(
            frozenset(ROLES),
            location=lambda w: reverse("org_list"),
            effect=_left,
        ),
        # The only owner may not leave: sent back, nothing changes.
        overrides={(OWNER, "POST"): Expect(302, url("orgs:leave"))},
    ),
    OrgRoute(
        "orgs:transfer",
        get=frozenset({OWNER}),
        post=Post(
            frozenset({OWNER}),
            data=lambda r: {"membership_id": r["member_pk"]},
            location=url("orgs:members"),
            effect=_transferred,
        ),
        body_refs=("member_pk",),
    ),
    OrgRoute(
        "orgs:settings",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {"name": "Acme Renamed"},
            location=url("orgs:settings"),
            effect=_renamed,
        ),
    ),
    OrgRoute(
        "orgs:auditors",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {
                "email": "new@audit.example",
                "window_start": "2026-01-01",
                "window_end": "2026-03-31",
                "access_expires_at": future(),
            },
            location=url("orgs:auditors"),
            effect=_granted,
        ),
    ),
    OrgRoute(
        "orgs:auditor_revoke",
        kwargs={"org_slug": "org_slug", "pk": "grant_pk"},
        post=Post(MANAGERS, location=url("orgs:auditors"), effect=_grant_revoked),
    ),
]


def _home(p: str) -> Expect:
    if p in (OWNER, MEMBER):
        return Expect(302, url("orgs:dashboard"))
    if p == "outsider":
        return Expect(302, lambda w: reverse("orgs:dashboard", args=[w.other_org.slug]))
    return Expect(302, lambda w: reverse("org_list"))


def _org_list(p: str) -> Expect:
    if p in (OWNER, MEMBER):
        return Expect(200, contains=("/o/acme/",))
    if p == AUDITOR:
        return Expect(200, contains=("/o/acme/evidence/",))
    return Expect(200)


def _org_created(o: Outcome) -> None:
    created = Organization.objects.get(name="Walker Org")
    assert Membership.objects.get(org=created, user=o.user).role == Role.OWNER


def _auditor_home(p: str) -> Expect:
    if p == AUDITOR:
        return Expect(200, contains=("/o/acme/evidence/",))
    return Expect(200)


def _joined(o: Outcome) -> None:
    assert Membership.objects.get(org=o.world.org, user=o.user).role == Role.MEMBER
    assert Invitation.objects.get(pk=o.world.refs["invitation_pk"]).accepted_at


def _invitation_get(p: str) -> Expect:
    # The link's token is the secret: whoever holds it may read the invitation.
    return Expect(200, shows_victim=True)


def _invitation_post(p: str) -> Expect:
    if p == "stranger":  # the invitee
        return Expect(302, url("orgs:dashboard"), _joined, shows_victim=True)
    return Expect(400, shows_victim=True)  # addressed to someone else


SITE_ROUTES = [
    SiteRoute("home", get=_home, post=lambda p: Expect(405)),
    SiteRoute(
        "org_list",
        get=_org_list,
        post=lambda p: Expect(
            302,
            lambda w: reverse("orgs:dashboard", args=["walker-org"]),
            effect=_org_created,
        ),
        data=lambda r: {"name": "Walker Org"},
    ),
    SiteRoute("auditor_home", get=_auditor_home, post=lambda p: Expect(405)),
    SiteRoute(
        "invitation_accept",
        kwargs={"token": "invitation_token"},
        get=_invitation_get,
        post=_invitation_post,
    ),
]


def _api_grant_created(o: Outcome) -> None:
    grant = AuditorGrant.objects.for_org(o.world.org).get(email="api@audit.example")
    assert o.response.json()["id"] == grant.pk
    assert o.new_events(AuditEvent.Action.AUDITOR_GRANTED)


def _api_grant_revoked(o: Outcome) -> None:
    assert AuditorGrant.objects.get(pk=o.world.refs["grant_pk"]).revoked_at
    assert o.new_events(AuditEvent.Action.AUDITOR_REVOKED)


def _api_grant_body(refs: dict) -> dict:
    return {
        "email": "api@audit.example",
        "window_start": "2026-01-01",
        "window_end": "2026-03-31",
        "access_expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
    }


API_ROUTES = [
    ApiRoute("api:org-current", get=ApiOp(Scope.ORG_READ, other="current")),
    ApiRoute(
        "api:member-list",
        get=ApiOp(Scope.MEMBERS_READ, other="list"),
        rows=ids(Membership),
    ),
    ApiRoute(
        "api:member-detail",
        kwargs={"pk": "member_pk"},
        get=ApiOp(Scope.MEMBERS_READ),
    ),
    ApiRoute(
        "api:auditorgrant-list",
        get=ApiOp(Scope.AUDITORS_READ, other="list"),
        post=ApiOp(
            Scope.AUDITORS_WRITE,
            status=201,
            data=_api_grant_body,
            effect=_api_grant_created,
            # Another org's token creates the grant in its own org (the walk's
            # default check for "create").
            other="create",
        ),
        rows=ids(AuditorGrant),
    ),
    ApiRoute(
        "api:auditorgrant-detail",
        kwargs={"pk": "grant_pk"},
        get=ApiOp(Scope.AUDITORS_READ),
    ),
    ApiRoute(
        "api:auditorgrant-revoke",
        kwargs={"pk": "grant_pk"},
        post=ApiOp(Scope.AUDITORS_WRITE, effect=_api_grant_revoked),
    ),
]

SPECS = [*ORG_ROUTES, *SITE_ROUTES, *API_ROUTES]
