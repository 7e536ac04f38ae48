"""The publisher staff's SLA desk: who may see it, what it lists and in what
order, its filters, its forms' refusals, and its query counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.sites import site as admin_site
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.sla import services
from apps.sla.models import (
    SlaClock,
    SlaPolicy,
    SlaPolicyAssignment,
    SlaPolicyVersion,
    SlaWaiver,
)
from apps.sla.staff_views.presentation import trend_chart
from tests.factories import UserFactory

from . import builders as b

pytestmark = pytest.mark.django_db

State = SlaClock.State


@pytest.fixture
def staff_user():
    return b.staff(email="desk@publisher.example")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def version(staff_user):
    return services.sla_policy_create(
        key="contract-desk",
        name="Desk contract",
        actor=staff_user,
        critical_days=7,
        high_days=7,
        credit_percent_per_breach=10,
        credit_cap_percent=30,
    )


def clock_on(org, version, *, state=State.BREACHED, due_in=-1, severity="high", **kw):
    """A clock on a new finding of its own repository; due ``due_in`` days
    from now (negative: overdue)."""
    _repo, series = b.repo_and_series(kw.pop("repo_name", None))
    now = timezone.now()
    due = now + timedelta(days=due_in)
    f = b.finding(series, severity=severity, kev_due_date=kw.pop("kev_due_date", None))
    stopped = now if state in (State.MET, State.MISSED, State.EXEMPT) else None
    return b.ledger_clock(
        org,
        f,
        version,
        severity=severity,
        state=state,
        started_at=due - timedelta(days=10),
        due_at=due,
        stopped_at=stopped,
    )


def many_clocks(org, version, n: int, *, start_days: int = -200) -> list[SlaClock]:
    """``n`` breached and at-risk clocks on one digest, written in bulk."""
    _, series = b.repo_and_series()
    findings = b.many_findings(series, n)
    now = timezone.now()
    rows = []
    for i, f in enumerate(findings):
        due = now + timedelta(days=start_days + i)
        rows.append(
            SlaClock(
                org=org,
                finding=f,
                policy_version=version,
                severity="high",
                start_event="upstream_fix",
                started_at=due - timedelta(days=10),
                due_at=due,
                at_risk_at=due - timedelta(days=3),
                state=State.BREACHED if due <= now else State.AT_RISK,
            )
        )
    return SlaClock.objects.bulk_create(rows)


DESK = "staff_sla_desk"


def ids_in(response, table: str = "desk") -> list[int]:
    body = response.content.decode()
    section = body.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(pk) for pk in re.findall(r'/staff/sla/clocks/(\d+)/"', section)]


# --- who may look ------------------------------------------------------------------


def _routes(clock, waiver, policy, org):
    return [
        ("get", reverse(DESK)),
        ("get", reverse("staff_sla_org", args=[org.slug])),
        ("post", reverse("staff_sla_org", args=[org.slug])),
        ("get", reverse("staff_sla_clock", args=[clock.pk])),
        ("post", reverse("staff_sla_clock", args=[clock.pk])),
        ("get", reverse("staff_sla_waivers")),
        ("post", reverse("staff_sla_waiver_approve", args=[waiver.pk])),
        ("post", reverse("staff_sla_waiver_reject", args=[waiver.pk])),
        ("get", reverse("staff_sla_credits")),
        ("get", reverse("staff_sla_policies")),
        ("get", reverse("staff_sla_policy", args=[policy.pk])),
        ("post", reverse("staff_sla_policy", args=[policy.pk])),
    ]


def test_non_staff_get_403_and_anonymous_the_login_page(client, version):
    org = b.plan_org()
    clock = clock_on(org, version)
    requester = b.staff()
    waiver = services.sla_waiver_request(
        clock=clock,
        actor=requester,
        reason="Vendor patch pending",
        expires_at=timezone.now() + timedelta(days=5),
    )
    routes = _routes(clock, waiver, version.policy, org)
    for method, path in routes:
        response = getattr(client, method)(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(reverse("account_login"))
    client.force_login(UserFactory(email="customer@acme.example"))
    events = AuditEvent.objects.count()
    for method, path in routes:
        assert getattr(client, method)(path).status_code == 403, (method, path)
    assert AuditEvent.objects.count() == events
    assert SlaWaiver.objects.get(pk=waiver.pk).state == SlaWaiver.State.REQUESTED


def test_the_header_links_the_desk_for_staff_only(client, staff_client):
    assert reverse(DESK) in staff_client.get(reverse("staff_audit")).content.decode()
    client.force_login(UserFactory())
    assert reverse(DESK) not in client.get(reverse("org_list")).content.decode()


# --- the desk ------------------------------------------------------------------------


def test_desk_lists_every_customers_at_risk_and_breached_clocks_by_due(
    staff_client, version
):
    acme, globex = b.plan_org(name="Acme Corp"), b.plan_org(name="Globex")
    late = clock_on(acme, version, due_in=-5)
    later = clock_on(globex, version, due_in=-2)
    risky = clock_on(acme, version, state=State.AT_RISK, due_in=1)
    clock_on(globex, version, state=State.OPEN, due_in=3)
    clock_on(acme, version, state=State.MET, due_in=-9)
    clock_on(globex, version, state=State.EXEMPT, due_in=-9)

    response = staff_client.get(reverse(DESK))
    assert response.status_code == 200
    assert ids_in(response) == [late.pk, later.pk, risky.pk]
    body = response.content.decode()
    assert "Acme Corp" in body
    assert "Globex" in body
    assert reverse("staff_sla_org", args=[acme.slug]) in body
    counts = response.context["counts"]
    assert (counts["breached"], counts["at_risk"]) == (2, 1)


def test_desk_shows_overall_metrics_for_the_window(staff_client, version):
    org = b.plan_org()
    clock_on(org, version, state=State.MET, due_in=2)
    clock_on(org, version, state=State.MISSED, due_in=-2)
    response = staff_client.get(reverse(DESK))
    overall = response.context["metrics"][-1]
    assert overall["severity"] == "all"
    assert (overall["met"], overall["missed"]) == (1, 1)
    assert overall["attainment"] == "50 %"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"state": "at_risk"}, {"risky"}),
        ({"state": "breached"}, {"acme_high", "globex_critical", "kev"}),
        ({"severity": "critical"}, {"globex_critical"}),
        ({"org": "ORG:globex"}, {"globex_critical"}),
        ({"repository": "REPO"}, {"kev"}),
        ({"kev": "yes"}, {"kev"}),
        ({"kev": "no"}, {"acme_high", "globex_critical", "risky"}),
        ({"state": "breached", "org": "ORG:acme", "kev": "no"}, {"acme_high"}),
    ],
)
def test_desk_filters(staff_client, version, query, expected):
    acme, globex = b.plan_org(), b.plan_org()
    today = timezone.now().date()
    clocks = {
        "acme_high": clock_on(acme, version, due_in=-4),
        "globex_critical": clock_on(globex, version, due_in=-3, severity="critical"),
        "risky": clock_on(acme, version, state=State.AT_RISK, due_in=2),
        "kev": clock_on(
            acme, version, due_in=-1, repo_name="kevrepo", kev_due_date=today
        ),
    }
    names = {"ORG:acme": acme.slug, "ORG:globex": globex.slug, "REPO": "kevrepo"}
    params = {k: names.get(v, v) for k, v in query.items()}
    response = staff_client.get(reverse(DESK), params)
    assert response.status_code == 200
    by_pk = {c.pk: name for name, c in clocks.items()}
    assert {by_pk[pk] for pk in ids_in(response)} == expected


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"org": "nobody"}, "No organization has the slug"),
        ({"repository": "nothing"}, "No repository is named"),
        ({"state": "met"}, "Select a valid choice"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "must end on or after"),
        ({"after": "yesterday_x"}, "This page link is not valid"),
    ],
)
def test_desk_bad_filters_answer_400_with_the_reason(staff_client, query, error):
    response = staff_client.get(reverse(DESK), query)
    assert response.status_code == 400
    assert error in response.content.decode()


def test_desk_pages_by_due_then_id_without_gaps_or_repeats(staff_client, version):
    org = b.plan_org()
    clocks = many_clocks(org, version, 120)
    # Two clocks sharing a deadline straddle nothing: (due_at, id) orders them.
    SlaClock.objects.filter(pk=clocks[50].pk).update(due_at=clocks[49].due_at)
    seen: list[int] = []
    query = ""
    for _ in range(5):
        response = staff_client.get(reverse(DESK) + ("?" + query if query else ""))
        assert response.status_code == 200
        page = ids_in(response)
        assert len(page) <= 50
        seen += page
        query = response.context["more"]
        if not query:
            break
    expected = list(
        SlaClock.objects.filter(pk__in=[c.pk for c in clocks])
        .order_by("due_at", "id")
        .values_list("pk", flat=True)
    )
    assert seen == expected
    assert len(seen) == 120


def _count_queries(django_assert_max_num_queries, client, path) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_desk_query_count_is_the_same_for_5_and_60_clocks(
    staff_client, version, django_assert_max_num_queries
):
    acme, globex = b.plan_org(), b.plan_org()
    many_clocks(acme, version, 3)
    many_clocks(globex, version, 2)
    path = reverse(DESK)
    few = _count_queries(django_assert_max_num_queries, staff_client, path)
    many_clocks(acme, version, 30)
    many_clocks(globex, version, 25)
    assert SlaClock.objects.count() == 60
    with django_assert_max_num_queries(few):
        response = staff_client.get(path)
    assert len(ids_in(response)) == 50
    # one of them reads the last ledger check, one the staff's second factor,
    # one the CRA Article 14 cases (three when there are some, whatever their
    # number: tests/cra)
    assert few <= 19


def test_waivers_query_count_is_the_same_for_5_and_60_waivers(
    staff_client, version, django_assert_max_num_queries
):
    org = b.plan_org()
    requesters = [b.staff(), b.staff()]
    expires = timezone.now() + timedelta(days=7)

    def waive(clocks):
        SlaWaiver.objects.bulk_create(
            SlaWaiver(
                clock=c,
                requested_by=requesters[i % 2],
                reason=f"Reason {c.pk}",
                expires_at=expires,
            )
            for i, c in enumerate(clocks)
        )

    waive(many_clocks(org, version, 5))
    path = reverse("staff_sla_waivers")
    few = _count_queries(django_assert_max_num_queries, staff_client, path)
    waive(many_clocks(b.plan_org(), version, 55))
    with django_assert_max_num_queries(few):
        response = staff_client.get(path)
    assert response.content.decode().count("Approve</button>") == 60
    assert few <= 11  # with the staff second-factor check


# --- the drill-down --------------------------------------------------------------


def test_org_page_shows_running_clocks_metrics_credits_trend_and_policies(
    staff_client, version, staff_user
):
    org = b.plan_org(name="Initech")
    other = b.plan_org()
    mine = [clock_on(org, version, due_in=-3), clock_on(org, version, state="open")]
    clock_on(other, version)
    clock_on(org, version, state=State.MET, due_in=-40)
    services.sla_policy_assign(
        org=org,
        policy=version.policy,
        effective_from=timezone.now() - timedelta(days=1),
        actor=staff_user,
        monthly_fee_cents=100_000,
    )
    response = staff_client.get(reverse("staff_sla_org", args=[org.slug]))
    assert response.status_code == 200
    assert ids_in(response, "org-clocks") == [c.pk for c in mine]
    body = response.content.decode()
    assert "Desk contract" in body
    assert "$100.00" in response.context["credits_total"] or "$" in body
    assert response.context["in_effect"] == version
    assert len(response.context["trend"]) == 12
    assert "<svg" in body
    # CSP: no inline style or script on the page.
    assert "style=" not in body
    assert "<script>" not in body
    assert "<style" not in body


def test_org_page_of_an_unknown_slug_is_404(staff_client):
    assert staff_client.get(reverse("staff_sla_org", args=["nope"])).status_code == 404


def test_trend_chart_scales_bars_to_percent_and_line_to_days():
    from datetime import date

    from apps.sla.selectors.metrics import TrendMonth

    months = [
        TrendMonth(date(2026, 1, 1), met=1, missed=1, breached=0, mttr_median=None),
        TrendMonth(
            date(2026, 2, 1), met=4, missed=0, breached=0, mttr_median=timedelta(2)
        ),
    ]
    chart = trend_chart(months)
    first, second = chart["bars"]
    assert second.h == pytest.approx(2 * first.h, abs=0.2)
    assert chart["top_days"] == 2
    assert len(chart["dots"]) == 1


def test_assigning_a_policy_is_audited(staff_client, version):
    org = b.plan_org()
    response = staff_client.post(
        reverse("staff_sla_org", args=[org.slug]),
        {
            "policy": version.policy_id,
            "effective_from": "2026-01-01T00:00",
            "monthly_fee": "1250.50",
        },
    )
    assert response.status_code == 302
    assignment = SlaPolicyAssignment.objects.for_org(org).get()
    assert assignment.monthly_fee_cents == 125_050
    assert assignment.effective_from == datetime(2026, 1, 1, tzinfo=UTC)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.SLA_POLICY_ASSIGNED, org=org
    ).exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"effective_from": "2026-02-01T00:00", "effective_to": "2026-01-01T00:00"},
            "The end must come after the start.",
        ),
        ({"effective_from": "not a date"}, "Enter a valid date/time."),
        ({"effective_from": "2026-01-01T00:00", "monthly_fee": "-5"}, "greater than"),
        ({"policy": "999999", "effective_from": "2026-01-01T00:00"}, "valid choice"),
        ({"policy": "OTHER", "effective_from": "2026-01-01T00:00"}, "valid choice"),
    ],
)
def test_bad_policy_assignments_are_refused_and_write_nothing(
    staff_client, version, staff_user, data, error
):
    org = b.plan_org()
    theirs = services.sla_policy_create(
        key="theirs", name="Theirs", actor=staff_user, org=b.plan_org(), high_days=3
    )
    data = {"policy": version.policy_id, **data}
    if data["policy"] == "OTHER":
        data["policy"] = theirs.policy_id
    events = AuditEvent.objects.count()
    response = staff_client.post(reverse("staff_sla_org", args=[org.slug]), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not SlaPolicyAssignment.objects.exists()
    assert AuditEvent.objects.count() == events


# --- a clock and its waivers ------------------------------------------------------


def test_clock_page_shows_timeline_overlays_and_the_waiver_form(staff_client, version):
    clock = clock_on(b.plan_org(), version)
    response = staff_client.get(reverse("staff_sla_clock", args=[clock.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "FedRAMP RA-5(d)" in body
    assert 'id="waiver-form"' in body


def test_requesting_a_waiver(staff_client, version, staff_user):
    clock = clock_on(b.plan_org(), version)
    expires = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(
        reverse("staff_sla_clock", args=[clock.pk]),
        {"reason": "Fix ships in the next point release", "expires_at": expires},
    )
    assert response.status_code == 302
    waiver = SlaWaiver.objects.get(clock=clock)
    assert waiver.requested_by == staff_user
    assert waiver.state == SlaWaiver.State.REQUESTED
    page = staff_client.get(reverse("staff_sla_clock", args=[clock.pk]))
    assert 'id="waiver-form"' not in page.content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"reason": "Vendor delay", "expires_at": "PAST"}, "must be in the future"),
        ({"reason": "   ", "expires_at": "FUTURE"}, "This field is required."),
        ({"reason": "Vendor delay", "expires_at": "soon"}, "Enter a valid date/time."),
        ({"reason": "Vendor delay"}, "This field is required."),
    ],
)
def test_bad_waiver_requests_are_refused_and_write_nothing(
    staff_client, version, data, error
):
    clock = clock_on(b.plan_org(), version)
    now = timezone.now()
    stamps = {
        "PAST": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
        "FUTURE": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    data = {k: stamps.get(v, v) for k, v in data.items()}
    events = AuditEvent.objects.count()
    response = staff_client.post(reverse("staff_sla_clock", args=[clock.pk]), data)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not SlaWaiver.objects.exists()
    assert AuditEvent.objects.count() == events


def test_a_decided_clock_cannot_be_waived(staff_client, version):
    clock = clock_on(b.plan_org(), version, state=State.MET)
    expires = (timezone.now() + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    response = staff_client.post(
        reverse("staff_sla_clock", args=[clock.pk]),
        {"reason": "Late", "expires_at": expires},
    )
    assert response.status_code == 400
    assert "Only a running clock can be waived." in response.content.decode()
    assert not SlaWaiver.objects.exists()


@pytest.fixture
def requested(version, staff_user):
    clock = clock_on(b.plan_org(), version)
    return services.sla_waiver_request(
        clock=clock,
        actor=staff_user,
        reason="Upstream fix reverted",
        expires_at=timezone.now() + timedelta(days=5),
    )


def test_waivers_page_lists_requested_waivers_only(staff_client, requested, version):
    other = clock_on(b.plan_org(), version)
    rejected = services.sla_waiver_request(
        clock=other,
        actor=b.staff(),
        reason="Rejected one",
        expires_at=timezone.now() + timedelta(days=5),
    )
    services.sla_waiver_reject(waiver=rejected, actor=b.staff())
    body = staff_client.get(reverse("staff_sla_waivers")).content.decode()
    assert "Upstream fix reverted" in body
    assert "Rejected one" not in body
    assert "another staff member decides" in body


def test_the_requester_cannot_approve_their_own_waiver(staff_client, requested):
    events = AuditEvent.objects.count()
    response = staff_client.post(
        reverse("staff_sla_waiver_approve", args=[requested.pk]), follow=True
    )
    assert "someone other than who requested it" in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == SlaWaiver.State.REQUESTED
    assert requested.clock.state == State.BREACHED
    assert AuditEvent.objects.count() == events


def test_a_second_staff_member_approves(client, requested):
    client.force_login(b.staff())
    response = client.post(reverse("staff_sla_waiver_approve", args=[requested.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("staff_sla_waivers")
    requested.refresh_from_db()
    assert requested.state == SlaWaiver.State.APPROVED
    assert SlaClock.objects.get(pk=requested.clock_id).state == State.EXEMPT


def test_rejecting_keeps_the_reason_and_the_clock_running(staff_client, requested):
    response = staff_client.post(
        reverse("staff_sla_waiver_reject", args=[requested.pk]),
        {"reason": "Not a vendor delay"},
        follow=True,
    )
    assert "rejected" in response.content.decode()
    requested.refresh_from_db()
    assert requested.state == SlaWaiver.State.REJECTED
    assert requested.rejection_reason == "Not a vendor delay"
    assert SlaClock.objects.get(pk=requested.clock_id).state == State.BREACHED


def test_deciding_a_decided_waiver_says_so_and_writes_nothing(client, requested):
    client.force_login(b.staff())
    services.sla_waiver_reject(waiver=requested, actor=b.staff())
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("staff_sla_waiver_approve", args=[requested.pk]), follow=True
    )
    assert "already rejected" in response.content.decode()
    assert AuditEvent.objects.count() == events


def test_deciding_an_unknown_waiver_is_404(staff_client):
    url = reverse("staff_sla_waiver_approve", args=[99999])
    assert staff_client.post(url).status_code == 404
    assert staff_client.get(reverse("staff_sla_waivers") + "x").status_code == 404


# --- credits ----------------------------------------------------------------------


def test_credits_page_and_csv(staff_client, version, staff_user):
    org = b.plan_org(name="Umbrella")
    services.sla_policy_assign(
        org=org,
        policy=version.policy,
        effective_from=timezone.now() - timedelta(days=60),
        actor=staff_user,
        monthly_fee_cents=200_000,
    )
    clock_on(org, version, due_in=-2)
    clock_on(org, version, state=State.MISSED, due_in=-3)
    clock_on(b.plan_org(), version, state=State.AT_RISK, due_in=2)
    start = (timezone.now() - timedelta(days=10)).date().isoformat()
    end = timezone.now().date().isoformat()
    response = staff_client.get(
        reverse("staff_sla_credits"), {"start": start, "end": end}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Umbrella" in body
    total = sum(c.total_cents for c in (r["credits"] for r in response.context["rows"]))
    assert total > 0
    export = staff_client.get(
        reverse("staff_sla_credits"), {"start": start, "end": end, "format": "csv"}
    )
    assert export["Content-Type"].startswith("text/csv")
    rows = list(
        csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    )
    assert {r["org_slug"] for r in rows} == {org.slug}
    assert sum(int(r["credit_cents"]) for r in rows) == total


def test_credits_bad_window_is_400(staff_client):
    response = staff_client.get(
        reverse("staff_sla_credits"), {"start": "2020-01-01", "end": "2026-01-01"}
    )
    assert response.status_code == 400
    assert "A window is at most" in response.content.decode()


# --- policies ----------------------------------------------------------------------


def test_policies_page_lists_versions_frozen_or_not(staff_client, version, staff_user):
    SlaPolicyVersion.objects.filter(pk=version.pk).update(frozen_at=timezone.now())
    services.sla_policy_version_create(
        policy=version.policy, actor=staff_user, high_days=5
    )
    body = staff_client.get(reverse("staff_sla_policies")).content.decode()
    assert "Desk contract" in body
    assert "Frozen" in body
    assert "Editable" in body


def _version_form(v: SlaPolicyVersion, **changes) -> dict:
    data = {
        name: "" if getattr(v, name) is None else getattr(v, name)
        for name in services.VERSION_FIELDS
    }
    data.update(changes)
    if not data.pop("kev_caps"):
        return data
    return {**data, "kev_caps": "on"}


def test_a_bad_policy_version_shows_every_problem_at_once(staff_client, version):
    url = reverse("staff_sla_policy", args=[version.policy_id])
    data = _version_form(version, at_risk_percent="120", time_zone="Mars/Olympus")
    response = staff_client.post(url, data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(errors) == {"at_risk_percent", "time_zone"}


def test_a_new_policy_version_is_created_from_the_form(staff_client, version):
    url = reverse("staff_sla_policy", args=[version.policy_id])
    page = staff_client.get(url)
    assert page.context["form"].initial["high_days"] == 7
    response = staff_client.post(url, _version_form(version, high_days=3))
    assert response.status_code == 302
    latest = version.policy.versions.order_by("-version").first()
    assert (latest.version, latest.high_days) == (2, 3)
    version.refresh_from_db()
    assert version.high_days == 7


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"high_days": "0"}, "greater than or equal to 1"),
        ({"high_days": "seven"}, "Enter a whole number."),
        ({"at_risk_percent": "100"}, "less than or equal to 99"),
        ({"at_risk_percent": ""}, "This field is required."),
        ({"time_zone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"holiday_country": "ZZ"}, "ZZ"),
        ({"holiday_subdivision": "CA", "holiday_country": ""}, "needs its country"),
        ({"day_kind": "lunar"}, "Select a valid choice"),
        ({"credit_percent_per_breach": "101"}, "less than or equal to 100"),
    ],
)
def test_bad_policy_versions_are_refused_and_write_nothing(
    staff_client, version, changes, error
):
    url = reverse("staff_sla_policy", args=[version.policy_id])
    events = AuditEvent.objects.count()
    response = staff_client.post(url, _version_form(version, **changes))
    assert response.status_code == 400
    assert error in response.content.decode()
    assert version.policy.versions.count() == 1
    assert AuditEvent.objects.count() == events


# --- admin -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [SlaClock, SlaPolicyVersion, SlaWaiver, SlaPolicy, SlaPolicyAssignment]
)
def test_admin_is_read_only_so_changes_go_through_the_services(model, staff_user):
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    model_admin = admin_site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)


def test_admin_lists_open(client, version):
    clock_on(b.plan_org(), version)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for name in ("slaclock", "slapolicyversion", "slawaiver", "slapolicy"):
        assert client.get(reverse(f"admin:sla_{name}_changelist")).status_code == 200


def test_desk_figures_come_from_the_cache_until_the_transition_run_refreshes_them(
    staff_client, version
):
    from apps.sla.tasks import transitions_run

    org = b.plan_org()
    clock_on(org, version, due_in=-1)
    first = staff_client.get(reverse(DESK))
    assert first.context["counts"]["breached"] == 1
    clock_on(org, version, due_in=-2)
    cached = staff_client.get(reverse(DESK))
    # The list is live; the desk-wide figures are as of their computation.
    assert len(ids_in(cached)) == 2
    assert cached.context["counts"]["breached"] == 1
    assert cached.context["figures_at"] == first.context["figures_at"]
    transitions_run()
    fresh = staff_client.get(reverse(DESK))
    assert fresh.context["counts"]["breached"] == 2
