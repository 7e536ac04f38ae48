"""The tenancy route walker.

Every URL pattern the project serves is discovered from the resolver and must
be covered by a spec, except whole families that belong to someone else and
are tested elsewhere (EXCLUDED_FAMILIES, each with its reason). A new view
without a spec fails ``test_every_route_has_a_spec``. The specs live beside
each app's tests, in ``tests/<app>/tenancy_specs.py`` (gathered by
``tests.walker.gather_specs``; the vocabulary they use is in tests/walker.py).

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
import hashlib
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.test import Client, override_settings
from django.urls import resolve, reverse
from django.utils import timezone

from apps.accounts.models import ApiToken, OrgSsoConnection
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.billing.models import BillingAccount, Invoice, StripeEvent, Subscription
from apps.cra.models import CraCase
from apps.customizations.models import Customization
from apps.entitlements.models import Entitlement, Mirror
from apps.notifications.models import Delivery, WebhookEndpoint
from apps.notifications.services import webhook_endpoint_create
from apps.orgs.models import AuditorGrant, Invitation, Membership, Organization, Role
from apps.orgs.services import invitation_create
from apps.registry.models import PullLogEntry, RegistryEvent
from apps.reports.models import Report, ReportDownload
from apps.reports.signing import current_signing_key
from apps.sla.models import (
    FedrampClockEvaluation,
    FedrampExposure,
    FedrampProfile,
    LedgerCheckRun,
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.factories import (
    AuditorGrantFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.walker import (
    LOGIN,
    OWNER,
    VICTIM_SIDE,
    ApiRoute,
    Expect,
    OrgRoute,
    Outcome,
    Route,
    SiteRoute,
    World,
    discover_routes,
    gather_specs,
    spec_label,
)

Scope = ApiToken.Scope
# Org tokens: catalog:write is for publisher staff and covered by its own specs.
ALL_SCOPES = tuple(s for s in Scope.values if s != Scope.CATALOG_WRITE)

# The victim organization is the world's ``org`` ("Acme", slug "acme"). Nothing of
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
        # Known since before last month: in its FedRAMP documents.
        created_at=now - timedelta(days=40),
    )
    finding.detected_at = now - timedelta(days=40)
    finding.save(update_fields=["detected_at"])
    requester = UserFactory(email=f"requester-{org.pk}@portal.example", is_staff=True)
    waiver = SlaWaiver.objects.create(
        clock=clock,
        requested_by=requester,
        reason="Upstream fix pending",
        expires_at=now + timedelta(days=7),
    )
    # The customer's SLA pages show the ledger (not the plans) while entitled.
    entitle(org, "sla")
    # A CRA Article 14 case on the build (publisher-wide, staff only).
    case = CraCase.objects.create(
        vulnerability=vuln,
        source=CraCase.Source.STAFF,
        evidence="Walker evidence",
        aware_at=now - timedelta(days=2),
        created_at=now,
    )
    case.digests.add(image)
    # A FedRAMP customer: its clocks are evaluated under CR26.
    FedrampProfile.objects.create(
        org=org,
        certification_class="C",
        package_uri=f"https://trust-{org.pk}.example/package.json",
        set_by=requester,
        set_at=now - timedelta(days=60),
    )
    return {
        "cra_case_pk": case.pk,
        "sla_clock_pk": clock.pk,
        "sla_waiver_pk": waiver.pk,
        "sla_policy_pk": policy.pk,
        "fedramp_kind": "vdt",
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
    PullLogEntry.objects.create(
        org=org, repository=f"{tag}/nginx", requested=["pull"], reason="walker"
    )
    RegistryEvent.objects.create(
        event_id=f"walker-{tag}",
        action=RegistryEvent.Action.PULL,
        org=org,
        repository=f"{tag}/nginx",
        digest="sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        occurred_at=timezone.now(),
    )
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
    # Its evidence carries FedRAMP documents (read by the report's downloads).
    kinds = ("vdt", "avi", "history", "cmu")
    evidence = {"fedramp": {"documents": {kind: {"walker": kind} for kind in kinds}}}
    report.evidence_file.save(
        f"walker-{org.pk}.evidence.json", ContentFile(json.dumps(evidence).encode())
    )
    report.evidence_sha256 = "1" * 64
    report.save(update_fields=["evidence_sha256"])
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


@pytest.fixture(scope="module")
def world_media(tmp_path_factory) -> Path:
    """Where the world's files (catalog evidence, the ready report) are stored."""
    return tmp_path_factory.mktemp("walker-media")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path, world_media):
    # Catalog evidence is stored as files: each case gets its own copy of the
    # world's, so what one request writes no other case sees.
    settings.MEDIA_ROOT = tmp_path / "media"
    shutil.copytree(world_media, settings.MEDIA_ROOT)


def _build_world() -> World:
    org = OrganizationFactory(name="Acme", slug="acme")
    other_org = OrganizationFactory(name="Globex", slug="globex")
    owner, admin, member, billing = (
        MembershipFactory(org=org, role=role)
        for role in (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.BILLING)
    )
    outsider = MembershipFactory(org=other_org, role=Role.OWNER)
    auditor = UserFactory(email="auditor@audit.example")
    AuditorGrantFactory(org=org, email=auditor.email, created_by=owner.user)
    # The victim's pending invitation is for the stranger.
    stranger = UserFactory(email="newcomer@example.net")
    staff = UserFactory(email="staff@portal.example", is_staff=True)
    refs = _populate(org, owner, "acme", invitee=stranger.email)
    refs.update(_catalog_refs())
    refs.update(_stig_checklist_refs())
    # The portal's signing key exists before anyone asks for a signed answer:
    # making it is not the request's doing.
    current_signing_key()
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


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, world_media, tmp_path_factory):
    """Built once for the module, inside a transaction rolled back at its end.

    Each case runs in its own savepoint inside it (pytest-django's ``django_db``
    is Django's TestCase, whose per-test atomic block nests here), so whatever a
    request changes is rolled back before the next case, as with
    ``setUpTestData``.
    """
    settings_for_build = override_settings(
        # What tests/conftest.py's autouse fixtures set for each test.
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        CELERY_TASK_ALWAYS_EAGER=True,
        REPORT_SIGNING_DIR=tmp_path_factory.getbasetemp() / "report-signing",
        MEDIA_ROOT=world_media,
    )
    with django_db_blocker.unblock():
        block = transaction.atomic(using=DEFAULT_DB_ALIAS)
        # As Django's TestCase marks its class-level atomic: a durable atomic
        # block inside a case is not refused for nesting in this one.
        block._from_testcase = True
        block.__enter__()
        try:
            with settings_for_build:
                built = _build_world()
        except BaseException:
            transaction.set_rollback(True, using=DEFAULT_DB_ALIAS)
            block.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True, using=DEFAULT_DB_ALIAS)
        block.__exit__(None, None, None)


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
        "fedramp_profiles": sorted(FedrampProfile.objects.values_list("id")),
        "fedramp_exposures": sorted(FedrampExposure.objects.values_list("id")),
        "fedramp_evaluations": sorted(FedrampClockEvaluation.objects.values_list("id")),
    }


# --------------------------------------------------------------------------
# The specs, gathered from each app's tests/<app>/tenancy_specs.py.
# --------------------------------------------------------------------------

ALL_SPECS = gather_specs()
ORG_SPECS = [s for s in ALL_SPECS if isinstance(s, OrgRoute)]
SITE_SPECS = [s for s in ALL_SPECS if isinstance(s, SiteRoute)]
API_SPECS = [s for s in ALL_SPECS if isinstance(s, ApiRoute)]


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


def _with_query(path: str, spec) -> str:
    return f"{path}?{urlencode(spec.query)}" if spec.query else path


def test_spec_names_are_unique():
    names = [spec_label(s) for s in ALL_SPECS]
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
def test_admin_sends_anonymous_and_non_staff_to_admin_login(who, world, client):
    if who != "anonymous":
        client.force_login(world.users[OWNER])
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
    for spec in ORG_SPECS:
        for method in ("GET", "POST"):
            for p in spec.principals(method):
                yield pytest.param(
                    spec, p, method, id=f"{spec_label(spec)}-{method}-{p}"
                )
    for spec in SITE_SPECS:
        for method in ("GET", "POST"):
            for p in spec.principals:
                yield pytest.param(
                    spec, p, method, id=f"{spec_label(spec)}-{method}-{p}"
                )


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
    path = _with_query(path, spec)
    client = Client()
    if principal != "anonymous":
        client.force_login(world.users[principal])
    data = {}
    if method == "POST":
        if isinstance(spec, OrgRoute) and spec.post is not None:
            data = spec.post.data(world.refs)
        elif isinstance(spec, SiteRoute):
            data = spec.data(world.refs)
    expect = spec.expect(principal, method)
    before = fingerprint()
    response = client.get(path) if method == "GET" else client.post(path, data)
    _check(expect, Outcome(world, principal, before, fingerprint(), response))


def _api_cases():
    for spec in API_SPECS:
        for method in ("GET", "POST"):
            for fmt in spec.formats:
                for p in spec.principals(method):
                    suffix = f".{fmt}" if fmt else ""
                    yield pytest.param(
                        spec,
                        p,
                        method,
                        fmt,
                        id=f"{spec_label(spec, suffix)}-{method}-{p}",
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
    return Expect(200, effect=op.other_effect)


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
def test_api_route(spec, principal, method, fmt, world: World):
    kwargs = {k: world.refs[v] for k, v in spec.kwargs.items()}
    if fmt:
        kwargs["format"] = fmt
    path = _with_query(reverse(spec.name, kwargs=kwargs), spec)
    client = Client()
    headers = {}
    op = spec.op(method)
    if principal == "session":
        client.force_login(world.users[OWNER])
    elif principal == "other_token":
        raw = _token(world.other_org, world.users["outsider"], ALL_SCOPES)
        headers["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    elif principal in ("wrong_scope", "right_scope", "all_scopes") and not spec.public:
        if principal == "all_scopes":
            scopes = ALL_SCOPES
        elif principal == "right_scope":
            scopes = [op.scope]
        else:
            scopes = [s for s in ALL_SCOPES if s != op.scope]
        raw = _token(world.org, world.users[OWNER], scopes)
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
        elif op.other == "digests":
            digests = {row["digest"] for row in payload["results"]}
            assert digests == spec.rows(org), "a list answered another org's pulls"
        elif op.other == "document":
            # A FedRAMP document: only the token's own organization's clocks.
            assert spec.rows(payload) <= spec.rows(org), "another org's records"
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
    [s for s in ORG_SPECS if s.has_object_refs],
    ids=lambda s: s.name,
)
def test_object_routes_work_on_the_outsiders_own_objects(spec, world: World):
    """The control for ``outsider_own``: the same person, the same route, their
    own objects: it works, so the 404 on the victim's objects is the scoping."""
    (path,) = _paths(spec, world.other_refs)
    path = _with_query(path, spec)
    client = Client()
    client.force_login(world.users["outsider"])
    if spec.post is None:  # a page that only shows the object
        assert client.get(path).status_code == spec.expect(OWNER, "GET").status
        return
    before = fingerprint()
    response = client.post(path, spec.post.data(world.other_refs))
    assert response.status_code == spec.post.status
    if spec.post.status == 302:  # a rotated secret is shown in the answer
        assert response["Location"].startswith(f"/o/{world.other_org.slug}/")
    after = fingerprint()
    assert after != before
