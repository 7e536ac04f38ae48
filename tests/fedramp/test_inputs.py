"""The FedRAMP CR26 inputs through every door (services, the organization's
pages, the staff desk, the API): what they accept, what they refuse and
say why, that each change is a new row with who, when and why, and that it
is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.sla.models import (
    FedrampClockEvaluation,
    FedrampExposure,
    FedrampProfile,
)
from apps.sla.services import fedramp as services
from tests.entitlements.builders import entitle
from tests.factories import UserFactory
from tests.sla.ledger_rows import Row, seed

from .builders import PACKAGE, exposure, fedramp_customer

pytestmark = pytest.mark.usefixtures("sla_defaults")
Action = AuditEvent.Action
Scope = ApiToken.Scope


@pytest.fixture
def sla_org(org):
    entitle(org, "sla", starts_at=timezone.now() - timedelta(days=400))
    return org


@pytest.fixture
def clock(sla_org):
    (clock,) = seed(sla_org, [Row()])
    return clock


@pytest.fixture
def repository(clock):
    return clock.finding.digest.variant.series.repository


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


# --- the class ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        (
            {"certification_class": "E", "package_uri": PACKAGE},
            "certification_class",
            "Class A, B, C or D",
        ),
        (
            {"certification_class": "C", "package_uri": ""},
            "package_uri",
            "Certification Package",
        ),
        (
            {"certification_class": "C", "package_uri": "http://x.example/p"},
            "package_uri",
            "https://",
        ),
        (
            {"certification_class": "C", "package_uri": "not a uri"},
            "package_uri",
            "https://",
        ),
        (
            {
                "certification_class": "C",
                "package_uri": "https://x.example/" + "p" * 500,
            },
            "package_uri",
            "under 500",
        ),
        (
            {"certification_class": "C", "package_uri": PACKAGE, "reason": "x" * 2001},
            "reason",
            "under 2000",
        ),
        ({"certification_class": ""}, "certification_class", "no FedRAMP class"),
    ],
)
def test_a_bad_class_is_refused_with_the_reason(org, owner, fields, field, says):
    found = _errors(
        lambda: services.fedramp_profile_set(org=org, actor=owner.user, **fields)
    )
    assert says in " ".join(found[field])
    assert not FedrampProfile.objects.exists()


def test_only_owners_admins_and_staff_with_a_second_factor_may(org, member, admin):
    for actor, as_staff in (
        (member.user, False),
        (UserFactory(), False),
        (UserFactory(is_staff=True, mfa=False), True),
        (admin.user, True),  # an admin is not publisher staff
    ):
        with pytest.raises(ValidationError):
            services.fedramp_profile_set(
                org=org,
                actor=actor,
                certification_class="C",
                package_uri=PACKAGE,
                as_staff=as_staff,
            )
    services.fedramp_profile_set(
        org=org, actor=admin.user, certification_class="C", package_uri=PACKAGE
    )
    staff = UserFactory(is_staff=True)
    profile = services.fedramp_profile_set(
        org=org,
        actor=staff,
        certification_class="D",
        package_uri=PACKAGE,
        as_staff=True,
    )
    assert profile.set_by_staff


def test_each_change_of_class_is_kept_and_audited_and_a_repeat_is_not(org, owner):
    first = services.fedramp_profile_set(
        org=org, actor=owner.user, certification_class="C", package_uri=PACKAGE
    )
    again = services.fedramp_profile_set(
        org=org, actor=owner.user, certification_class="C", package_uri=PACKAGE
    )
    assert again == first
    services.fedramp_profile_set(
        org=org,
        actor=owner.user,
        certification_class="",
        reason="Certification withdrawn",
    )
    rows = list(FedrampProfile.objects.for_org(org).order_by("set_at", "id"))
    assert [r.certification_class for r in rows] == ["C", ""]
    events = AuditEvent.objects.filter(action=Action.FEDRAMP_PROFILE_SET).order_by("id")
    assert [e.details["certification_class"] for e in events] == ["C", ""]
    assert events.last().details["previous_class"] == "C"
    assert events.last().details["reason"] == "Certification withdrawn"


# --- a repository's IRV and PAIN ------------------------------------------------------


@pytest.mark.parametrize(
    ("pain", "irv", "field"),
    [
        (0, True, "pain"),
        (6, True, "pain"),
        ("3", True, "pain"),
        (True, True, "pain"),
        (None, True, "pain"),
        (3, "yes", "internet_reachable"),
        (3, None, "internet_reachable"),
    ],
)
def test_a_bad_exposure_is_refused(sla_org, owner, repository, pain, irv, field):
    found = _errors(
        lambda: services.fedramp_exposure_set(
            org=sla_org,
            repository=repository,
            actor=owner.user,
            internet_reachable=irv,
            pain=pain,
        )
    )
    assert field in found
    assert not FedrampExposure.objects.exists()


def test_an_unmirrored_repository_has_no_exposure(sla_org, owner):
    from tests.catalog import builders as catalog

    elsewhere = catalog.repository("not-mirrored")
    found = _errors(lambda: exposure(sla_org, owner.user, elsewhere, irv=True, pain=3))
    assert "not mirrored" in found["repository"][0]


def test_a_reduction_says_why_and_the_history_keeps_each_step(
    sla_org, owner, repository
):
    exposure(sla_org, owner.user, repository, irv=True, pain=4)
    for irv, pain in ((True, 3), (False, 4)):
        found = _errors(
            lambda irv=irv, pain=pain: exposure(
                sla_org, owner.user, repository, irv=irv, pain=pain
            )
        )
        assert "Say why" in found["reason"][0]
    # Raising the impact needs no reason; lowering it does.
    exposure(sla_org, owner.user, repository, irv=True, pain=5)
    exposure(
        sla_org, owner.user, repository, irv=False, pain=3, reason="Behind the VPN"
    )
    same = exposure(sla_org, owner.user, repository, irv=False, pain=3)
    rows = list(FedrampExposure.objects.for_org(sla_org).order_by("set_at", "id"))
    assert [(r.internet_reachable, r.pain, r.reason) for r in rows] == [
        (True, 4, ""),
        (True, 5, ""),
        (False, 3, "Behind the VPN"),
    ]
    assert same == rows[-1]
    last = (
        AuditEvent.objects.filter(action=Action.FEDRAMP_EXPOSURE_SET)
        .order_by("id")
        .last()
    )
    assert last.details["reduction"] is True
    assert last.details["previous"] == {"internet_reachable": True, "pain": 5}


# --- a clock's evaluation -------------------------------------------------------------


def test_a_clock_is_evaluated_only_for_a_fedramp_customer(sla_org, owner, clock):
    found = _errors(
        lambda: services.fedramp_clock_evaluate(
            clock=clock, actor=owner.user, pain=3, reason="x"
        )
    )
    assert "FedRAMP class first" in found["clock"][0]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"pain": 3, "reason": "  "}, "reason"),
        ({"pain": 3, "reason": "x" * 2001}, "reason"),
        ({"pain": 7, "reason": "x"}, "pain"),
        ({"internet_reachable": "no", "reason": "x"}, "internet_reachable"),
        ({"likely_exploitable": 1, "reason": "x"}, "likely_exploitable"),
        ({"disposition": "remediated", "reason": "x"}, "disposition"),
        ({"accepted": "yes", "reason": "x"}, "accepted"),
        (
            {"accepted": True, "disposition": "false_positive", "reason": "x"},
            "accepted",
        ),
    ],
)
def test_a_bad_evaluation_is_refused(sla_org, owner, clock, fields, field):
    fedramp_customer(sla_org, owner.user)
    found = _errors(
        lambda: services.fedramp_clock_evaluate(clock=clock, actor=owner.user, **fields)
    )
    assert field in found
    assert not FedrampClockEvaluation.objects.exists()


def test_an_evaluation_is_kept_whole_with_who_and_why(sla_org, owner, admin, clock):
    fedramp_customer(sla_org, owner.user)
    services.fedramp_clock_evaluate(
        clock=clock, actor=owner.user, pain=3, likely_exploitable=True, reason="PoC"
    )
    services.fedramp_clock_evaluate(
        clock=clock, actor=admin.user, pain=2, reason="Feature flag off"
    )
    rows = list(clock.fedramp_evaluations.order_by("set_at", "id"))
    assert [(r.pain, r.likely_exploitable, r.set_by) for r in rows] == [
        (3, True, owner.user),
        (2, None, admin.user),
    ]
    event = (
        AuditEvent.objects.filter(action=Action.FEDRAMP_CLOCK_EVALUATED)
        .order_by("id")
        .last()
    )
    assert event.details["previous"]["pain"] == 3
    assert event.details["reason"] == "Feature flag off"


# --- the pages ------------------------------------------------------------------------


def test_the_fedramp_page_shows_forms_to_managers_only(
    client, sla_org, owner, member, clock
):
    page = reverse("sla:fedramp", args=[sla_org.slug])
    client.force_login(member.user)
    body = client.get(page).content.decode()
    assert 'id="profile-form"' not in body
    assert "has not stated a FedRAMP class" in body
    assert client.post(page, {"certification_class": "C"}).status_code == 403
    client.force_login(owner.user)
    body = client.get(page).content.decode()
    assert 'id="profile-form"' in body
    assert 'id="mirror-' in body


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"certification_class": "Z", "package_uri": PACKAGE}, "Select a valid choice"),
        ({"certification_class": "C", "package_uri": ""}, "Certification Package"),
        ({"certification_class": "C", "package_uri": "ftp://x.example/p"}, "https://"),
    ],
)
def test_a_bad_class_form_is_answered_400_with_its_errors(
    client, sla_org, owner, data, says
):
    client.force_login(owner.user)
    response = client.post(reverse("sla:fedramp", args=[sla_org.slug]), data)
    assert response.status_code == 400
    assert says in response.content.decode()
    assert not FedrampProfile.objects.exists()


def test_the_exposure_form_refuses_bad_input_and_saves_good(
    client, sla_org, owner, clock
):
    mirror = sla_org.mirrors.get()
    url = reverse("sla:fedramp_exposure", args=[sla_org.slug, mirror.pk])
    client.force_login(owner.user)
    prefix = f"m{mirror.pk}"
    for data in (
        {f"{prefix}-internet_reachable": "maybe", f"{prefix}-pain": "3"},
        {f"{prefix}-internet_reachable": "yes", f"{prefix}-pain": "0"},
        {f"{prefix}-internet_reachable": "yes"},
    ):
        response = client.post(url, data)
        assert response.status_code == 400
        assert "Select a valid choice" in response.content.decode() or (
            "required" in response.content.decode()
        )
    assert not FedrampExposure.objects.exists()
    response = client.post(
        url, {f"{prefix}-internet_reachable": "no", f"{prefix}-pain": "2"}
    )
    assert response.status_code == 302
    saved = FedrampExposure.objects.get()
    assert (saved.internet_reachable, saved.pain, saved.set_by) == (
        False,
        2,
        owner.user,
    )


def test_the_clock_page_shows_the_cr26_window_and_takes_an_evaluation(
    client, sla_org, owner, clock, repository
):
    fedramp_customer(sla_org, owner.user)
    exposure(sla_org, owner.user, repository, irv=True, pain=4)
    client.force_login(owner.user)
    page = reverse("sla:clock_detail", args=[sla_org.slug, clock.pk])
    body = client.get(page).content.decode()
    assert 'id="overlay-fedramp_cr26"' in body
    assert "FedRAMP RA-5(d) (legacy)" in body
    assert "Class C, N4" in body
    evaluate = reverse("sla:clock_evaluate", args=[sla_org.slug, clock.pk])
    bad = client.post(evaluate, {"pain": "3", "reason": ""})
    assert bad.status_code == 400
    assert "This field is required" in bad.content.decode()
    bad = client.post(evaluate, {"pain": "8", "reason": "x"})
    assert bad.status_code == 400
    assert not FedrampClockEvaluation.objects.exists()
    good = client.post(evaluate, {"pain": "3", "reason": "WAF in front"})
    assert good.status_code == 302
    body = client.get(page).content.decode()
    assert "Reduction" in body
    assert "WAF in front" in body


def test_a_member_cannot_evaluate_a_clock(client, sla_org, owner, member, clock):
    fedramp_customer(sla_org, owner.user)
    client.force_login(member.user)
    body = client.get(
        reverse("sla:clock_detail", args=[sla_org.slug, clock.pk])
    ).content.decode()
    assert 'id="evaluation-form"' not in body
    response = client.post(
        reverse("sla:clock_evaluate", args=[sla_org.slug, clock.pk]),
        {"pain": "3", "reason": "x"},
    )
    assert response.status_code == 403


def test_the_evidence_settings_and_mirrors_pages_lead_to_fedramp(
    client, sla_org, member
):
    client.force_login(member.user)
    evidence = client.get(reverse("orgs:evidence", args=[sla_org.slug])).content
    for kind in ("vdt", "avi", "history", "cmu"):
        assert reverse(f"reports:fedramp_{kind}", args=[sla_org.slug]) in (
            evidence.decode()
        )
    fedramp = reverse("sla:fedramp", args=[sla_org.slug])
    assert (
        fedramp
        in client.get(
            reverse("entitlements:mirrors", args=[sla_org.slug])
        ).content.decode()
    )
