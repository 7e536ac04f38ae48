"""Tenancy walker specs for FedRAMP CR26 (tests/test_tenancy.py): the
organization's FedRAMP page and its forms, a clock's evaluation, the FedRAMP
documents (made for a window, and carried by a ready report), the staff
desk's forms and the API."""

from __future__ import annotations

from django.urls import reverse

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.entitlements.models import Mirror
from apps.orgs.models import Organization
from apps.reports.models import ReportDownload
from apps.sla.models import (
    FedrampClockEvaluation,
    FedrampExposure,
    FedrampProfile,
    SlaClock,
)
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
    ids,
    staff_only,
    url,
)

Scope = ApiToken.Scope
READERS = frozenset({OWNER, ADMIN, MEMBER, AUDITOR})
KINDS = ("vdt", "avi", "history", "cmu")
PACKAGE = "https://trust.walker.example/package-overview.json"


def _profile_set(o: Outcome) -> None:
    profile = FedrampProfile.objects.for_org(o.world.org).order_by("-set_at").first()
    assert (profile.certification_class, profile.package_uri) == ("D", PACKAGE)
    assert profile.set_by == o.user
    assert profile.set_by_staff is (o.principal == "staff")
    assert o.new_events(AuditEvent.Action.FEDRAMP_PROFILE_SET)


def _exposure_set(o: Outcome) -> None:
    mirror = Mirror.objects.get(pk=o.world.refs["mirror_pk"])
    (exposure,) = FedrampExposure.objects.for_org(o.world.org).filter(
        repository=mirror.repository
    )
    assert (exposure.internet_reachable, exposure.pain) == (True, 4)
    assert o.new_events(AuditEvent.Action.FEDRAMP_EXPOSURE_SET)


def _clock_evaluated(o: Outcome) -> None:
    (evaluation,) = FedrampClockEvaluation.objects.filter(
        clock_id=o.world.refs["sla_clock_pk"]
    )
    assert (evaluation.pain, evaluation.reason) == (3, "walker evaluation")
    assert evaluation.set_by == o.user
    assert o.new_events(AuditEvent.Action.FEDRAMP_CLOCK_EVALUATED)


def _downloaded(o: Outcome) -> None:
    assert o.response["Content-Type"] == "application/json"
    assert o.new_events(AuditEvent.Action.EVIDENCE_DOWNLOADED)


def _part_downloaded(kind: str):
    def effect(o: Outcome) -> None:
        (download,) = ReportDownload.objects.filter(org=o.world.org)
        assert (download.part, download.user) == (f"fedramp-{kind}", o.user)
        assert o.response.json() == {"walker": kind}
        assert o.new_events(AuditEvent.Action.REPORT_DOWNLOADED)

    return effect


_CLOCK = {"org_slug": "org_slug", "pk": "sla_clock_pk"}
_MIRROR = {"org_slug": "org_slug", "pk": "mirror_pk"}

ORG_ROUTES = [
    # Read by everyone who reads the ledger; set by owners and admins.
    OrgRoute(
        "sla:fedramp",
        get=frozenset({*ROLES, AUDITOR}),
        post=Post(
            MANAGERS,
            data=lambda r: {"certification_class": "D", "package_uri": PACKAGE},
            location=url("sla:fedramp"),
            effect=_profile_set,
        ),
    ),
    OrgRoute(
        "sla:fedramp_exposure",
        kwargs=_MIRROR,
        post=Post(
            MANAGERS,
            data=lambda r: {
                f"m{r['mirror_pk']}-internet_reachable": "yes",
                f"m{r['mirror_pk']}-pain": "4",
            },
            location=url("sla:fedramp"),
            effect=_exposure_set,
        ),
    ),
    OrgRoute(
        "sla:clock_evaluate",
        kwargs=_CLOCK,
        post=Post(
            MANAGERS,
            data=lambda r: {"pain": "3", "reason": "walker evaluation"},
            location=lambda w: reverse(
                "sla:clock_detail", args=[w.org.slug, w.refs["sla_clock_pk"]]
            ),
            effect=_clock_evaluated,
        ),
    ),
    # Whoever reads reports downloads; each download is an audit event.
    *(
        OrgRoute(
            f"reports:fedramp_{kind}",
            get=READERS,
            overrides={(p, "GET"): Expect(200, effect=_downloaded) for p in READERS},
        )
        for kind in KINDS
    ),
    *(
        OrgRoute(
            f"reports:fedramp_part_{kind}",
            kwargs={"org_slug": "org_slug", "public_id": "report_public_id"},
            get=READERS,
            overrides={
                (p, "GET"): Expect(200, effect=_part_downloaded(kind)) for p in READERS
            },
        )
        for kind in KINDS
    ),
]

STAFF_ROUTES = [
    SiteRoute(
        "staff_sla_org_fedramp",
        kwargs={"slug": "org_slug"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_org", args=[w.org.slug]),
                effect=_profile_set,
            ),
        ),
        data=lambda r: {"certification_class": "D", "package_uri": PACKAGE},
    ),
    SiteRoute(
        "staff_sla_org_exposure",
        kwargs={"slug": "org_slug", "pk": "mirror_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_org", args=[w.org.slug]),
                effect=_exposure_set,
            ),
        ),
        data=lambda r: {
            f"m{r['mirror_pk']}-internet_reachable": "yes",
            f"m{r['mirror_pk']}-pain": "4",
        },
    ),
    SiteRoute(
        "staff_sla_clock_evaluate",
        kwargs={"pk": "sla_clock_pk"},
        get=lambda p: staff_only(p, Expect(405)),
        post=lambda p: staff_only(
            p,
            Expect(
                302,
                lambda w: reverse("staff_sla_clock", args=[w.refs["sla_clock_pk"]]),
                effect=_clock_evaluated,
            ),
        ),
        data=lambda r: {"pain": "3", "reason": "walker evaluation"},
    ),
]


def _records(subject) -> set[int]:
    """An organization's clock ids, or the clock ids a FedRAMP document names."""
    if isinstance(subject, Organization):
        return set(SlaClock.objects.for_org(subject).values_list("id", flat=True))
    return {
        int(d["providerTrackingId"].removeprefix("V-"))
        for d in subject.get("vulnerabilities", [])
    }


def _audited_elsewhere(o: Outcome) -> None:
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()
    assert AuditEvent.objects.filter(id__in=new, org=o.world.other_org).exists()


def _api_downloaded(o: Outcome) -> None:
    assert o.response.json()["vulnerabilities"], "the clock is in the document"
    assert o.new_events(AuditEvent.Action.EVIDENCE_DOWNLOADED)


def _api_profile_set(o: Outcome) -> None:
    profile = FedrampProfile.objects.for_org(o.world.org).order_by("-set_at").first()
    assert profile.certification_class == "D"
    assert o.new_events(AuditEvent.Action.FEDRAMP_PROFILE_SET)


def _api_profile_elsewhere(o: Outcome) -> None:
    latest = FedrampProfile.objects.for_org(o.world.org).order_by("-set_at").first()
    assert latest.certification_class == "C"
    other = FedrampProfile.objects.for_org(o.world.other_org).order_by("-set_at")
    assert other.first().certification_class == "D"
    _audited_elsewhere(o)


def _api_exposure_set(o: Outcome) -> None:
    assert FedrampExposure.objects.for_org(o.world.org).get().pain == 2
    assert o.new_events(AuditEvent.Action.FEDRAMP_EXPOSURE_SET)


def _api_exposure_elsewhere(o: Outcome) -> None:
    assert not FedrampExposure.objects.for_org(o.world.org).exists()
    assert FedrampExposure.objects.for_org(o.world.other_org).get().pain == 2
    _audited_elsewhere(o)


def _api_clock_evaluated(o: Outcome) -> None:
    assert o.response.json()["cr26"]["evaluations"] == []  # no IRV yet
    (evaluation,) = FedrampClockEvaluation.objects.filter(
        clock_id=o.world.refs["sla_clock_pk"]
    )
    assert evaluation.reason == "walker api"
    assert o.new_events(AuditEvent.Action.FEDRAMP_CLOCK_EVALUATED)


API_ROUTES = [
    ApiRoute(
        "api:fedrampdocument-list",
        get=ApiOp(Scope.EVIDENCE_READ, other="figures"),
    ),
    ApiRoute(
        "api:fedrampdocument-detail",
        kwargs={"pk": "fedramp_kind"},
        get=ApiOp(
            Scope.EVIDENCE_READ,
            effect=_api_downloaded,
            other="document",
            other_effect=_audited_elsewhere,
        ),
        rows=_records,
    ),
    ApiRoute(
        "api:fedrampprofile-list",
        get=ApiOp(Scope.SLA_READ, other="figures"),
        post=ApiOp(
            Scope.SLA_WRITE,
            status=201,
            data=lambda r: {"certification_class": "D", "package_uri": PACKAGE},
            effect=_api_profile_set,
            other="create",
            other_effect=_api_profile_elsewhere,
        ),
    ),
    ApiRoute(
        "api:fedrampexposure-list",
        get=ApiOp(Scope.SLA_READ, other="list"),
        # Both organizations mirror custom-base (tests/test_tenancy.py).
        post=ApiOp(
            Scope.SLA_WRITE,
            status=201,
            data=lambda r: {
                "repository": "custom-base",
                "internet_reachable": False,
                "pain": 2,
            },
            effect=_api_exposure_set,
            other="create",
            other_effect=_api_exposure_elsewhere,
        ),
        rows=ids(Mirror),
    ),
    ApiRoute(
        "api:slaclock-evaluate",
        kwargs={"pk": "sla_clock_pk"},
        post=ApiOp(
            Scope.SLA_WRITE,
            status=201,
            data=lambda r: {"pain": 3, "reason": "walker api"},
            effect=_api_clock_evaluated,
        ),
    ),
]

SPECS = [*ORG_ROUTES, *STAFF_ROUTES, *API_ROUTES]
