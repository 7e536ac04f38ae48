"""Tenancy walker specs for SLA clocks: the customer's ledger, the staff desk
and the API (tests/test_tenancy.py)."""

from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.sla.models import (
    LedgerCheckRun,
    SlaClock,
    SlaPolicyAssignment,
    SlaWaiver,
)
from tests.walker import (
    AUDITOR,
    ROLES,
    ApiOp,
    ApiRoute,
    Expect,
    OrgRoute,
    Outcome,
    SiteRoute,
    ids,
    staff_only,
)

Scope = ApiToken.Scope

# The customer's SLA ledger: read by every role and by auditors (it is
# evidence), written by no one here.
ORG_ROUTES = [
    OrgRoute("sla:clocks", get=frozenset({*ROLES, AUDITOR})),
    OrgRoute("sla:export", get=frozenset({*ROLES, AUDITOR})),
    OrgRoute(
        "sla:clock_detail",
        kwargs={"org_slug": "org_slug", "pk": "sla_clock_pk"},
        get=frozenset({*ROLES, AUDITOR}),
    ),
]


def _staff_sla(p: str, *contains: str) -> Expect:
    if p == "staff":
        return Expect(200, contains=contains, shows_victim=True)
    return Expect(403)


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


# The staff SLA desk: staff only, every customer.
STAFF_ROUTES = [
    SiteRoute(
        "staff_sla_desk",
        get=lambda p: _staff_sla(p, "Acme", "Globex"),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_org",
        kwargs={"slug": "org_slug"},
        get=lambda p: _staff_sla(p, "Acme", "Walker"),
        # The body assigns the walker's contract policy.
        post=lambda p: staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_org", args=[w.org.slug]),
                effect=_sla_policy_assigned,
                shows_victim=True,
            ),
        ),
        data=lambda r: {
            "policy": r["sla_policy_pk"],
            "effective_from": "2026-01-01T00:00",
        },
    ),
    SiteRoute(
        "staff_sla_clock",
        kwargs={"pk": "sla_clock_pk"},
        get=lambda p: _staff_sla(p, "Acme", "Upstream fix pending"),
        # Staff posting nothing get the form back with errors; nothing is waived.
        post=lambda p: staff_only(p, Expect(400, shows_victim=True)),
    ),
    SiteRoute(
        "staff_sla_waivers",
        get=lambda p: _staff_sla(p, "Upstream fix pending"),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_waiver_approve",
        kwargs={"pk": "sla_waiver_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(
            p,
            Expect(302, lambda w: reverse("staff_sla_waivers"), _sla_waiver_approved),
        ),
    ),
    SiteRoute(
        "staff_sla_waiver_reject",
        kwargs={"pk": "sla_waiver_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(
            p,
            Expect(302, lambda w: reverse("staff_sla_waivers"), _sla_waiver_rejected),
        ),
    ),
    SiteRoute(
        "staff_sla_credits",
        get=lambda p: _staff_sla(p),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_customers",
        get=lambda p: _staff_sla(p),
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_ledger_check",
        get=lambda p: staff_only(p, Expect(200)),
        post=lambda p: staff_only(
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
        post=lambda p: staff_only(p, Expect(405)),
    ),
    SiteRoute(
        "staff_sla_policy",
        kwargs={"pk": "sla_policy_pk"},
        get=lambda p: _staff_sla(p, "Walker"),
        # Staff posting nothing get the form back with errors; no version.
        post=lambda p: staff_only(p, Expect(400, shows_victim=True)),
    ),
]

# The SLA ledger, read-only for customers.
API_ROUTES = [
    ApiRoute(
        "api:slaclock-list",
        get=ApiOp(Scope.SLA_READ, other="list"),
        rows=ids(SlaClock),
    ),
    ApiRoute(
        "api:slaclock-detail",
        kwargs={"pk": "sla_clock_pk"},
        get=ApiOp(Scope.SLA_READ),
    ),
    ApiRoute(
        "api:slawaiver-list",
        get=ApiOp(Scope.SLA_READ, other="list"),
        rows=ids(SlaWaiver),
    ),
    ApiRoute(
        "api:slawaiver-detail",
        kwargs={"pk": "sla_waiver_pk"},
        get=ApiOp(Scope.SLA_READ),
    ),
    ApiRoute("api:slametrics-list", get=ApiOp(Scope.SLA_READ, other="figures")),
]

SPECS = [*ORG_ROUTES, *STAFF_ROUTES, *API_ROUTES]
