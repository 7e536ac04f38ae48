"""Open every page as the person who uses it and keep a full-page screenshot.

Each page must answer 200 (201 for the page that shows a new API token, 400 for a
form sent back with errors), carry a title and its heading, be styled, fit the
window without a horizontal scrollbar, and log nothing to the console: the
site's CSP forbids inline scripts and styles, and chromium reports every
violation there. The PNGs land in test-artifacts/screenshots/ for a person to
look at.
"""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import (
    api_token_create,
    api_token_revoke,
    org_sso_configure,
    org_sso_verify_domains,
)
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.billing.models import StripeEvent
from apps.customizations.services import customization_create
from apps.entitlements.models import Entitlement, Mirror
from apps.entitlements.services import entitlement_end
from apps.orgs import services as org_services
from apps.orgs.models import Membership, Role
from tests.catalog import builders as b
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import PASSWORD, TOTP_SECRET, UserFactory

from .conftest import snap, totp_now

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SITE_NAME = settings.SITE_NAME


@pytest.fixture
def acme():
    """An organization with people in every role, history and pending work."""
    owner = UserFactory(email="dana.owner@acme.example")
    admin = UserFactory(email="sam.admin@acme.example")
    member = UserFactory(email="lee.member@acme.example")
    billing = UserFactory(email="finance@acme.example")
    newcomer = UserFactory(email="new.hire@acme.example")
    auditor = UserFactory(email="r.ortiz@audit-partners.example")
    staff = UserFactory(email="support@publisher.example", is_staff=True)

    org = org_services.org_create(name="Acme Corporation", owner=owner)
    # Auditor seats and SSO are paid features: Acme holds them by contract.
    entitle(org, "sso", "auditor_seats")
    owner_m = Membership.objects.get(org=org, user=owner)
    for person, role in (
        (admin, Role.ADMIN),
        (member, Role.MEMBER),
        (billing, Role.MEMBER),
    ):
        _, token = org_services.invitation_create(
            org=org, email=person.email, role=role, actor_membership=owner_m
        )
        org_services.invitation_accept(raw_token=token, user=person)
    org_services.membership_change_role(
        membership=Membership.objects.get(org=org, user=billing),
        role=Role.BILLING,
        actor_membership=owner_m,
    )
    _, newcomer_token = org_services.invitation_create(
        org=org, email=newcomer.email, role=Role.MEMBER, actor_membership=owner_m
    )
    org_services.invitation_create(
        org=org,
        email="contractor@partner.example",
        role=Role.ADMIN,
        actor_membership=owner_m,
    )
    api_token_create(
        org=org,
        name="CI pipeline",
        scopes=[ApiToken.Scope.ORG_READ, ApiToken.Scope.MEMBERS_READ],
        expires_at=timezone.now() + timedelta(days=90),
        actor=owner,
    )
    old, _ = api_token_create(
        org=org,
        name="Legacy SIEM export",
        scopes=[ApiToken.Scope.AUDIT_READ],
        expires_at=None,
        actor=admin,
    )
    api_token_revoke(token=old, actor=owner)
    today = timezone.now().date()
    org_services.auditor_grant_create(
        org=org,
        email=auditor.email,
        window_start=today - timedelta(days=365),
        window_end=today,
        access_expires_at=timezone.now() + timedelta(days=30),
        actor=owner,
    )
    connection = org_sso_configure(
        org=org,
        issuer_url="https://login.acme.example/realms/acme",
        client_id="hardened-images-portal",
        client_secret="not-a-real-secret",
        email_domains=["acme.example", "acme-labs.example"],
        enabled=True,
        actor=owner,
    )
    org_sso_verify_domains(connection=connection, domains=["acme.example"], actor=staff)
    org_services.org_update(
        org=org, actor=owner, name="Acme Corporation", require_mfa=False
    )
    audit_record(
        action=AuditEvent.Action.LOGIN_FAILED,
        actor_email="dana.owner@acme.example",
        details={"email": "dana.owner@acme.example"},
    )
    globex_owner = UserFactory(email="it@globex.example")
    org_services.org_create(name="Globex", owner=globex_owner)
    return {
        "org": org,
        "owner": owner,
        "auditor": auditor,
        "staff": staff,
        "newcomer": newcomer,
        "newcomer_token": newcomer_token,
    }


class Shooter:
    def __init__(self, tab):
        self.tab = tab
        self.page = tab.page
        self.seen: list[str] = []

    def shot(self, name: str, *, h1: str | None = None, status: int = 200) -> None:
        """Check the page on screen and save it as <name>.png.

        ``status`` is what the page itself answered: chromium logs a console
        error for a 4xx document (a form with errors), which is expected then.
        """
        page = self.page
        if status >= 400:
            self.tab.errors[:] = [
                e
                for e in self.tab.errors
                if f"status of {status}" not in e or "Failed to load resource" not in e
            ]
        page.wait_for_load_state("load")
        title = page.title()
        assert title.endswith(SITE_NAME), f"{name}: title {title!r}"
        assert not title.startswith(" ·"), f"{name}: page without a title"
        heading = page.locator("main h1").first.inner_text().strip()
        if h1 is not None:
            assert h1 in heading, f"{name}: h1 {heading!r}, expected {h1!r}"
        # The stylesheet loaded and applied (an unstyled page is transparent).
        background = page.evaluate(
            "getComputedStyle(document.documentElement).backgroundColor"
        )
        assert background == "rgb(245, 247, 250)", f"{name}: unstyled ({background})"
        # Nothing wider than the window, and no table spilling out of the content.
        overflow = page.evaluate(
            """() => {
              const main = document.querySelector("main");
              return [document.documentElement.scrollWidth - window.innerWidth,
                      main.scrollWidth - main.clientWidth];
            }"""
        )
        assert overflow == [0, 0], f"{name}: horizontal overflow {overflow}"
        snap(page, name)
        self.tab.assert_no_errors(name)
        self.seen.append(name)

    def visit(self, name: str, path: str, *, h1: str | None = None) -> None:
        self.tab.goto(path, status=200)
        assert self.tab.path() == path, f"{name}: {path} went to {self.tab.path()}"
        self.shot(name, h1=h1)

    def log_in(self, email: str) -> None:
        page = self.page
        self.tab.goto("/accounts/login/")
        page.fill("input[name=login]", email)
        page.fill("input[name=password]", PASSWORD)
        self.tab.submit("Sign In")
        if self.tab.path().startswith("/accounts/2fa/authenticate/"):
            # Staff have a second factor: the authenticator app's code. A code
            # is refused when used twice; earlier sign-ins of this run used it.
            from django.core.cache import cache

            cache.clear()
            page.fill("input[name=code]", totp_now(TOTP_SECRET))
            self.tab.submit("Sign In")
        assert not self.tab.path().startswith("/accounts/login/")
        assert page.locator("header.topbar").get_by_text(email).is_visible()


def test_public_pages(new_tab):
    s = Shooter(new_tab())
    s.visit("login", "/accounts/login/", h1="Sign In")
    s.visit("signup", "/accounts/signup/", h1="Sign Up")
    s.visit("password_reset", "/accounts/password/reset/", h1="Password Reset")
    s.visit("sso_login", "/sso/", h1="Single sign-on")

    # The pages after a form, and a form's errors.
    s.page.fill("input[name=email]", "someone@unknown-domain.example")
    s.tab.submit("Continue", status=400)
    assert "No organization has single sign-on" in s.page.locator("main").inner_text()
    s.shot("sso_login_error", status=400)
    s.tab.goto("/accounts/login/")
    s.page.fill("input[name=login]", "nobody@example.com")
    s.page.fill("input[name=password]", "wrong-password-123")
    s.tab.submit("Sign In")  # allauth answers a failed login with 200
    assert "not correct" in s.page.locator("main").inner_text()
    s.shot("login_error")


def test_owner_pages(acme, new_tab):
    slug = acme["org"].slug
    s = Shooter(new_tab())
    s.log_in(acme["owner"].email)

    s.visit("org_list", "/orgs/", h1="Organizations")
    s.visit("org_dashboard", f"/o/{slug}/", h1="Acme Corporation")
    s.visit("members", f"/o/{slug}/members/", h1="Members")
    pending = s.page.locator("#invitations tbody").inner_text()
    assert "new.hire@acme.example" in pending
    assert "contractor@partner.example" in pending
    s.visit("settings", f"/o/{slug}/settings/", h1="Settings")
    s.visit("sso_settings", f"/o/{slug}/sso/", h1="Single sign-on")
    assert "Enabled" in s.page.locator("main").inner_text()
    s.visit("api_tokens", f"/o/{slug}/tokens/", h1="API tokens")

    # Creating a token shows its secret once (the response is a 201).
    s.page.fill("#id_name", "Release dashboard")
    s.page.check("input[value='org:read']")
    s.page.check("input[value='audit:read']")
    s.tab.submit("Create token", status=201)
    secret = s.page.locator("#new-token").inner_text().strip()
    assert re.fullmatch(r"hip_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}", secret), secret
    s.shot("api_token_created", h1="API tokens")

    s.visit("audit_log", f"/o/{slug}/audit/", h1="Audit log")
    log = s.page.locator("#audit-table tbody").inner_text()
    for action in (
        "Organization created",
        "Invitation sent",
        "Invitation accepted",
        "Member role changed",
        "API token created",
        "API token revoked",
        "Auditor access granted",
        "SSO configured",
    ):
        assert action in log, action
    s.visit("auditors", f"/o/{slug}/auditors/", h1="Auditors")
    assert "r.ortiz@audit-partners.example" in s.page.locator("#grants").inner_text()
    s.visit("leave", f"/o/{slug}/leave/", h1="Leave Acme Corporation")
    s.visit("transfer", f"/o/{slug}/transfer/", h1="Transfer ownership")

    s.visit("account_email", "/accounts/email/", h1="Email Addresses")
    s.visit("password_change", "/accounts/password/change/", h1="Change Password")
    s.visit("mfa_index", "/accounts/2fa/", h1="Two-Factor Authentication")
    # allauth asks for the password again before any two-factor change.
    s.tab.goto("/accounts/2fa/totp/activate/")
    assert s.tab.path().startswith("/accounts/reauthenticate/")
    s.shot("reauthenticate", h1="Confirm Access")
    s.page.fill("input[name=password]", PASSWORD)
    s.tab.submit("Confirm")
    assert s.tab.path() == "/accounts/2fa/totp/activate/"
    s.shot("totp_activate", h1="Activate")
    assert s.page.locator("#authenticator_secret").is_visible()
    s.visit("sessions", "/accounts/sessions/", h1="Sessions")
    assert len(s.seen) == 17


def test_auditor_pages(acme, new_tab):
    slug = acme["org"].slug
    s = Shooter(new_tab())
    s.log_in(acme["auditor"].email)
    s.visit("auditor_home", "/auditor/", h1="Auditor access")
    assert "Acme Corporation" in s.page.locator("main table").inner_text()
    s.visit("evidence_auditor", f"/o/{slug}/evidence/", h1="Evidence and reports")
    assert "read-only auditor access" in s.page.locator("main").inner_text()
    # An auditor's link to the organization lands on the evidence page.
    s.tab.goto(f"/o/{slug}/")
    assert s.tab.path() == f"/o/{slug}/evidence/"


def test_invitation_and_staff_pages(acme, new_tab):
    s = Shooter(new_tab())
    s.log_in(acme["newcomer"].email)
    s.visit(
        "invitation_accept",
        f"/invitations/{acme['newcomer_token']}/",
        h1="Invitation",
    )
    assert s.page.locator("main").get_by_role("button", name="Accept and join").count()

    staff = Shooter(new_tab())
    staff.log_in(acme["staff"].email)
    staff.visit("staff_audit_log", "/staff/audit/", h1="Audit log")
    table = staff.page.locator("#audit-table").inner_text()
    assert "Acme Corporation" in table
    assert "Globex" in table


@pytest.fixture
def totp_user(db):
    """A person with an authenticator app and recovery codes."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    user = UserFactory(email="kim.security@acme.example")
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return user, secret


def test_two_factor_pages(totp_user, new_tab):
    user, secret = totp_user
    s = Shooter(new_tab())
    s.tab.goto("/accounts/login/")
    s.page.fill("input[name=login]", user.email)
    s.page.fill("input[name=password]", PASSWORD)
    s.tab.submit("Sign In")
    assert s.tab.path() == "/accounts/2fa/authenticate/"
    s.shot("mfa_authenticate", h1="Two-Factor Authentication")
    s.page.fill("input[name=code]", totp_now(secret))
    s.tab.submit("Sign In")
    assert s.tab.path() == "/orgs/"

    s.visit("mfa_index_active", "/accounts/2fa/", h1="Two-Factor Authentication")
    assert "Authentication using an authenticator app is active." in (
        s.page.locator("main").inner_text()
    )
    # Recovery codes are behind a fresh check of the password (or a TOTP code).
    s.tab.goto("/accounts/2fa/recovery-codes/")
    if s.tab.path().startswith("/accounts/reauthenticate/"):
        s.shot("reauthenticate_with_mfa", h1="Confirm Access")
        s.page.fill("input[name=password]", PASSWORD)
        s.tab.submit("Confirm")
    assert s.tab.path() == "/accounts/2fa/recovery-codes/"
    s.shot("recovery_codes_view", h1="Recovery Codes")
    s.visit("totp_deactivate", "/accounts/2fa/totp/deactivate/", h1="Deactivate")
    s.visit("webauthn_add", "/accounts/2fa/webauthn/add/", h1="Add Security Key")
    s.visit("logout", "/accounts/logout/", h1="Sign Out")
    s.tab.submit("Sign Out")
    assert s.tab.path() == "/accounts/login/"
    s.shot("signed_out", h1="Sign In")


CUSTOMIZATIONS = [
    # name, repository, description, packages, environment
    (
        "py-ops-tools",
        "python",
        "Debugging tools for the on-call image.",
        ["curl", "jq", "procps"],
        {"TZ": "UTC", "PYTHONUNBUFFERED": "1"},
    ),
    (
        "py-postgres-client",
        "python",
        "",
        ["libpq5", "postgresql-client-16"],
        {},
    ),
    (
        "nginx-geoip",
        "nginx",
        "GeoIP module and the country database for edge proxies.",
        ["nginx-mod-http-geoip2", "libmaxminddb0"],
        {"GEOIP_DB": "/usr/share/GeoIP/GeoLite2-Country.mmdb"},
    ),
]


def _customize(org, owner, repositories, *, quantity: int) -> None:
    for repository in repositories.values():
        Mirror.objects.create(org=org, repository=repository, created_by=owner)
    entitle(org, "customizations", quantity=quantity)
    for name, repo, description, packages, environment in CUSTOMIZATIONS:
        customization_create(
            org=org,
            repository=repositories[repo],
            name=name,
            description=description,
            extra_packages=packages,
            environment=environment,
            actor=owner,
        )


@pytest.fixture
def billing_side(acme, settings, tmp_path):
    """Stripe not configured; customizations within and over the plan's
    count; received Stripe events in every state; FIPS evidence."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    ensure_tiers()
    org, owner, staff = acme["org"], acme["owner"], acme["staff"]

    python = b.repository("python", description="The Python interpreter.")
    nginx = b.repository("nginx", category="web")
    fips_build = b.build(b.series(python, "3.12"), fips=True, tags=["3.12-fips"])
    b.build(b.series(nginx, "1.28"), tags=["1.28"])
    fips_evidence = b.sbom(
        fips_build,
        content=b'{"module": "OpenSSL FIPS provider 3.0.9", "certificate": "4282"}',
        kind="fips",
        media_type="application/json",
        spec_version="",
    )
    b.sbom(fips_build)
    repositories = {"python": python, "nginx": nginx}

    # Acme: five customizations in the plan, three used.
    _customize(org, owner, repositories, quantity=5)
    # Initech: had five, the contract now allows two; the three stay.
    initech = org_services.org_create(name="Initech", owner=owner)
    _customize(initech, owner, repositories, quantity=5)
    (five,) = Entitlement.objects.for_org(initech).filter(feature__key="customizations")
    entitlement_end(
        entitlement=five,
        at=timezone.now() - timedelta(minutes=1),
        actor=staff,
        reason="Renewed at two customizations",
    )
    entitle(initech, "customizations", quantity=2, reference="INITECH-2026")

    now = timezone.now()
    events = [
        # event id, type, org, received minutes ago, processed, attempts, error, outcome
        (
            "evt_1QdK2vFz8fmcXyZ3p0aB7tLm",
            "checkout.session.completed",
            org,
            42,
            True,
            1,
            "",
            "cs_test_a1: customer cus_QdK2 linked to Acme Corporation",
        ),
        (
            "evt_1QdK2wFz8fmcXyZ3Hq5nR2sD",
            "customer.subscription.created",
            org,
            42,
            True,
            1,
            "",
            "sub_1QdK2w: 6 entitlement(s) granted (enterprise)",
        ),
        (
            "evt_1QdK3aFz8fmcXyZ3k9VwE4uP",
            "invoice.payment_failed",
            org,
            7,
            False,
            3,
            "stripe.APIConnectionError: Could not connect to Stripe "
            "(https://api.stripe.com/v1/subscriptions/sub_1QdK2w). "
            "Network error: [Errno 110] Connection timed out",
            "",
        ),
        (
            "evt_1QdK3cFz8fmcXyZ3Yt6mN1qW",
            "customer.subscription.updated",
            None,
            0,
            False,
            0,
            "",
            "",
        ),
    ]
    for event_id, type_, event_org, ago, processed, attempts, error, outcome in events:
        received = now - timedelta(minutes=ago)
        StripeEvent.objects.create(
            event_id=event_id,
            type=type_,
            stripe_created=received - timedelta(seconds=2),
            payload={"id": event_id, "type": type_, "object": "event"},
            org=event_org,
            received_at=received,
            processed_at=received + timedelta(seconds=1) if processed else None,
            attempts=attempts,
            last_error=error,
            outcome=outcome,
        )

    globex_member = UserFactory(email="ops@globex.example")
    globex = org_services.org_create(name="Globex Engineering", owner=globex_member)
    return {
        "initech": initech,
        "fips_build": fips_build,
        "fips_evidence": fips_evidence,
        "globex": globex,
        "globex_member": globex_member,
    }


def test_billing_customization_and_evidence_pages(acme, billing_side, new_tab):
    slug = acme["org"].slug
    s = Shooter(new_tab())
    s.log_in(acme["owner"].email)

    s.visit("billing_unconfigured", f"/o/{slug}/billing/", h1="Plan and billing")
    main = s.page.locator("main")
    assert "Stripe is not configured" in main.inner_text()
    assert "Acme Corporation has no subscription" in main.inner_text()
    assert main.get_by_role("button").count() == 0

    s.visit("customizations", f"/o/{slug}/customizations/", h1="Customizations")
    assert s.page.locator("#usage").inner_text() == "3 of 5 used"
    assert s.page.locator("#customizations tbody tr").count() == 3
    assert main.get_by_role("button", name="Create").is_visible()

    initech = billing_side["initech"].slug
    s.visit(
        "customizations_over_limit",
        f"/o/{initech}/customizations/",
        h1="Customizations",
    )
    assert s.page.locator("#usage").inner_text() == "3 of 2 used"
    assert "archive 2 to create a new one" in main.inner_text()
    assert main.get_by_role("button", name="Create").count() == 0
    assert main.get_by_role("button", name="Archive").count() == 3

    staff = Shooter(new_tab())
    staff.log_in(acme["staff"].email)
    staff.visit("staff_stripe_events", "/staff/billing/events/", h1="Stripe events")
    rows = staff.page.locator("#events tbody tr")
    assert rows.count() == 4
    states = staff.page.locator("#events tbody .badge").all_inner_texts()
    assert states == ["Pending", "Failing", "Processed", "Processed"]
    assert staff.page.locator("main").get_by_role("button", name="Retry now").count()
    staff.tab.goto("/staff/billing/events/?state=failing")
    staff.shot("staff_stripe_events_failing", h1="Stripe events")
    assert staff.page.locator("#events tbody tr").count() == 1

    # A member of a Community organization sees FIPS evidence locked.
    build = billing_side["fips_build"]
    outsider = Shooter(new_tab())
    outsider.log_in(billing_side["globex_member"].email)
    outsider.visit("digest_fips_locked", build.get_absolute_url(), h1="python:3.12")
    attestations = outsider.page.locator("table#attestations")
    assert "needs FIPS entitlement" in attestations.inner_text()
    assert attestations.get_by_role("link", name="Download").count() == 0
    assert "for organizations whose plan includes FIPS" in (
        outsider.page.locator("main").inner_text()
    )
    download = f"/catalog/attestations/{billing_side['fips_evidence'].pk}/download/"
    outsider.tab.goto(download, status=403)
    outsider.shot("evidence_refused", h1="needs the FIPS entitlement", status=403)


@pytest.fixture
def sla_side(acme):
    """The SLA desk's world: three customers with clocks in every state over
    a year, a contract with credits, waivers awaiting a decision."""
    from apps.sla import services as sla
    from apps.sla.models import SlaClock, SlaPolicyVersion
    from tests.sla import builders as sb

    staff, owner = acme["staff"], acme["owner"]
    lead = UserFactory(email="lead@publisher.example", is_staff=True)
    initech = org_services.org_create(name="Initech", owner=owner)
    globex = org_services.org_create(
        name="Globex Engineering", owner=UserFactory(email="ops@globex.example")
    )
    first = sla.sla_policy_create(
        key="acme-contract",
        name="Acme enterprise contract",
        actor=lead,
        critical_days=5,
        high_days=7,
        medium_days=30,
        credit_percent_per_breach=5,
        credit_cap_percent=25,
        holiday_country="US",
        time_zone="America/New_York",
    )
    SlaPolicyVersion.objects.filter(pk=first.pk).update(frozen_at=timezone.now())
    version = sla.sla_policy_version_create(
        policy=first.policy, actor=lead, critical_days=3
    )
    now = timezone.now()
    sla.sla_policy_assign(
        org=acme["org"],
        policy=first.policy,
        effective_from=now - timedelta(days=400),
        actor=lead,
        monthly_fee_cents=1_200_000,
    )
    series = {
        name: b.series(b.repository(name), tag)
        for name, tag in (("python", "3.12"), ("nginx", "1.28"), ("postgres", "17"))
    }
    severities = ("critical", "high", "medium", "high")
    clocks = []
    plan = [
        # org, repo, state, due in days, started days before due, kev
        (acme["org"], "python", "breached", -6, 7, True),
        (initech, "nginx", "breached", -3, 7, False),
        (globex, "postgres", "breached", -1, 7, False),
        (acme["org"], "nginx", "at_risk", 1, 7, False),
        (initech, "python", "at_risk", 2, 30, False),
        (globex, "nginx", "at_risk", 2, 7, True),
        (acme["org"], "postgres", "open", 20, 30, False),
    ]
    for i, (org, repo, state, due_in, span, kev) in enumerate(plan):
        due = now + timedelta(days=due_in, hours=i)
        finding = sb.finding(
            series[repo],
            severity=severities[i % 4],
            kev_due_date=(due + timedelta(days=14)).date() if kev else None,
        )
        clocks.append(
            sb.ledger_clock(
                org,
                finding,
                first,
                severity=severities[i % 4],
                state=state,
                started_at=due - timedelta(days=span),
                due_at=due,
            )
        )
    # A year of decided clocks for the trend: most met, some late.
    for month in range(12):
        for j in range(3 + month % 3):
            stopped = now - timedelta(days=30 * month + 2 + j)
            late = (month + j) % 4 == 0
            due = stopped - timedelta(days=1) if late else stopped + timedelta(days=2)
            finding = sb.finding(series["python"], severity="high")
            sb.ledger_clock(
                acme["org"],
                finding,
                first,
                state="missed" if late else "met",
                started_at=due - timedelta(days=7 + j),
                due_at=due,
                stopped_at=stopped,
            )
    sla.sla_waiver_request(
        clock=clocks[0],
        actor=lead,
        reason="Upstream fix reverted; the patched release ships on the 14th.",
        expires_at=now + timedelta(days=10),
    )
    sla.sla_waiver_request(
        clock=clocks[1],
        actor=staff,
        reason="Customer pinned the affected version by contract addendum.",
        expires_at=now + timedelta(days=30),
    )
    assert SlaClock.objects.count() > 40
    return {"acme": acme["org"], "clock": clocks[3], "policy": version.policy}


def test_staff_sla_desk_pages(acme, sla_side, new_tab):
    staff = Shooter(new_tab())
    staff.log_in(acme["staff"].email)
    page = staff.page
    staff.visit("staff_sla_desk", "/staff/sla/", h1="SLA desk")
    rows = page.locator("#desk tbody tr")
    assert rows.count() == 6
    assert "Acme Corporation" in rows.first.inner_text()
    staff.tab.goto("/staff/sla/?state=breached&kev=yes")
    staff.shot("staff_sla_desk_filtered", h1="SLA desk")
    assert page.locator("#desk tbody tr").count() == 1
    staff.tab.goto("/staff/sla/?org=nobody", status=400)
    staff.shot("staff_sla_desk_bad_filter", h1="SLA desk", status=400)

    slug = sla_side["acme"].slug
    staff.visit("staff_sla_org", f"/staff/sla/orgs/{slug}/", h1="Acme Corporation")
    assert page.locator("figure.chart svg rect").count() == 12
    assert "$1,200.00" in page.locator("#org-counts").inner_text()

    clock = sla_side["clock"]
    staff.visit("staff_sla_clock", f"/staff/sla/clocks/{clock.pk}/", h1="Clock")
    page.fill("textarea[name=reason]", "Waiting on the distribution")
    page.fill("input[name=expires_at]", "2020-01-01T10:00")
    staff.tab.submit("Request waiver", status=400)
    staff.shot("staff_sla_clock_waiver_error", h1="Clock", status=400)
    assert "must be in the future" in page.locator("#waiver-form").inner_text()

    staff.visit("staff_sla_waivers", "/staff/sla/waivers/", h1="Waivers")
    assert page.locator("#pending-waivers tbody tr").count() == 2
    own = page.locator("#pending-waivers tbody tr", has_text="you: another")
    with page.expect_navigation():
        own.get_by_role("button", name="Approve").click()
    staff.shot("staff_sla_waiver_own_refused", h1="Waivers")
    assert (
        "someone other than who requested it" in page.locator(".messages").inner_text()
    )

    staff.visit("staff_sla_credits", "/staff/sla/credits/", h1="credits owed")
    staff.visit("staff_sla_policies", "/staff/sla/policies/", h1="SLA policies")
    policy = sla_side["policy"]
    staff.visit("staff_sla_policy", f"/staff/sla/policies/{policy.pk}/", h1="Acme")
    page.fill("input[name=at_risk_percent]", "120")
    page.fill("input[name=time_zone]", "Mars/Olympus")
    staff.tab.submit("Create version", status=400)
    staff.shot("staff_sla_policy_errors", h1="Acme", status=400)


@pytest.fixture
def webhook_side(acme):
    """Two endpoints (one disabled) and a delivery log, made before the
    browser opens (see tests/e2e/conftest.py)."""
    from apps.notifications.models import Delivery
    from apps.notifications.services import (
        webhook_endpoint_create,
        webhook_endpoint_disable,
    )

    org, owner = acme["org"], acme["owner"]
    live, _ = webhook_endpoint_create(
        org=org,
        url="https://hooks.acme.example/portal/sla-notices",
        description="Incident router",
        events=["sla.at_risk", "sla.breached"],
        actor=owner,
    )
    old, _ = webhook_endpoint_create(
        org=org,
        url="https://old-ci.acme.example/hooks",
        events=["sla.breached"],
        actor=owner,
    )
    webhook_endpoint_disable(endpoint=old, actor=owner)
    now = timezone.now()
    for i, (endpoint, status, code, error) in enumerate(
        [
            (live, "delivered", 200, ""),
            (live, "pending", 503, "HTTP 503."),
            (live, "failed", None, "No answer within 10 s."),
            (
                old,
                "failed",
                302,
                "Redirect to https://login.acme.example/ not followed.",
            ),
        ]
    ):
        Delivery.objects.create(
            org=org,
            endpoint=endpoint,
            message_id=f"msg_{i:02d}3f9c2a7d41e84b6a9d0c5e1f2a3b4c5d",
            event_type="sla.notices",
            payload={"data": {"clocks": [{"clock": n} for n in range(i + 2)]}},
            status=status,
            attempts=1 + i,
            response_code=code,
            last_error=error,
            created_at=now - timedelta(hours=i),
            delivered_at=now if status == "delivered" else None,
            next_attempt_at=now + timedelta(minutes=12)
            if status == "pending"
            else None,
        )
    return {"org": org, "owner": owner, "old": old}


def test_webhook_pages(webhook_side, new_tab):
    org, owner, old = webhook_side["org"], webhook_side["owner"], webhook_side["old"]
    slug = org.slug
    s = Shooter(new_tab())
    s.log_in(owner.email)
    s.visit("webhooks", f"/o/{slug}/webhooks/", h1="Webhooks")
    s.page.fill("#id_url", "not a url")
    s.tab.submit("Add endpoint", status=400)
    s.shot("webhooks_error", h1="Webhooks", status=400)
    assert "Enter a full URL" in s.page.locator("main").inner_text()
    s.page.fill("#id_url", "https://siem.acme.example/ingest/portal")
    s.tab.submit("Add endpoint", status=201)
    secret = s.page.locator("#new-secret").inner_text().strip()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), secret
    s.shot("webhook_created", h1="Webhooks")
    s.visit("webhook_deliveries", f"/o/{slug}/webhooks/deliveries/", h1="deliveries")
    assert s.page.locator("main tbody tr").count() == 4
    path = f"/o/{slug}/webhooks/deliveries/?endpoint={old.pk}"
    s.tab.goto(path)
    s.shot("webhook_deliveries_filtered", h1="deliveries")
    assert s.page.locator("main tbody tr").count() == 1


@pytest.fixture
def customer_sla(acme):
    """Acme holds the SLA feature with a year of clocks in every state, one
    waived and one exempted by VEX; Initech's SLA lapsed; Hooli never had it."""
    from apps.sla.defaults import defaults_load
    from apps.sla.models import SlaClock, SlaWaiver
    from tests.sla.ledger_rows import Row, seed

    ensure_tiers()
    defaults_load()
    org, owner, staff = acme["org"], acme["owner"], acme["staff"]
    entitle(org, "sla", starts_at=timezone.now() - timedelta(days=400))
    rows = [Row("open", due=6), Row("open", severity="critical", due=2)]
    rows += [Row("at_risk", due=1), Row("at_risk", severity="critical", due=1)]
    rows += [Row("breached", severity="critical", started=20, due=-3, kev=True)]
    rows += [Row("breached", started=60, due=-45)]
    # A year of fixes: mostly on time, some late, one month with a breach.
    for month in range(12):
        ago = 15 + 30 * month
        rows += [Row("met", started=ago + 6, due=-ago + 2, stopped=ago)] * (
            3 + month % 3
        )
        if month % 4 == 1:
            rows += [Row("missed", started=ago + 12, due=-ago - 4, stopped=ago)]
    rows += [Row("breached", severity="critical", started=230, due=-220)]
    clocks = seed(org, rows, repo_name="python")
    # The KEV clock's deadline is the catalog's due date.
    kev = clocks[4]
    type(kev.finding.vulnerability).objects.filter(
        pk=kev.finding.vulnerability_id
    ).update(kev_due_date=kev.due_at.date())
    type(kev).objects.filter(pk=kev.pk).update(kev_capped=True)
    medium = seed(org, [Row(severity="medium", due=20)] * 2, repo_name="nginx")
    now = timezone.now()
    approver = UserFactory(email="lead@publisher.example", is_staff=True)
    waived = medium[0]
    waiver = SlaWaiver.objects.create(
        clock=waived,
        requested_by=staff,
        reason="The fix needs glibc 2.41, which the distribution ships next week.",
        created_at=now - timedelta(days=2),
        expires_at=now + timedelta(days=9),
        state=SlaWaiver.State.APPROVED,
        approved_by=approver,
        approved_at=now - timedelta(hours=20),
    )
    SlaClock.objects.filter(pk=waived.pk).update(
        state="exempt",
        stopped_at=now - timedelta(hours=20),
        stop_reason="waiver",
        exempt_reason=waiver.reason,
        waiver=waiver,
    )
    vexed = medium[1]
    statement = b.vex(vexed.finding.vulnerability, image=vexed.finding.digest)
    SlaClock.objects.filter(pk=vexed.pk).update(
        state="exempt",
        stopped_at=now - timedelta(days=2),
        stop_reason="vex",
        exempt_reason="Vulnerable code not in execute path",
        vex_statement=statement,
    )
    lapsed = org_services.org_create(name="Initech", owner=owner)
    entitle(
        lapsed,
        "sla",
        starts_at=now - timedelta(days=300),
        ends_at=now - timedelta(days=20),
    )
    seed(
        lapsed,
        [Row("breached", started=40, due=-30), Row("met", started=35, stopped=25)],
    )
    never = org_services.org_create(name="Hooli", owner=owner)
    return {
        "breached": clocks[4],
        "waived": waived,
        "vexed": vexed,
        "lapsed": lapsed,
        "never": never,
    }


def test_customer_sla_pages(acme, customer_sla, new_tab):
    slug = acme["org"].slug
    s = Shooter(new_tab())
    s.log_in(acme["owner"].email)
    s.visit("sla_clocks", f"/o/{slug}/sla/", h1="SLA")
    main = s.page.locator("main")
    assert s.page.locator("#chart rect").count() == 12
    # The contract's regulators: RA-5(d) (legacy), PCI DSS, the CRA checklist
    # and FedRAMP CR26.
    assert s.page.locator("#overlays tbody tr").count() == 4
    assert "FedRAMP CR26" in s.page.locator("#overlays").inner_text()
    assert s.page.locator("#clocks tbody tr").count() == 50
    assert "Page 1 of" in s.page.locator("#pager").inner_text()
    s.tab.goto(f"/o/{slug}/sla/?state=breached&window=365")
    s.shot("sla_clocks_breached", h1="SLA")
    assert s.page.locator("#clocks tbody tr").count() == 3
    assert "The last year" in main.inner_text()
    assert s.page.locator("#windows [aria-current=page]").inner_text() == "One year"
    s.tab.goto(f"/o/{slug}/sla/?state=bogus", status=400)
    s.shot("sla_clocks_bad_filter", h1="SLA", status=400)
    assert "not understood" in main.inner_text()

    breached = customer_sla["breached"]
    s.visit("sla_clock_kev", f"/o/{slug}/sla/clocks/{breached.pk}/", h1="CVE-")
    assert "capped by the CISA KEV" in main.inner_text()
    s.visit("sla_clock_waived", f"/o/{slug}/sla/clocks/{customer_sla['waived'].pk}/")
    assert "lead@publisher.example" in s.page.locator("#waivers").inner_text()
    s.visit("sla_clock_vex", f"/o/{slug}/sla/clocks/{customer_sla['vexed'].pk}/")
    assert "Vulnerable code not in execute path" in (
        s.page.locator("#vex").inner_text()
    )
    lapsed = customer_sla["lapsed"].slug
    s.visit("sla_lapsed", f"/o/{lapsed}/sla/", h1="SLA")
    assert "no new clocks open" in s.page.locator("#lapsed").inner_text()
    s.visit("sla_never", f"/o/{customer_sla['never'].slug}/sla/", h1="SLA")
    assert main.get_by_role("link", name="Compare plans").is_visible()

    auditor = Shooter(new_tab())
    auditor.log_in(acme["auditor"].email)
    auditor.visit("sla_clocks_auditor", f"/o/{slug}/sla/", h1="SLA")
