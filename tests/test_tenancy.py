"""The tenancy route walker.

Every URL pattern the project serves is discovered from the resolver and must
be covered by a spec in one of the tables below (WEB_ORG_ROUTES, WEB_SITE_ROUTES,
PUBLIC_ROUTES, API_ROUTES), except whole families that belong to someone else
and are tested elsewhere (EXCLUDED_FAMILIES, each with its reason). A new view
without a spec fails ``test_every_route_has_a_spec``.

Each spec is then requested by every principal:

* ``anonymous``: web pages send to the login page, public pages answer, the API
  answers 401;
* ``outsider``: the owner of another organization asking for the victim's slug
  gets 404, and ``outsider_own``: the same person asking for their *own* slug
  with the victim's object ids (in the URL or the form) also gets 404;
* ``stranger`` (signed in, no organization) and ``staff`` (is_staff, no
  organization) get 404 on organization pages;
* each role of the victim organization and an ``auditor`` (a live grant for the
  user's email) get 200/302 where the role may, 403 where it may not;
* on the API: a token of another organization gets 404 on the victim's objects
  and only its own rows from lists, a token without the scope gets 403, a token
  with exactly the scope gets 200/201, a session without a token gets 401.

Whatever a request was expected to refuse must leave the database as it was:
every request is bracketed by a fingerprint of every tenant table, and a
request whose spec declares no effect must leave it unchanged. A request that
is allowed to change something must show the change (``effect``).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import resolve, reverse
from django.utils import timezone

from apps.accounts.models import ApiToken, OrgSsoConnection
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.billing.models import BillingAccount, Invoice, StripeEvent, Subscription
from apps.customizations.models import Customization
from apps.entitlements.models import Entitlement, Mirror
from apps.notifications.models import Delivery, WebhookEndpoint
from apps.notifications.services import webhook_endpoint_create
from apps.orgs.models import AuditorGrant, Invitation, Membership, Organization, Role
from apps.orgs.services import invitation_create
from apps.reports.models import Report, ReportDownload
from apps.sla.models import (
    LedgerCheckRun,
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import AuditorGrantFactory, MembershipFactory, UserFactory
from tests.walker import Route, discover_routes

Scope = ApiToken.Scope
# Org tokens: catalog:write is for publisher staff and covered by its own specs.
ALL_SCOPES = tuple(s for s in Scope.values if s != Scope.CATALOG_WRITE)

# The victim organization is conftest's ``org`` ("Acme", slug "acme"). Nothing of
# it may appear in a page or API answer given to someone outside it.
VICTIM_MARKER = "acme"

# --------------------------------------------------------------------------
# Families of routes that are someone else's, each with the reason.
# --------------------------------------------------------------------------

ALLAUTH_NAME_PREFIXES = (
    "account_",
    "mfa_",
    "usersessions_",
    "socialaccount_",
    "openid_connect_",
)


@dataclass(frozen=True)
class Family:
    reason: str
    match: Callable[[Route], bool]


EXCLUDED_FAMILIES = {
    "django-admin": Family(
        "Django's admin site: staff only, guarded by AdminSite.admin_view; "
        "test_admin_sends_anonymous_and_non_staff_to_admin_login asserts that "
        "every admin route sends anonymous and non-staff users to the admin login",
        lambda r: r.namespace == "admin" or r.namespace.startswith("admin:"),
    ),
    "allauth": Family(
        "allauth's own views (account_*, mfa_*, usersessions_*, socialaccount_*, "
        "openid_connect_*): sign-in, MFA, sessions and SSO callbacks are not "
        "organization-scoped, are tested by allauth and by tests/accounts; "
        "test_allauth_family_holds_only_allauth_views checks the family",
        lambda r: r.includes[:1] == ("allauth.urls",),
    ),
    "staff-evidence-api": Family(
        "the publisher staff's evidence-loading and build-registering endpoints "
        "are not organization-scoped: they take only a staff-created token with "
        "catalog:write; tests/catalog/test_ingest_door.py and "
        "tests/catalog/test_build_register.py walk anonymous, session, org tokens "
        "and staff tokens through them",
        lambda r: r.name in ("api:evidence-import", "api:build-register"),
    ),
    "static-media": Family(
        "static files and uploaded media are served by whitenoise / the web "
        "server, not by project views",
        lambda r: r.route.startswith(
            (settings.STATIC_URL.lstrip("/"), settings.MEDIA_URL.lstrip("/"))
        ),
    ),
}


def excluded_family(route: Route) -> str | None:
    for name, family in EXCLUDED_FAMILIES.items():
        if family.match(route):
            return name
    return None


# --------------------------------------------------------------------------
# The world: a victim organization with one of everything, another tenant with
# the same, and one person for each principal.
# --------------------------------------------------------------------------


@dataclass
class World:
    org: Organization
    other_org: Organization
    users: dict  # principal -> User
    refs: dict  # the victim's slug and object ids, by name
    other_refs: dict  # the other tenant's, by the same names
    memberships: dict  # role -> the victim's Membership of that principal


def _sla_ledger(org: Organization) -> dict:
    """A breached SLA clock with a waiver another staff member requested, and
    a contract policy. Named by id: catalog rows are public."""
    repo = catalog.repository(f"sla-{org.pk}")
    image = catalog.build(catalog.series(repo, "1.0"))
    vuln = catalog.vulnerability(f"CVE-2030-{org.pk:05d}")
    finding = catalog.finding(image, vuln, catalog.component(f"sla-lib-{org.pk}"))
    policy = SlaPolicy.objects.create(key=f"walker-{org.pk}", name=f"Walker {org.pk}")
    version = SlaPolicyVersion.objects.create(policy=policy, version=1, high_days=7)
    now = timezone.now()
    clock = SlaClock.objects.create(
        org=org,
        finding=finding,
        policy_version=version,
        severity="high",
        start_event="upstream_fix",
        started_at=now - timedelta(days=10),
        due_at=now - timedelta(days=1),
        at_risk_at=now - timedelta(days=3),
        state=SlaClock.State.BREACHED,
    )
    requester = UserFactory(email=f"requester-{org.pk}@portal.example", is_staff=True)
    waiver = SlaWaiver.objects.create(
        clock=clock,
        requested_by=requester,
        reason="Upstream fix pending",
        expires_at=now + timedelta(days=7),
    )
    # The customer's SLA pages show the ledger (not the plans) while entitled.
    entitle(org, "sla")
    return {
        "sla_clock_pk": clock.pk,
        "sla_waiver_pk": waiver.pk,
        "sla_policy_pk": policy.pk,
    }


def _populate(org: Organization, owner: Membership, tag: str, invitee: str) -> dict:
    """One of every tenant-owned object, named after ``tag``."""
    target = MembershipFactory(
        org=org, role=Role.MEMBER, user=UserFactory(email=f"target@{tag}.example")
    )
    invitation, raw = invitation_create(
        org=org,
        email=invitee,
        role=Role.MEMBER,
        actor_membership=owner,
    )
    token, _ = api_token_create(
        org=org,
        name=f"{tag}-ci-token",
        scopes=[Scope.MEMBERS_READ],
        expires_at=None,
        actor=owner.user,
    )
    grant = AuditorGrantFactory(
        org=org, email=f"ext@{tag}-audit.example", created_by=owner.user
    )
    event = AuditEvent.objects.for_org(org).order_by("-id").first()
    # Catalog rows are public: no org name in them (VICTIM_MARKER).
    mirrored = catalog.repository(f"mirrored-{org.pk}")
    mirror = Mirror.objects.create(org=org, repository=mirrored, created_by=owner.user)
    (entitlement,) = entitle(org, "fips", repository=mirrored)
    # Both tenants mirror the same repository: the API's create works for each.
    base = catalog.repository("custom-base")
    Mirror.objects.create(org=org, repository=base, created_by=owner.user)
    entitle(org, "customizations")
    customization = Customization.objects.create(
        org=org, repository=base, name=f"{tag}-recipe", created_by=owner.user
    )
    # Billing: a customer, a subscription, an invoice and a received event.
    BillingAccount.objects.create(org=org, stripe_customer_id=f"cus_{tag}")
    Subscription.objects.create(
        org=org,
        stripe_subscription_id=f"sub_{tag}",
        stripe_customer_id=f"cus_{tag}",
        status=Subscription.Status.ACTIVE,
    )
    Invoice.objects.create(
        org=org,
        stripe_invoice_id=f"in_{tag}",
        number=f"{tag.upper()}-0001",
        status="paid",
        currency="usd",
        stripe_created=timezone.now(),
    )
    stripe_event = StripeEvent.objects.create(
        event_id=f"evt_{tag}",
        type="plan.created",
        stripe_created=timezone.now(),
        payload={"id": f"evt_{tag}", "data": {"object": {}}},
        org=org,
    )
    report = _ready_report(org, owner)
    return {
        "org_slug": org.slug,
        "report_public_id": str(report.public_id),
        "stripe_event_pk": stripe_event.pk,
        "member_pk": target.pk,
        "invitation_pk": invitation.pk,
        "invitation_token": raw,
        "token_pk": token.pk,
        "grant_pk": grant.pk,
        "event_pk": event.pk,
        "mirror_pk": mirror.pk,
        "entitlement_pk": entitlement.pk,
        "customization_pk": customization.pk,
        **_sla_ledger(org),
        **_webhooks(org, owner, tag),
    }


def _ready_report(org: Organization, owner: Membership) -> Report:
    """A ready report whose window lies inside the walker auditor's grant."""
    from django.core.files.base import ContentFile

    today = timezone.now().date()
    report = Report.objects.create(
        request_id=f"walker-{org.pk}",
        kind=Report.Kind.ORG_COMPLIANCE,
        org=org,
        window_start=today - timedelta(days=30),
        window_end=today - timedelta(days=1),
        data_cutoff=timezone.now(),
        requested_by=owner.user,
        status=Report.Status.READY,
        sha256="0" * 64,
        media_type="application/pdf",
    )
    report.file.save(f"walker-{org.pk}.pdf", ContentFile(b"%PDF-1.7 walker"))
    return report


def _webhooks(org: Organization, owner: Membership, tag: str) -> dict:
    endpoint, _ = webhook_endpoint_create(
        org=org,
        url=f"https://hooks.{tag}.example/sla",
        events=["sla.breached"],
        actor=owner.user,
    )
    Delivery.objects.create(
        org=org,
        endpoint=endpoint,
        message_id=f"msg_{tag}",
        event_type="sla.notices",
        payload={"data": {"clocks": []}},
    )
    return {"webhook_pk": endpoint.pk}


def _catalog_refs() -> dict:
    """The public catalog: one of each thing its pages and API show. It belongs
    to no organization, so every principal sees the same."""
    repo = catalog.repository("python")
    series = catalog.series(repo, "3.12", els=1200)
    image = catalog.build(series, tags=["3.12"])
    attestation = catalog.sbom(image)
    component = catalog.component("zlib")
    catalog.contains(image, component, attestation)
    vuln = catalog.vulnerability("CVE-2024-0001")
    finding = catalog.finding(image, vuln, component)
    statement = catalog.vex(vuln, image=image)
    return {
        "repository_name": repo.name,
        "series_pk": series.pk,
        "digest": image.digest,
        "attestation_pk": attestation.pk,
        "component_pk": component.pk,
        "vuln_id": vuln.vuln_id,
        "finding_pk": finding.pk,
        "vex_statement_pk": statement.pk,
        "vex_document_pk": statement.document_id,
    }


def _stig_checklist_refs() -> dict:
    """A STIG build with a scan: its checklists are STIG evidence, which no
    organization of the walk is entitled to."""
    from apps.stig.services import stig_scan_import
    from tests.stig.builders import xccdf

    series = catalog.series(catalog.repository("python"), "3.12", els=1200)
    image = catalog.build(series, stig=True)
    stig_scan_import(image=image, content=xccdf([(1, "high", "fail")]))
    return {"stig_scan_digest": image.digest}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    # Catalog evidence is stored as files.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def world(org, other_org, owner, admin, member, billing, outsider) -> World:
    auditor = UserFactory(email="auditor@audit.example")
    AuditorGrantFactory(org=org, email=auditor.email, created_by=owner.user)
    # The victim's pending invitation is for the stranger.
    stranger = UserFactory(email="newcomer@example.net")
    staff = UserFactory(email="staff@portal.example", is_staff=True)
    refs = _populate(org, owner, "acme", invitee=stranger.email)
    refs.update(_catalog_refs())
    refs.update(_stig_checklist_refs())
    other_refs = _populate(
        other_org, outsider, "globex", invitee="newcomer-globex@example.net"
    )
    users = {
        "owner": owner.user,
        "admin": admin.user,
        "member": member.user,
        "billing": billing.user,
        "auditor": auditor,
        "outsider": outsider.user,
        "outsider_own": outsider.user,
        "stranger": stranger,
        "staff": staff,
    }
    memberships = {"owner": owner, "admin": admin, "member": member, "billing": billing}
    return World(org, other_org, users, refs, other_refs, memberships)


def fingerprint() -> dict:
    """Every tenant table's rows, minus what reading legitimately touches
    (``ApiToken.last_used_at``, sessions, ``User.last_login``)."""
    return {
        "orgs": sorted(
            Organization.objects.values_list("id", "name", "slug", "require_mfa")
        ),
        "memberships": sorted(
            Membership.objects.values_list("id", "org_id", "user_id", "role")
        ),
        "invitations": sorted(
            Invitation.objects.values_list(
                "id", "org_id", "email", "role", "accepted_at", "revoked_at"
            )
        ),
        "tokens": sorted(
            ApiToken.objects.values_list(
                "id", "org_id", "name", "expires_at", "revoked_at", "revoked_by_id"
            )
        ),
        "grants": sorted(
            AuditorGrant.objects.values_list(
                "id", "org_id", "email", "access_expires_at", "revoked_at"
            )
        ),
        "sso": sorted(OrgSsoConnection.objects.values_list("id", "org_id", "enabled")),
        "events": sorted(AuditEvent.objects.values_list("id", flat=True)),
        "entitlements": sorted(
            Entitlement.objects.values_list("id", "org_id", "ends_at")
        ),
        "mirrors": sorted(
            Mirror.objects.values_list("id", "org_id", "repository_id", "status")
        ),
        "billing": sorted(
            BillingAccount.objects.values_list("id", "org_id", "stripe_customer_id")
        ),
        "subscriptions": sorted(
            Subscription.objects.values_list("id", "org_id", "status")
        ),
        "stripe_events": sorted(
            StripeEvent.objects.values_list("id", "processed_at", "attempts")
        ),
        "customizations": sorted(
            Customization.objects.values_list("id", "org_id", "name", "archived_at")
        ),
        "sla_clocks": sorted(SlaClock.objects.values_list("id", "state")),
        "webhooks": sorted(
            WebhookEndpoint.objects.values_list("id", "org_id", "secret", "enabled")
        ),
        "sla_waivers": sorted(SlaWaiver.objects.values_list("id", "state")),
        "sla_policy_versions": sorted(SlaPolicyVersion.objects.values_list("id")),
        "sla_assignments": sorted(SlaPolicyAssignment.objects.values_list("id")),
        "reports": sorted(Report.objects.values_list("id", "org_id", "status")),
        "report_downloads": sorted(ReportDownload.objects.values_list("id", "org_id")),
        "ledger_checks": sorted(LedgerCheckRun.objects.values_list("id")),
    }


@dataclass
class Outcome:
    world: World
    principal: str
    before: dict
    after: dict
    response: object

    @property
    def user(self):
        return self.world.users.get(self.principal)

    def new_events(self, action: str) -> list[AuditEvent]:
        new = set(self.after["events"]) - set(self.before["events"])
        return list(AuditEvent.objects.filter(id__in=new, action=action))


Effect = Callable[[Outcome], None]
Location = Callable[[World], str]
LOGIN = "login"


@dataclass(frozen=True)
class Expect:
    status: int
    location: Location | str | None = None  # LOGIN, or the exact URL
    effect: Effect | None = None  # None: nothing may change
    contains: tuple[str, ...] = ()
    # May the answer mention the victim org to someone outside it? (Those in
    # it, VICTIM_SIDE, may always see it.)
    shows_victim: bool = False


# --------------------------------------------------------------------------
# Organization pages: /o/<org_slug>/...
# --------------------------------------------------------------------------

OWNER, ADMIN, MEMBER, BILLING = "owner", "admin", "member", "billing"
AUDITOR = "auditor"
ROLES = (OWNER, ADMIN, MEMBER, BILLING)
NOT_IN_ORG = ("outsider", "outsider_own", "stranger", "staff")
WEB_PRINCIPALS = ("anonymous", *ROLES, AUDITOR, *NOT_IN_ORG)
# Principals that belong to the victim org (its people, its tokens).
VICTIM_SIDE = frozenset({*ROLES, AUDITOR, "session", "wrong_scope", "right_scope"})


def url(name: str, **kwargs) -> Location:
    """A location in the victim org (``org_slug`` is filled in)."""

    def build(w: World) -> str:
        return reverse(name, kwargs={"org_slug": w.org.slug, **kwargs})

    return build


@dataclass(frozen=True)
class Post:
    allow: frozenset[str]
    data: Callable[[dict], dict] = lambda refs: {}
    status: int = 302
    location: Location | None = None
    effect: Effect | None = None


@dataclass(frozen=True)
class OrgRoute:
    name: str
    kwargs: dict[str, str] = field(default_factory=lambda: {"org_slug": "org_slug"})
    get: frozenset[str] | None = None  # who gets 200; None: GET is not served
    post: Post | None = None  # None: POST is not served
    # Exceptions to the rules in ``expect``, by (principal, method).
    overrides: dict[tuple[str, str], Expect] = field(default_factory=dict)
    # refs the POST body names: object ids an outsider could smuggle in
    body_refs: tuple[str, ...] = ()

    @property
    def has_object_refs(self) -> bool:
        return any(k != "org_slug" for k in self.kwargs) or bool(self.body_refs)

    def principals(self, method: str):
        for p in WEB_PRINCIPALS:
            # Their own organization with the victim's objects: only where a
            # served method acts on an object id.
            if p == "outsider_own" and not (method == "POST" and self.has_object_refs):
                continue
            yield p

    def expect(self, principal: str, method: str) -> Expect:
        if principal == "anonymous":
            return Expect(302, LOGIN)
        if principal in NOT_IN_ORG:
            # Another tenant's organization, or another tenant's object in
            # one's own organization: not found, never forbidden.
            return Expect(404)
        if (principal, method) in self.overrides:
            return self.overrides[principal, method]
        if method == "GET":
            if self.get is None:  # POST-only: whoever the guard lets in gets 405
                return Expect(405 if principal in self.post.allow else 403)
            return Expect(200 if principal in self.get else 403)
        if self.post is None:  # GET-only
            return Expect(405 if principal in self.get else 403)
        if principal in self.post.allow:
            return Expect(
                self.post.status,
                self.post.location,
                self.post.effect,
            )
        return Expect(403)


def _event_retried(o: Outcome) -> None:
    event = StripeEvent.objects.get(pk=o.world.refs["stripe_event_pk"])
    assert event.processed_at is not None
    assert "ignored" in event.outcome
    assert o.new_events(AuditEvent.Action.BILLING_EVENT_RETRIED)


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


def _token_created(o: Outcome) -> None:
    token = ApiToken.objects.for_org(o.world.org).get(name="walker token")
    assert f"hip_{token.prefix}_" in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.TOKEN_CREATED)


def _token_revoked(o: Outcome) -> None:
    assert ApiToken.objects.get(pk=o.world.refs["token_pk"]).revoked_at
    assert o.new_events(AuditEvent.Action.TOKEN_REVOKED)


def _sso_configured(o: Outcome) -> None:
    assert OrgSsoConnection.objects.for_org(o.world.org).exists()
    assert o.new_events(AuditEvent.Action.SSO_CONFIGURED)


def _mirrored(o: Outcome) -> None:
    assert Mirror.objects.for_org(o.world.org).filter(repository__name="python")
    assert o.new_events(AuditEvent.Action.MIRROR_ADDED)


def _mirror_removed(o: Outcome) -> None:
    assert not Mirror.objects.filter(pk=o.world.refs["mirror_pk"]).exists()
    assert o.new_events(AuditEvent.Action.MIRROR_REMOVED)


def _customized(o: Outcome) -> None:
    assert Customization.objects.for_org(o.world.org).filter(name="walker-recipe")
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_CREATED)


def _customization_archived(o: Outcome) -> None:
    assert Customization.objects.get(pk=o.world.refs["customization_pk"]).archived_at
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_REMOVED)


def _webhook_added(o: Outcome) -> None:
    endpoint = WebhookEndpoint.objects.for_org(o.world.org).get(
        url="https://hooks.walker.example/sla"
    )
    assert endpoint.secret in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_ADDED)


def _webhook_disabled(o: Outcome) -> None:
    assert not WebhookEndpoint.objects.get(pk=o.world.refs["webhook_pk"]).enabled
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_REMOVED)


def _webhook_rotated(o: Outcome) -> None:
    endpoint = WebhookEndpoint.objects.get(pk=o.world.refs["webhook_pk"])
    assert endpoint.secret in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_ADDED)


def _future(days: int = 30) -> str:
    return (timezone.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


MANAGERS = frozenset({OWNER, ADMIN})
BILLERS = frozenset({OWNER, ADMIN, BILLING})


def _report_requested(o: Outcome) -> None:
    report = Report.objects.for_org(o.world.org).get(request_id="walker-web")
    assert report.requested_by == o.user
    assert report.status == Report.Status.QUEUED
    assert o.new_events(AuditEvent.Action.REPORT_REQUESTED)


def _report_location(w: World) -> str:
    report = Report.objects.for_org(w.org).get(request_id="walker-web")
    return reverse("reports:detail", args=[w.org.slug, report.public_id])


def _report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.filter(org=o.world.org)
    assert download.user == o.user
    assert download.ip == "127.0.0.1"
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


REPORT_READERS = frozenset({OWNER, ADMIN, MEMBER, AUDITOR})
_REPORT = {"org_slug": "org_slug", "public_id": "report_public_id"}


def _report_body(refs: dict) -> dict:
    today = timezone.now().date()
    return {
        "kind": Report.Kind.ORG_COMPLIANCE,
        "window_start": str(today - timedelta(days=10)),
        "window_end": str(today - timedelta(days=1)),
        "request_id": "walker-web",
    }


WEB_ORG_ROUTES = [
    # Reports: owners and admins request, members and auditors (inside their
    # window) read and download; every download is logged.
    OrgRoute(
        "reports:list",
        get=REPORT_READERS,
        post=Post(
            MANAGERS,
            data=_report_body,
            location=_report_location,
            effect=_report_requested,
        ),
    ),
    OrgRoute("reports:detail", kwargs=_REPORT, get=REPORT_READERS),
    OrgRoute("reports:progress", kwargs=_REPORT, get=REPORT_READERS),
    OrgRoute(
        "reports:download",
        kwargs=_REPORT,
        get=REPORT_READERS,
        overrides={
            (p, "GET"): Expect(200, effect=_report_downloaded) for p in REPORT_READERS
        },
    ),
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
                "access_expires_at": _future(),
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
    OrgRoute(
        "accounts:tokens",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {"name": "walker token", "scopes": [Scope.MEMBERS_READ]},
            status=201,  # the secret is shown once, in this response
            effect=_token_created,
        ),
    ),
    OrgRoute(
        "accounts:token_revoke",
        kwargs={"org_slug": "org_slug", "pk": "token_pk"},
        post=Post(MANAGERS, location=url("accounts:tokens"), effect=_token_revoked),
    ),
    OrgRoute(
        "accounts:sso",
        get=MANAGERS,
        post=Post(
            MANAGERS,
            data=lambda r: {
                "issuer_url": "https://idp.acme.example",
                "client_id": "portal",
                "client_secret": "s3cret",
                "email_domains": "acme.example",
                "enabled": "on",
            },
            location=url("accounts:sso"),
            effect=_sso_configured,
        ),
    ),
    OrgRoute("audit:org_log", get=MANAGERS),
    OrgRoute(
        "entitlements:mirrors",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {"repository": r["repository_name"]},
            location=url("entitlements:mirrors"),
            effect=_mirrored,
        ),
    ),
    OrgRoute(
        "entitlements:mirror_remove",
        kwargs={"org_slug": "org_slug", "pk": "mirror_pk"},
        post=Post(
            MANAGERS, location=url("entitlements:mirrors"), effect=_mirror_removed
        ),
    ),
    OrgRoute("entitlements:org_entitlements", get=frozenset(ROLES)),
    OrgRoute("billing:billing", get=BILLERS),
    # Stripe is not configured in the walk (nor is a price chosen): the billers
    # are sent back to the billing page with a message, and nothing is written.
    OrgRoute(
        "billing:checkout",
        post=Post(BILLERS, location=url("billing:billing")),
    ),
    OrgRoute(
        "billing:portal",
        post=Post(BILLERS, location=url("billing:billing")),
    ),
    OrgRoute(
        "customizations:list",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {"repository": "custom-base", "name": "walker-recipe"},
            location=url("customizations:list"),
            effect=_customized,
        ),
    ),
    # The customer's SLA ledger: read by every role and by auditors (it is
    # evidence), written by no one here.
    OrgRoute("sla:clocks", get=frozenset({*ROLES, AUDITOR})),
    OrgRoute("fips:org_fips", get=frozenset({*ROLES, AUDITOR})),
    OrgRoute("sla:export", get=frozenset({*ROLES, AUDITOR})),
    OrgRoute(
        "sla:clock_detail",
        kwargs={"org_slug": "org_slug", "pk": "sla_clock_pk"},
        get=frozenset({*ROLES, AUDITOR}),
    ),
    # Webhooks: every role sees the endpoints and the delivery log; owners
    # and admins change them. The secret is shown once, in the answer.
    OrgRoute(
        "notifications:webhooks",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {
                "url": "https://hooks.walker.example/sla",
                "events": ["sla.at_risk"],
            },
            status=201,
            effect=_webhook_added,
        ),
    ),
    OrgRoute(
        "notifications:webhook_disable",
        kwargs={"org_slug": "org_slug", "pk": "webhook_pk"},
        post=Post(
            MANAGERS, location=url("notifications:webhooks"), effect=_webhook_disabled
        ),
    ),
    OrgRoute(
        "notifications:webhook_rotate",
        kwargs={"org_slug": "org_slug", "pk": "webhook_pk"},
        post=Post(MANAGERS, status=200, effect=_webhook_rotated),
    ),
    OrgRoute("notifications:deliveries", get=frozenset(ROLES)),
    OrgRoute(
        "customizations:archive",
        kwargs={"org_slug": "org_slug", "pk": "customization_pk"},
        post=Post(
            MANAGERS,
            location=url("customizations:list"),
            effect=_customization_archived,
        ),
    ),
]

# --------------------------------------------------------------------------
# Signed-in pages outside any organization, and public ones.
# --------------------------------------------------------------------------

SITE_PRINCIPALS = ("anonymous", OWNER, MEMBER, AUDITOR, "outsider", "stranger", "staff")


@dataclass(frozen=True)
class SiteRoute:
    name: str
    get: Callable[[str], Expect]
    post: Callable[[str], Expect]
    kwargs: dict[str, str] = field(default_factory=dict)
    principals: tuple[str, ...] = SITE_PRINCIPALS

    def expect(self, principal: str, method: str) -> Expect:
        if principal == "anonymous" and self.requires_login:
            return Expect(302, LOGIN)
        return (self.get if method == "GET" else self.post)(principal)

    requires_login: bool = True


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


def _staff_audit(p: str) -> Expect:
    if p == "staff":
        return Expect(200, contains=("Acme", "Globex"), shows_victim=True)
    return Expect(403)


def _staff_sla(p: str, *contains: str) -> Expect:
    if p == "staff":
        return Expect(200, contains=contains, shows_victim=True)
    return Expect(403)


def _staff_only(p: str, expect: Expect) -> Expect:
    return expect if p == "staff" else Expect(403)


def _ledger_checked(o: Outcome) -> None:
    assert LedgerCheckRun.objects.exists()


def _sla_policy_assigned(o: Outcome) -> None:
    assignment = SlaPolicyAssignment.objects.for_org(o.world.org).get()
    assert assignment.policy_id == o.world.refs["sla_policy_pk"]
    assert o.new_events(AuditEvent.Action.SLA_POLICY_ASSIGNED)


def _sla_waiver(o: Outcome) -> SlaWaiver:
    return SlaWaiver.objects.get(pk=o.world.refs["sla_waiver_pk"])


def _sla_waiver_approved(o: Outcome) -> None:
    assert _sla_waiver(o).state == SlaWaiver.State.APPROVED
    assert _sla_waiver(o).clock.state == SlaClock.State.EXEMPT
    assert o.new_events(AuditEvent.Action.SLA_WAIVER_APPROVED)


def _sla_waiver_rejected(o: Outcome) -> None:
    assert _sla_waiver(o).state == SlaWaiver.State.REJECTED
    assert o.new_events(AuditEvent.Action.SLA_WAIVER_REJECTED)


def _staff_report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.all()
    assert (download.via, download.user) == ("staff", o.user)
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


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


WEB_SITE_ROUTES = [
    SiteRoute("home", get=_home, post=lambda p: Expect(405)),
    SiteRoute(
        "org_list",
        get=_org_list,
        post=lambda p: Expect(
            302,
            lambda w: reverse("orgs:dashboard", args=["walker-org"]),
            effect=_org_created,
        ),
    ),
    SiteRoute("auditor_home", get=_auditor_home, post=lambda p: Expect(405)),
    SiteRoute(
        "staff_audit",
        get=_staff_audit,
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_evidence",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is loaded.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_build_register",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is written.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_vex_documents",
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_vex_document",
        kwargs={"pk": "vex_document_pk"},
        get=lambda p: Expect(200) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_vex_withdraw",
        kwargs={"pk": "vex_document_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        # Without a reason nothing is withdrawn: the page again, with the error.
        post=lambda p: Expect(400) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_entitlements",
        get=lambda p: Expect(200, shows_victim=True) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is granted.
        post=lambda p: Expect(400, shows_victim=True) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_entitlement_end",
        kwargs={"pk": "entitlement_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        # Without a reason nothing ends: back to the list with an error.
        post=lambda p: (
            Expect(302, lambda w: reverse("staff_entitlements"))
            if p == "staff"
            else Expect(403)
        ),
    ),
    SiteRoute(
        "staff_billing_events",
        get=lambda p: Expect(200, shows_victim=True) if p == "staff" else Expect(403),
        post=lambda p: Expect(405) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_billing_event_retry",
        kwargs={"pk": "stripe_event_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        post=lambda p: (
            Expect(
                302, lambda w: reverse("staff_billing_events"), effect=_event_retried
            )
            if p == "staff"
            else Expect(403)
        ),
    ),
    # The staff SLA desk: staff only, every customer.
    SiteRoute(
        "staff_sla_desk",
        get=lambda p: _staff_sla(p, "Acme", "Globex"),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_org",
        kwargs={"slug": "org_slug"},
        get=lambda p: _staff_sla(p, "Acme", "Walker"),
        # POST_BODIES assigns the walker's contract policy.
        post=lambda p: _staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_org", args=[w.org.slug]),
                effect=_sla_policy_assigned,
                shows_victim=True,
            ),
        ),
    ),
    SiteRoute(
        "staff_sla_clock",
        kwargs={"pk": "sla_clock_pk"},
        get=lambda p: _staff_sla(p, "Acme", "Upstream fix pending"),
        # Staff posting nothing get the form back with errors; nothing is waived.
        post=lambda p: _staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_sla_waivers",
        get=lambda p: _staff_sla(p, "Upstream fix pending"),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_waiver_approve",
        kwargs={"pk": "sla_waiver_pk"},
        get=lambda p: _staff_only(p, Expect(405)),
        post=lambda p: _staff_only(
            p,
            Expect(302, lambda w: reverse("staff_sla_waivers"), _sla_waiver_approved),
        ),
    ),
    SiteRoute(
        "staff_sla_waiver_reject",
        kwargs={"pk": "sla_waiver_pk"},
        get=lambda p: _staff_only(p, Expect(405)),
        post=lambda p: _staff_only(
            p,
            Expect(302, lambda w: reverse("staff_sla_waivers"), _sla_waiver_rejected),
        ),
    ),
    SiteRoute(
        "staff_sla_credits",
        get=lambda p: _staff_sla(p),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_customers",
        get=lambda p: _staff_sla(p),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_ledger_check",
        get=lambda p: _staff_only(p, Expect(200)),
        post=lambda p: _staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_ledger_check"),
                effect=_ledger_checked,
            ),
        ),
    ),
    SiteRoute(
        "staff_sla_policies",
        get=lambda p: _staff_sla(p, "Walker"),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_policy",
        kwargs={"pk": "sla_policy_pk"},
        get=lambda p: _staff_sla(p, "Walker"),
        # Staff posting nothing get the form back with errors; no version.
        post=lambda p: _staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_reports",
        get=lambda p: _staff_only(
            p, Expect(200, contains=("Acme",), shows_victim=True)
        ),
        # Staff posting nothing get the form back with errors; nothing is queued.
        post=lambda p: _staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_report_detail",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: _staff_only(
            p, Expect(200, contains=("Acme",), shows_victim=True)
        ),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_report_progress",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: _staff_only(p, Expect(200)),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_report_download",
        kwargs={"public_id": "report_public_id"},
        get=lambda p: _staff_only(p, Expect(200, effect=_staff_report_downloaded)),
        post=lambda p: _staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "invitation_accept",
        kwargs={"token": "invitation_token"},
        get=_invitation_get,
        post=_invitation_post,
    ),
]

PUBLIC_ROUTES = [
    SiteRoute(
        "healthz",
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    SiteRoute(
        "readyz",
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    ),
    # Without METRICS_TOKEN or an allowed network (as in the walk) there is
    # nothing here for anyone; tests/core/test_metrics.py covers the way in.
    SiteRoute(
        "metrics",
        get=lambda p: Expect(404),
        post=lambda p: Expect(404),
        requires_login=False,
    ),
    # Without a signing secret (as in the walk) nothing is accepted; the
    # signature and payload checks are tests/billing/test_stripe_webhook.py's.
    SiteRoute(
        "stripe_webhook",
        get=lambda p: Expect(405),
        post=lambda p: Expect(503),
        requires_login=False,
    ),
    SiteRoute(
        "sso_login",
        get=lambda p: Expect(200),
        # An address no organization claims: the form says so, nothing else.
        post=lambda p: Expect(400),
        requires_login=False,
    ),
]


def _catalog_page(route_name: str, **kwargs) -> SiteRoute:
    """A public catalog page: anyone reads it; it takes no POST."""
    return SiteRoute(
        route_name,
        kwargs=kwargs,
        get=lambda p: Expect(200),
        post=lambda p: Expect(405),
        requires_login=False,
    )


PUBLIC_ROUTES += [
    _catalog_page("pricing"),
    _catalog_page("catalog:list"),
    _catalog_page("catalog:lifecycle"),
    _catalog_page("compliance:controls"),
    _catalog_page("catalog:lifecycle_ics"),
    _catalog_page("catalog:repository", name="repository_name"),
    _catalog_page("catalog:digest", digest="digest"),
    _catalog_page("catalog:digest_vex", digest="digest"),
    _catalog_page("catalog:repository_vex", name="repository_name"),
    _catalog_page("catalog:attestation_download", pk="attestation_pk"),
]

# The report verify page is public: anyone holding a report checks it there. An
# empty form is answered 400 with the error, and nothing is written. The record
# of the victim's report shows nothing of the victim (VICTIM_MARKER).
PUBLIC_ROUTES += [
    SiteRoute(
        name,
        kwargs=kwargs,
        get=lambda p: Expect(200, contains=("Verify",)),
        post=lambda p: Expect(400, contains=("errorlist",)),
        requires_login=False,
    )
    for name, kwargs in (
        ("reports_verify:form", {}),
        ("reports_verify:detail", {"public_id": "report_public_id"}),
    )
]


def _stig_checklist_downloaded(o: Outcome) -> None:
    (event,) = o.new_events(AuditEvent.Action.EVIDENCE_DOWNLOADED)
    assert event.details["via"].startswith("staff:")


def _stig_checklist(p: str) -> Expect:
    """STIG evidence: sign in; then publisher staff only (no org is entitled)."""
    if p == "anonymous":
        return Expect(302, LOGIN)
    if p == "staff":
        return Expect(200, effect=_stig_checklist_downloaded)
    return Expect(403)


PUBLIC_ROUTES += [
    SiteRoute(
        name,
        kwargs={"digest": "stig_scan_digest"},
        get=_stig_checklist,
        post=lambda p: Expect(405),
        requires_login=False,
    )
    for name in ("stig_checklist:ckl", "stig_checklist:cklb")
]


def _stig_diff(p: str) -> Expect:
    """STIG evidence, like the checklists; read-only (no download is logged)."""
    if p == "anonymous":
        return Expect(302, LOGIN)
    if p == "staff":
        return Expect(200, contains=("No earlier build",))
    return Expect(403, contains=("need the STIG entitlement",))


PUBLIC_ROUTES += [
    SiteRoute(
        "stig:diff",
        kwargs={"digest": "stig_scan_digest"},
        get=_stig_diff,
        post=lambda p: Expect(405),
        requires_login=False,
    )
]

POST_BODIES = {
    "org_list": lambda r: {"name": "Walker Org"},
    "sso_login": lambda r: {"email": "someone@unclaimed.example"},
    "staff_sla_org": lambda r: {
        "policy": r["sla_policy_pk"],
        "effective_from": "2026-01-01T00:00",
    },
}

# --------------------------------------------------------------------------
# The API: /api/v1/, token-scoped.
# --------------------------------------------------------------------------

API_PRINCIPALS = (
    "anonymous",  # no Authorization header
    "session",  # a signed-in owner's browser session, no token
    "other_token",  # another org's token with every scope
    "wrong_scope",  # the victim's token with every scope but the one needed
    "right_scope",  # the victim's token with exactly the scope needed
)


@dataclass(frozen=True)
class ApiOp:
    scope: str
    status: int = 200
    # The answer is a file, not JSON.
    binary: bool = False
    data: Callable[[dict], dict] | None = None
    effect: Effect | None = None
    # What another org's token gets: "detail" -> 404, "list" -> only its own
    # rows, "current" -> its own org, "create" -> created in its own org,
    # "figures" -> figures of its own org.
    other: str = "detail"
    # For "create": what the other org's token made (default: an auditor grant).
    other_effect: Effect | None = None


@dataclass(frozen=True)
class ApiRoute:
    name: str
    kwargs: dict[str, str] = field(default_factory=dict)
    get: ApiOp | None = None
    post: ApiOp | None = None
    rows: Callable[[Organization], set[int]] | None = None  # list routes
    formats: tuple[str | None, ...] = (None, "json")
    public: bool = False

    def principals(self, method: str):
        if self.public:
            return ("anonymous", "session", "right_scope")
        if (self.get if method == "GET" else self.post) is None:
            return ("anonymous", "session", "all_scopes")
        return API_PRINCIPALS

    def op(self, method: str) -> ApiOp | None:
        return self.get if method == "GET" else self.post


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


def _api_customized(o: Outcome) -> None:
    made = Customization.objects.for_org(o.world.org).get(name="api-recipe")
    assert o.response.json()["id"] == made.pk
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_CREATED)


def _api_customized_elsewhere(o: Outcome) -> None:
    assert not Customization.objects.for_org(o.world.org).filter(name="api-recipe")
    assert Customization.objects.for_org(o.world.other_org).get(name="api-recipe")
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()


def _api_customization_archived(o: Outcome) -> None:
    assert Customization.objects.get(pk=o.world.refs["customization_pk"]).archived_at
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_REMOVED)


def _ids(model):
    return lambda org: set(model.objects.for_org(org).values_list("id", flat=True))


API_ROUTES = [
    ApiRoute("api:schema", formats=(None,), public=True),
    ApiRoute("api:org-current", get=ApiOp(Scope.ORG_READ, other="current")),
    ApiRoute(
        "api:member-list",
        get=ApiOp(Scope.MEMBERS_READ, other="list"),
        rows=_ids(Membership),
    ),
    ApiRoute(
        "api:member-detail",
        kwargs={"pk": "member_pk"},
        get=ApiOp(Scope.MEMBERS_READ),
    ),
    ApiRoute(
        "api:auditevent-list",
        get=ApiOp(Scope.AUDIT_READ, other="list"),
        rows=_ids(AuditEvent),
    ),
    ApiRoute(
        "api:auditevent-detail",
        kwargs={"pk": "event_pk"},
        get=ApiOp(Scope.AUDIT_READ),
    ),
    ApiRoute(
        "api:auditorgrant-list",
        get=ApiOp(Scope.AUDITORS_READ, other="list"),
        post=ApiOp(
            Scope.AUDITORS_WRITE,
            status=201,
            data=_api_grant_body,
            effect=_api_grant_created,
            other="create",
        ),
        rows=_ids(AuditorGrant),
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
    ApiRoute(
        "api:token-list",
        get=ApiOp(Scope.TOKENS_READ, other="list"),
        rows=_ids(ApiToken),
    ),
    ApiRoute(
        "api:token-detail",
        kwargs={"pk": "token_pk"},
        get=ApiOp(Scope.TOKENS_READ),
    ),
    ApiRoute(
        "api:customization-list",
        get=ApiOp(Scope.CUSTOMIZATIONS_READ, other="list"),
        post=ApiOp(
            Scope.CUSTOMIZATIONS_WRITE,
            status=201,
            data=lambda r: {"repository": "custom-base", "name": "api-recipe"},
            effect=_api_customized,
            other="create",
            other_effect=_api_customized_elsewhere,
        ),
        rows=_ids(Customization),
    ),
    ApiRoute(
        "api:customization-detail",
        kwargs={"pk": "customization_pk"},
        get=ApiOp(Scope.CUSTOMIZATIONS_READ),
    ),
    ApiRoute(
        "api:customization-archive",
        kwargs={"pk": "customization_pk"},
        post=ApiOp(Scope.CUSTOMIZATIONS_WRITE, effect=_api_customization_archived),
    ),
]

# The SLA ledger, read-only for customers.
API_ROUTES += [
    ApiRoute(
        "api:slaclock-list",
        get=ApiOp(Scope.SLA_READ, other="list"),
        rows=_ids(SlaClock),
    ),
    ApiRoute(
        "api:slaclock-detail",
        kwargs={"pk": "sla_clock_pk"},
        get=ApiOp(Scope.SLA_READ),
    ),
    ApiRoute(
        "api:slawaiver-list",
        get=ApiOp(Scope.SLA_READ, other="list"),
        rows=_ids(SlaWaiver),
    ),
    ApiRoute(
        "api:slawaiver-detail",
        kwargs={"pk": "sla_waiver_pk"},
        get=ApiOp(Scope.SLA_READ),
    ),
    ApiRoute("api:slametrics-list", get=ApiOp(Scope.SLA_READ, other="figures")),
    ApiRoute("api:fipsmodule-list", get=ApiOp(Scope.EVIDENCE_READ, other="figures")),
]


def _api_report_requested(o: Outcome) -> None:
    report = Report.objects.for_org(o.world.org).get(request_id="walker-api")
    assert o.response.json()["id"] == str(report.public_id)
    assert o.new_events(AuditEvent.Action.REPORT_REQUESTED)


def _api_report_elsewhere(o: Outcome) -> None:
    assert not Report.objects.for_org(o.world.org).filter(request_id="walker-api")
    assert Report.objects.for_org(o.world.other_org).get(request_id="walker-api")
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()


def _api_report_downloaded(o: Outcome) -> None:
    (download,) = ReportDownload.objects.filter(org=o.world.org)
    assert download.via == "token"
    assert download.token is not None
    assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)


def _report_ids(org: Organization) -> set[str]:
    return {
        str(p) for p in Report.objects.for_org(org).values_list("public_id", flat=True)
    }


# Reports: read and downloaded with evidence:read, requested with reports:write.
API_ROUTES += [
    ApiRoute(
        "api:report-list",
        get=ApiOp(Scope.EVIDENCE_READ, other="list"),
        post=ApiOp(
            Scope.REPORTS_WRITE,
            status=201,
            data=lambda r: {**_report_body(r), "request_id": "walker-api"},
            effect=_api_report_requested,
            other="create",
            other_effect=_api_report_elsewhere,
        ),
        rows=_report_ids,
    ),
    ApiRoute(
        "api:report-detail",
        kwargs={"pk": "report_public_id"},
        get=ApiOp(Scope.EVIDENCE_READ),
    ),
    ApiRoute(
        "api:report-download",
        kwargs={"pk": "report_public_id"},
        get=ApiOp(Scope.EVIDENCE_READ, binary=True, effect=_api_report_downloaded),
    ),
]

# The public catalog API: read by anyone (GET 200, POST 405), token or not.
API_ROUTES += [
    ApiRoute(f"api:{basename}-{kind}", kwargs=kwargs, public=True)
    for basename, lookup in [
        ("repository", {"name": "repository_name"}),
        ("series", {"pk": "series_pk"}),
        ("digest", {"digest": "digest"}),
        ("component", {"pk": "component_pk"}),
        ("vulnerability", {"vuln_id": "vuln_id"}),
        ("finding", {"pk": "finding_pk"}),
        ("vexstatement", {"pk": "vex_statement_pk"}),
    ]
    for kind, kwargs in [("list", {}), ("detail", lookup)]
]
# The publisher's VEX exports, public like the rest of the catalog.
API_ROUTES += [
    ApiRoute("api:repository-openvex", {"name": "repository_name"}, public=True),
    ApiRoute("api:digest-openvex", {"digest": "digest"}, public=True),
    ApiRoute("api:digest-cyclonedx-vex", {"digest": "digest"}, public=True),
    # A STIG build's scan counts are public; its rules need an entitled token
    # (tests/stig/test_api.py), which no organization of the walk holds.
    ApiRoute(
        "api:digest-stig", {"digest": "stig_scan_digest"}, public=True, formats=(None,)
    ),
]

ALL_SPECS = [*WEB_ORG_ROUTES, *WEB_SITE_ROUTES, *PUBLIC_ROUTES, *API_ROUTES]


# --------------------------------------------------------------------------
# Coverage: every discovered route has a spec, every spec a route.
# --------------------------------------------------------------------------


def _paths(spec, refs: dict) -> list[str]:
    kwargs = {k: refs[v] for k, v in spec.kwargs.items()}
    if isinstance(spec, ApiRoute):
        return [
            reverse(spec.name, kwargs={**kwargs, **({"format": f} if f else {})})
            for f in spec.formats
        ]
    return [reverse(spec.name, kwargs=kwargs)]


class _Placeholder(dict):
    def __missing__(self, key):
        if key.endswith("public_id"):  # a UUID path converter
            return "00000000-0000-4000-8000-000000000001"
        return "1"


def test_spec_names_are_unique():
    names = [s.name for s in ALL_SPECS]
    assert len(names) == len(set(names))


def test_every_route_has_a_spec():
    routes = discover_routes()
    assert len(routes) > 50, "the walker found suspiciously few routes"
    covered: dict[str, str] = {}
    for spec in ALL_SPECS:
        for path in _paths(spec, _Placeholder()):
            match = resolve(path)
            assert match.view_name == spec.name, (path, match.view_name)
            covered[match.route] = spec.name
    unspecified = [
        str(r) for r in routes if not excluded_family(r) and r.route not in covered
    ]
    assert not unspecified, "routes without a tenancy spec:\n" + "\n".join(unspecified)
    known = {r.route for r in routes}
    stale = sorted(name for route, name in covered.items() if route not in known)
    assert not stale, f"specs for routes that no longer exist: {stale}"


def test_allauth_family_holds_only_allauth_views():
    """The exclusion is by include origin; make sure nothing of ours hides in it
    and allauth's names are the ones the brief lists."""
    for r in discover_routes():
        if excluded_family(r) == "allauth":
            assert r.lookup.startswith(("allauth.", "django.views.generic.")), r
            if r.name is not None:
                assert r.name.startswith(ALLAUTH_NAME_PREFIXES), r
            else:
                # allauth's unnamed legacy redirects (social/ -> 3rdparty/)
                assert r.lookup == "django.views.generic.base.RedirectView", r
        elif r.name is None:
            assert excluded_family(r) == "django-admin", f"unnamed route {r}"


# --------------------------------------------------------------------------
# Admin: someone else's family, but it must stay closed.
# --------------------------------------------------------------------------

_SAMPLE = {
    "app_label": "orgs",
    "url": "nowhere/",
    "object_id": "1",
    "content_type_id": "1",
    "id": "1",
}


def _sample_path(route: str) -> str:
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: _SAMPLE[m.group(1)], route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: _SAMPLE[m.group(1)], path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["anonymous", "non-staff member"])
def test_admin_sends_anonymous_and_non_staff_to_admin_login(who, owner, client):
    if who != "anonymous":
        client.force_login(owner.user)
    login = reverse("admin:login")
    checked = 0
    for r in discover_routes():
        if excluded_family(r) != "django-admin" or r.name == "admin:login":
            continue
        path = _sample_path(r.route)
        assert resolve(path).route == r.route, (path, r)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            if r.name == "admin:logout":
                # Logging out of nothing: back to the index, which redirects.
                assert response.status_code == 302
                continue
            assert response.status_code == 302, (method, path, response.status_code)
            assert response["Location"].startswith(f"{login}?next="), (
                path,
                response["Location"],
            )
            checked += 1
    assert checked > 50
    assert client.get(login).status_code == 200


@pytest.mark.django_db
def test_admin_opens_for_staff(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200


# --------------------------------------------------------------------------
# The walk.
# --------------------------------------------------------------------------


def _web_cases():
    for spec in WEB_ORG_ROUTES:
        for method in ("GET", "POST"):
            for p in spec.principals(method):
                yield pytest.param(spec, p, method, id=f"{spec.name}-{method}-{p}")
    for spec in WEB_SITE_ROUTES + PUBLIC_ROUTES:
        for method in ("GET", "POST"):
            for p in spec.principals:
                yield pytest.param(spec, p, method, id=f"{spec.name}-{method}-{p}")


def _check(expect: Expect, outcome: Outcome) -> None:
    response, w = outcome.response, outcome.world
    assert response.status_code == expect.status, (
        f"{outcome.principal}: expected {expect.status}, got "
        f"{response.status_code} {response.get('Location', '')}"
    )
    if expect.location == LOGIN:
        assert response["Location"].startswith(reverse("account_login") + "?next=")
    elif expect.location is not None:
        assert response["Location"] == expect.location(w)
    body = response.content.decode() if not response.streaming else ""
    for needle in expect.contains:
        assert needle in body
    if not expect.shows_victim and outcome.principal not in VICTIM_SIDE:
        assert VICTIM_MARKER not in body.lower(), "the victim org leaked"
    if expect.effect is None:
        assert outcome.after == outcome.before, "a refused request changed data"
    else:
        assert outcome.after != outcome.before
        expect.effect(outcome)


@pytest.mark.django_db
@pytest.mark.parametrize(("spec", "principal", "method"), list(_web_cases()))
def test_web_route(spec, principal, method, world: World):
    if isinstance(spec, OrgRoute):
        refs = dict(world.refs)
        if principal == "outsider_own":
            # Their own organization, the victim's objects.
            refs["org_slug"] = world.other_org.slug
    else:
        refs = world.refs
    (path,) = _paths(spec, refs)
    client = Client()
    if principal != "anonymous":
        client.force_login(world.users[principal])
    data = {}
    if method == "POST":
        if isinstance(spec, OrgRoute) and spec.post is not None:
            data = spec.post.data(world.refs)
        elif spec.name in POST_BODIES:
            data = POST_BODIES[spec.name](world.refs)
    expect = spec.expect(principal, method)
    before = fingerprint()
    response = client.get(path) if method == "GET" else client.post(path, data)
    _check(expect, Outcome(world, principal, before, fingerprint(), response))


def _api_cases():
    for spec in API_ROUTES:
        for method in ("GET", "POST"):
            for fmt in spec.formats:
                for p in spec.principals(method):
                    suffix = f".{fmt}" if fmt else ""
                    yield pytest.param(
                        spec, p, method, fmt, id=f"{spec.name}{suffix}-{method}-{p}"
                    )


def _token(org, actor, scopes) -> str:
    _, raw = api_token_create(
        org=org, name="walker", scopes=list(scopes), expires_at=None, actor=actor
    )
    return raw


def _api_expect(spec: ApiRoute, principal: str, method: str, w: World) -> Expect:
    op = spec.op(method)
    if spec.public:
        return Expect(200 if method == "GET" else 405)
    if principal in ("anonymous", "session"):
        return Expect(401)
    if op is None:
        return Expect(405)
    if principal == "wrong_scope":
        return Expect(403)
    if principal == "right_scope":
        return Expect(op.status, effect=op.effect)
    # other_token
    if op.other == "detail":
        return Expect(404)
    if op.other == "create":
        return Expect(201, effect=op.other_effect or _created_in_other_org)
    return Expect(200)


def _created_in_other_org(o: Outcome) -> None:
    assert not AuditorGrant.objects.for_org(o.world.org).filter(
        email="api@audit.example"
    )
    assert AuditorGrant.objects.for_org(o.world.other_org).get(
        email="api@audit.example"
    )
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("spec", "principal", "method", "fmt"), list(_api_cases()))
def test_api_route(spec, principal, method, fmt, world: World, owner, outsider):
    kwargs = {k: world.refs[v] for k, v in spec.kwargs.items()}
    if fmt:
        kwargs["format"] = fmt
    path = reverse(spec.name, kwargs=kwargs)
    client = Client()
    headers = {}
    op = spec.op(method)
    if principal == "session":
        client.force_login(owner.user)
    elif principal == "other_token":
        raw = _token(world.other_org, outsider.user, ALL_SCOPES)
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    elif principal in ("wrong_scope", "right_scope", "all_scopes") and not spec.public:
        if principal == "all_scopes":
            scopes = ALL_SCOPES
        elif principal == "right_scope":
            scopes = [op.scope]
        else:
            scopes = [s for s in ALL_SCOPES if s != op.scope]
        raw = _token(world.org, owner.user, scopes)
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    expect = _api_expect(spec, principal, method, world)
    before = fingerprint()
    if method == "GET":
        response = client.get(path, **headers)
    else:
        body = op.data(world.refs) if op and op.data else {}
        response = client.post(path, body, content_type="application/json", **headers)
    outcome = Outcome(world, principal, before, fingerprint(), response)
    _check(expect, outcome)
    if response.status_code in (401, 403, 405) and not spec.public:
        assert "detail" in response.json()
    if (
        principal in ("other_token", "right_scope")
        and op
        and not op.binary
        and response.status_code == 200
    ):
        org = world.other_org if principal == "other_token" else world.org
        payload = response.json()
        if op.other == "list":
            ids = {row["id"] for row in payload["results"]}
            assert ids == spec.rows(org), "a list answered rows of another org"
        elif op.other == "current":
            assert payload["id"] == org.pk
        elif op.other == "figures":
            assert payload["org"] == org.pk
        else:
            assert payload["id"] == world.refs[spec.kwargs["pk"]]


# --------------------------------------------------------------------------
# One's own organization's pages show one's own rows only.
# --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["orgs:members", "orgs:auditors", "accounts:tokens", "audit:org_log"]
)
def test_own_org_pages_show_no_victim_rows(name, world: World):
    client = Client()
    client.force_login(world.users["outsider"])
    response = client.get(reverse(name, args=[world.other_org.slug]))
    assert response.status_code == 200
    body = response.content.decode().lower()
    assert "globex" in body
    assert VICTIM_MARKER not in body


@pytest.mark.django_db
def test_own_org_audit_csv_has_no_victim_rows(world: World):
    client = Client()
    client.force_login(world.users["outsider"])
    response = client.get(
        reverse("audit:org_log", args=[world.other_org.slug]), {"format": "csv"}
    )
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {int(r["id"]) for r in rows} == set(
        AuditEvent.objects.for_org(world.other_org).values_list("id", flat=True)
    )
    assert all(r["org"] == str(world.other_org.pk) for r in rows)
    # prev_hash may name a victim event: the chain is global. Its content may not.
    assert VICTIM_MARKER not in body.lower()


@pytest.mark.django_db
def test_victim_csv_export_is_refused_to_outsiders_and_members(world: World):
    for principal, status in [("outsider", 404), ("member", 403), ("auditor", 403)]:
        client = Client()
        client.force_login(world.users[principal])
        response = client.get(
            reverse("audit:org_log", args=[world.org.slug]), {"format": "csv"}
        )
        assert response.status_code == status, principal


@pytest.mark.django_db
@pytest.mark.parametrize(
    "spec",
    [s for s in WEB_ORG_ROUTES if s.has_object_refs],
    ids=lambda s: s.name,
)
def test_object_routes_work_on_the_outsiders_own_objects(spec, world: World):
    """The control for ``outsider_own``: the same person, the same route, their
    own objects: it works, so the 404 on the victim's objects is the scoping."""
    (path,) = _paths(spec, world.other_refs)
    client = Client()
    client.force_login(world.users["outsider"])
    if spec.post is None:  # a page that only shows the object
        assert client.get(path).status_code == 200
        return
    before = fingerprint()
    response = client.post(path, spec.post.data(world.other_refs))
    assert response.status_code == spec.post.status
    if spec.post.status == 302:  # a rotated secret is shown in the answer
        assert response["Location"].startswith(f"/o/{world.other_org.slug}/")
    after = fingerprint()
    assert after != before
