"""The staff side of the ledger's health: the customer list with its flags,
the ledger check page, its result on the desk, and the drill-down's policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.entitlements.services import entitlement_grant_contract
from apps.sla import services
from apps.sla.models import LedgerCheckRun, SlaClock, SlaPolicy
from tests.factories import OrganizationFactory, UserFactory

from .builders import finding, mirror, plan_org, repo_and_series
from .ledger_rows import Row, seed

pytestmark = pytest.mark.usefixtures("sla_defaults")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True))
    return client


def _contract_org(name: str):
    org = OrganizationFactory(features=(), name=name, slug=name.lower())
    entitlement_grant_contract(
        org=org,
        feature="sla",
        reference="C-1",
        starts_at=timezone.now() - timedelta(days=30),
        ends_at=None,
        actor=UserFactory(is_staff=True),
    )
    return org


def test_the_customer_list_names_every_entitled_org_with_counts_and_flags(
    staff_client, django_assert_max_num_queries
):
    healthy = plan_org("select", name="Healthy")
    seed(healthy, [Row("open"), Row("at_risk", due=1), Row("breached", due=-1)])
    gapped = _contract_org("Gapped")
    repo, series = repo_and_series()
    mirror(gapped, repo)  # no trigger ran: its finding has no clock
    finding(series)
    plan_org("community", name="Free")  # holds no SLA: not listed
    services.sla_ledger_check_run()
    url = reverse("staff_sla_customers")
    with django_assert_max_num_queries(15):  # 14 + the second-factor check
        response = staff_client.get(url)
    rows = {row.org.name: row for row in response.context["customers"]}
    assert set(rows) == {"Healthy", "Gapped"}
    assert (rows["Healthy"].open, rows["Healthy"].at_risk) == (1, 1)
    assert rows["Healthy"].breached == 1
    assert (rows["Healthy"].gaps, rows["Gapped"].gaps) == (0, 1)
    assert rows["Gapped"].policy == "plan default"
    body = response.content.decode()
    assert "ledger gap (1)" in body
    assert 'id="flagged"' in body
    # More orgs cost no more queries.
    for n in range(5):
        seed(plan_org("select", name=f"More {n}"), [Row("open")])
    with django_assert_max_num_queries(14):
        assert len(staff_client.get(url).context["customers"]) == 7


def test_an_org_with_no_policy_at_all_is_flagged_on_every_staff_page(
    staff_client,
):
    org = _contract_org("Nopolicy")
    repo, series = repo_and_series()
    mirror(org, repo)
    finding(series)
    SlaPolicy.objects.filter(plan__isnull=False).update(plan=None)
    services.sla_ledger_check_run()
    customers = staff_client.get(reverse("staff_sla_customers"))
    assert customers.context["customers"][0].no_policy
    assert "no policy" in customers.content.decode()
    drill = staff_client.get(reverse("staff_sla_org", args=[org.slug]))
    body = drill.content.decode()
    assert 'id="no-policy"' in body
    assert 'id="ledger-gaps"' in body
    desk = staff_client.get(reverse("staff_sla_desk")).content.decode()
    assert "1 violation" in desk


def test_the_ledger_check_page_shows_the_last_run_and_runs_it_on_request(
    staff_client, django_capture_on_commit_callbacks
):
    url = reverse("staff_sla_ledger_check")
    assert 'id="never"' in staff_client.get(url).content.decode()
    desk = staff_client.get(reverse("staff_sla_desk")).content.decode()
    assert "never run" in desk
    org = _contract_org("Lost")
    repo, series = repo_and_series(name="lost-repo")
    mirror(org, repo)
    finding(series)
    response = staff_client.post(url)
    assert response.status_code == 302
    run = LedgerCheckRun.objects.get()
    assert run.checks["clock_missing"] == 1
    assert "@" in run.trigger  # who asked for it, not "beat"
    body = staff_client.get(url).content.decode()
    assert f"by {run.trigger}" in body
    assert "lost-repo" in body
    assert "clock_missing" in body
    assert "1 violation" in body


def test_the_ledger_check_page_and_customer_list_are_for_staff_only(client, org):
    from tests.factories import MembershipFactory

    client.force_login(MembershipFactory(org=org, role="owner").user)
    for name in ("staff_sla_customers", "staff_sla_ledger_check"):
        assert client.get(reverse(name)).status_code in (403, 404)
        assert client.post(reverse(name)).status_code in (403, 404, 405)
    assert not LedgerCheckRun.objects.exists()


def test_the_desk_lists_open_clocks_and_every_running_clock_on_request(
    staff_client,
):
    org = plan_org("select")
    seed(org, [Row("open"), Row("at_risk", due=1), Row("met", stopped=1, due=1)])
    desk = reverse("staff_sla_desk")
    default = staff_client.get(desk).context["clocks"]
    assert [c.state for c in default] == ["at_risk"]
    opened = staff_client.get(desk, {"state": "open"}).context["clocks"]
    assert [c.state for c in opened] == ["open"]
    running = staff_client.get(desk, {"state": "running"}).context["clocks"]
    assert sorted(c.state for c in running) == ["at_risk", "open"]
    assert SlaClock.objects.count() == 3
