"""Load demo data through the services, and print logins that work."""

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import ApiToken, User
from apps.accounts.services import api_token_create
from apps.billing.tiers import tiers_load
from apps.catalog.models import Repository
from apps.demo.catalog import demo_catalog_load
from apps.demo.fedramp import (
    demo_fedramp_acceptance,
    demo_fedramp_exposures,
    demo_fedramp_profile,
    demo_fedramp_reduction,
)
from apps.demo.fips import demo_fips_load
from apps.demo.registry import demo_registry_load
from apps.demo.sla import (
    at_risk_start,
    demo_fix_release,
    demo_variants_by_exposure,
    demo_vulnerable_release,
)
from apps.demo.stig import demo_stig_load
from apps.entitlements.services import entitlement_grant_contract, mirror_add
from apps.notifications.services import notices_run
from apps.orgs import services as org_services
from apps.orgs.models import Membership, Organization, Role
from apps.sla.models import SlaClock
from apps.sla.services import (
    policy_version_in_effect,
    sla_ledger_check_run,
    sla_policy_assign,
    sla_policy_create,
    sla_transitions_run,
)

DEMO_DOMAIN = "demo.example"
# How long ago each step of the demo customer's story happened.
STORY = {
    "contract": timedelta(days=60),
    "catalog": timedelta(days=45),
    "fixed_in_time": timedelta(days=42),
    "fixed_late": timedelta(days=20),
    "fedramp_reduction": timedelta(days=18),
    "fedramp_acceptance": timedelta(days=9),
}


@contextmanager
def _at(moment: datetime, travel: bool) -> Iterator[None]:
    """Run the block as if it were ``moment`` (the clock ticking on from
    there), so every service writes the times it would have written then."""
    if not travel:
        yield
        return
    import time_machine  # a development dependency, as the demo is

    with time_machine.travel(moment, tick=True):
        yield


# Generated repositories whose FIPS builds state their modules in the demo.
FIPS_REPOSITORIES = 3


def _user(email: str, password: str, *, staff: bool = False) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=password, is_staff=staff)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(
        user=user, email=email, defaults={"verified": True, "primary": True}
    )
    return user


def _staff_totp_secret(user: User) -> str:
    """The demo staff's TOTP secret: publisher staff pages and the admin need
    a second factor. Kept across runs, so an authenticator app set up once
    keeps working."""
    from allauth.mfa.adapter import get_adapter
    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    existing = Authenticator.objects.filter(
        user=user, type=Authenticator.Type.TOTP
    ).first()
    if existing is not None:
        return get_adapter().decrypt(existing.data["secret"])
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    return secret


# What publisher staff read in the admin: the catalog's evidence (schema
# warnings on attestations) and the advisories with their revisions.
EVIDENCE_MODELS = {
    "catalog": ("repository", "series", "variant", "imagedigest", "attestation"),
    "vulns": (
        "vulnerability",
        "advisoryrevision",
        "affectedpackage",
        "component",
        "finding",
        "vexdocument",
        "vexstatement",
    ),
}


def _evidence_readers() -> Group:
    """A group that may view the evidence and advisory admin pages."""
    group, _ = Group.objects.get_or_create(name="Evidence readers")
    codenames = [
        f"view_{model}" for models in EVIDENCE_MODELS.values() for model in models
    ]
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=EVIDENCE_MODELS, codename__in=codenames
        )
    )
    return group


class Command(BaseCommand):
    help = (
        "Create demo organizations and people; print their logins (development only)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--password",
            help="Password for every demo login (default: a new random one each run).",
        )

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(12)
        now = timezone.now()
        # The first run plays the customer's story over the last weeks (see
        # _at); later runs find everything in place and only reset passwords.
        story = not Organization.objects.filter(slug="acme").exists()
        with _at(now - STORY["contract"], story), transaction.atomic():
            people = self._seed(password)
        staff = next(user for label, user in people if label == "staff")
        self.stdout.write("Loading the demo catalog (real SBOMs, VEX, OSV and KEV)...")
        with _at(now - STORY["catalog"], story):
            loaded = demo_catalog_load(actor=staff)
            self._mirror_fips()
        if story:
            self._sla_story(staff, now)
            # Invited today, for the year up to today, with a month of access.
            org = Organization.objects.get(slug="acme")
            org_services.auditor_grant_create(
                org=org,
                email=f"auditor@{DEMO_DOMAIN}",
                window_start=now.date() - timedelta(days=365),
                window_end=now.date(),
                access_expires_at=now + timedelta(days=30),
                actor=org.memberships.get(role=Role.OWNER).user,
            )
        demo_stig_load(actor=staff)
        fips_builds = demo_fips_load(actor=staff, repositories=FIPS_REPOSITORIES)
        pulls = demo_registry_load(now=now)
        notices_run()
        sla_transitions_run()
        check = sla_ledger_check_run(trigger="seed_demo")
        self.stdout.write(
            f"  {loaded['real_images']} real images, "
            f"{loaded['generated_repositories']} generated repositories, "
            f"{loaded['findings_created']} new findings, "
            f"{fips_builds} FIPS builds with their modules, "
            f"{pulls} pulls reported by the registry"
        )
        clocks = SlaClock.objects.filter(org__slug="acme")
        states = ", ".join(
            f"{n} {label.lower()}"
            for value, label in SlaClock.State.choices
            if (n := clocks.filter(state=value).count())
        )
        self.stdout.write(f"  Acme's SLA ledger: {states or 'no clocks'}")
        self.stdout.write(
            "  Ledger check: "
            + (
                "every invariant holds"
                if check.ok
                else f"{check.violation_count} violation(s): run manage.py ledger_check"
            )
        )
        # After the transaction, so the logins print below the demo emails.
        line = "-" * 64
        self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS("Demo data ready. Sign in at http://127.0.0.1:8000/")
        )
        for label, user in people:
            self.stdout.write(f"  {label:<10} {user.email:<28} password: {password}")
            if user.is_staff:
                secret = _staff_totp_secret(user)
                self.stdout.write(
                    f"  {'':<10} second factor (staff pages need one): add TOTP "
                    f"secret {secret} to an authenticator app"
                )
        self.stdout.write(line)

    def _sla_story(self, staff: User, now: datetime) -> None:
        """Releases of the mirrored repositories after their findings were
        detected: one fixes its findings in time (met), one late (missed),
        one brings a new vulnerable package days ago (at risk now); the rest
        stay unfixed past their deadlines (breached)."""
        generated = Repository.objects.filter(is_generated=True).order_by("name")
        mirrored = list(generated[:FIPS_REPOSITORIES])
        variants = demo_variants_by_exposure(repositories=mirrored)
        with _at(now - STORY["fixed_in_time"], True):
            demo_fix_release(variant=variants[0], actor=staff, label="fix-in-time")
        with _at(now - STORY["fixed_late"], True):
            demo_fix_release(variant=variants[1], actor=staff, label="fix-late")
        org = Organization.objects.get(slug="acme")
        last = variants[-1]
        version = policy_version_in_effect(
            org=org, repository=last.series.repository, at=now
        )
        start = version and at_risk_start(version=version, severity="high", now=now)
        if start is not None:
            with _at(start, True):
                demo_vulnerable_release(variant=last, actor=staff, label="new-package")
        # The customer's admin re-evaluates two clocks under FedRAMP CR26.
        admin = org.memberships.get(role=Role.ADMIN).user
        with _at(now - STORY["fedramp_reduction"], True):
            demo_fedramp_reduction(org=org, actor=admin)
        with _at(now - STORY["fedramp_acceptance"], True):
            demo_fedramp_acceptance(org=org, actor=admin)

    def _mirror_fips(self) -> None:
        """The demo org mirrors the generated repositories whose FIPS builds
        carry modules (FIPS and STIG included) before those builds are
        attested: it hears of the module change one of them makes."""
        org = Organization.objects.get(slug="acme")
        owner = org.memberships.get(role=Role.OWNER).user
        mirrored = set(org.mirrors.values_list("repository_id", flat=True))
        generated = Repository.objects.filter(is_generated=True).order_by("name")
        for repository in generated[:FIPS_REPOSITORIES]:
            if repository.pk not in mirrored:
                mirror_add(
                    org=org,
                    repository=repository,
                    actor=owner,
                    include_fips=True,
                    include_stig=repository.series.filter(variants__stig=True).exists(),
                )
        if not mirrored:
            # A FedRAMP customer: what each service running these is exposed to.
            demo_fedramp_exposures(org=org, actor=owner)

    def _seed(self, password: str) -> list[tuple[str, User]]:
        owner = _user(f"owner@{DEMO_DOMAIN}", password)
        admin = _user(f"admin@{DEMO_DOMAIN}", password)
        member = _user(f"member@{DEMO_DOMAIN}", password)
        staff = _user(f"staff@{DEMO_DOMAIN}", password, staff=True)
        staff.groups.add(_evidence_readers())
        auditor = _user(f"auditor@{DEMO_DOMAIN}", password)

        org = Organization.objects.filter(slug="acme").first()
        if org is None:
            org = org_services.org_create(name="Acme", owner=owner)
            owner_m = Membership.objects.get(org=org, user=owner)
            for person, role in ((admin, Role.ADMIN), (member, Role.MEMBER)):
                _, token = org_services.invitation_create(
                    org=org, email=person.email, role=role, actor_membership=owner_m
                )
                # The demo skips the mailbox: accept as the invited person would.
                org_services.invitation_accept(raw_token=token, user=person)
            org_services.invitation_create(
                org=org,
                email=f"new.hire@{DEMO_DOMAIN}",
                role=Role.MEMBER,
                actor_membership=owner_m,
            )
            api_token_create(
                org=org,
                name="CI pipeline",
                scopes=[ApiToken.Scope.ORG_READ, ApiToken.Scope.MEMBERS_READ],
                expires_at=timezone.now() + timedelta(days=90),
                actor=owner,
            )
            # The demo org is on an enterprise contract, so every page has
            # something to show (auditor seats, SSO, FIPS/STIG mirroring).
            tiers_load()  # idempotent; the rows may have been flushed
            for feature in ("sla", "fips", "stig", "sso", "auditor_seats"):
                entitlement_grant_contract(
                    org=org,
                    feature=feature,
                    reference="DEMO-CONTRACT-1",
                    starts_at=timezone.now(),
                    ends_at=timezone.now() + timedelta(days=365),
                    actor=staff,
                )
            # The contract's own SLA terms, with service credits, counted
            # from detection: the demo's advisories are real records whose
            # fixes came out years before this story, so counted from the
            # upstream fix every clock would open already breached.
            contract = sla_policy_create(
                key="acme-contract",
                name="Acme enterprise contract",
                org=org,
                actor=staff,
                description="DEMO-CONTRACT-1, schedule B.",
                start_event="detection",
                critical_days=7,
                high_days=7,
                medium_days=30,
                holiday_country="US",
                credit_percent_per_breach=5,
                credit_cap_percent=25,
            )
            sla_policy_assign(
                org=org,
                policy=contract.policy,
                effective_from=timezone.now(),
                actor=staff,
                monthly_fee_cents=1_250_000,
            )
            # A FedRAMP Class C customer: every clock shows its CR26 window.
            demo_fedramp_profile(org=org, actor=owner)
            other_owner = _user(f"owner@globex.{DEMO_DOMAIN}", password)
            org_services.org_create(name="Globex", owner=other_owner)

        return [
            ("org owner", owner),
            ("org admin", admin),
            ("org member", member),
            ("auditor", auditor),
            ("staff", staff),
        ]
