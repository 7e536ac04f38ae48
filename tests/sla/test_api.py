"""The SLA ledger's API: clocks, one clock's timeline, metrics, waivers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.sla.models import SlaWaiver
from tests.entitlements.builders import entitle

from .builders import staff
from .ledger_rows import EVERY_STATE, Row, seed

pytestmark = pytest.mark.usefixtures("sla_defaults")
Scope = ApiToken.Scope
CLOCKS = "/api/v1/sla/clocks/"
METRICS = "/api/v1/sla/metrics/"
WAIVERS = "/api/v1/sla/waivers/"


def _auth(org, user, scopes=(Scope.SLA_READ,)) -> dict:
    _, raw = api_token_create(
        org=org, name="sla", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


@pytest.fixture
def sla_org(org):
    entitle(org, "sla", starts_at=timezone.now() - timedelta(days=400))
    return org


@pytest.fixture
def auth(sla_org, owner):
    return _auth(sla_org, owner.user)


def test_the_clock_list_needs_the_sla_read_scope(client, sla_org, owner):
    seed(sla_org, [Row()])
    wrong = _auth(sla_org, owner.user, scopes=(Scope.ORG_READ,))
    assert client.get(CLOCKS, **wrong).status_code == 403
    assert client.get(CLOCKS).status_code == 401
    assert client.get(METRICS, **wrong).status_code == 403
    assert client.get(WAIVERS, **wrong).status_code == 403


def test_clocks_list_and_filter(client, sla_org, other_org, auth):
    clocks = seed(sla_org, EVERY_STATE, repo_name="alpha")
    (beta,) = seed(sla_org, [Row(severity="critical")], repo_name="beta")
    entitle(other_org, "sla")
    seed(other_org, [Row()])
    rows = client.get(CLOCKS, **auth).json()["results"]
    assert {r["id"] for r in rows} == {c.pk for c in [*clocks, beta]}

    def ids(**params):
        return {r["id"] for r in client.get(CLOCKS, params, **auth).json()["results"]}

    assert ids(state="met") == {c.pk for c in clocks if c.state == "met"}
    assert ids(severity="critical") == {clocks[2].pk, beta.pk}
    assert ids(repository="beta") == {beta.pk}
    assert ids(kev="true") == {clocks[2].pk}
    assert len(ids(kev="false")) == 6
    row = next(r for r in rows if r["id"] == clocks[2].pk)
    assert row["kev"] is True
    assert row["repository"] == "alpha"
    assert row["state"] == "breached"
    assert row["policy"] == "enterprise-default"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"state": "bogus"}, "state"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"kev": "maybe"}, "kev"),
    ],
)
def test_a_bad_clock_filter_is_a_400_naming_the_field(
    client, sla_org, auth, params, field
):
    response = client.get(CLOCKS, params, **auth)
    assert response.status_code == 400
    assert field in response.json()


def test_a_garbled_cursor_is_a_404_not_a_500(client, sla_org, auth):
    response = client.get(CLOCKS, {"cursor": "garbage"}, **auth)
    assert response.status_code == 404


def test_the_clock_list_pages_by_cursor(client, sla_org, auth):
    seed(sla_org, [Row()] * 7)
    first = client.get(CLOCKS, {"page_size": 5}, **auth).json()
    assert len(first["results"]) == 5
    assert first["next"]
    second = client.get(first["next"], **auth).json()
    assert len(second["results"]) == 2
    assert second["next"] is None


def _list_queries(client, auth) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(CLOCKS, {"page_size": 100}, **auth).status_code == 200
    return len(ctx.captured_queries)


def test_the_clock_list_costs_the_same_queries_for_5_and_60_clocks(
    client, sla_org, auth, django_assert_max_num_queries
):
    seed(sla_org, [Row()] * 5)
    client.get(CLOCKS, **auth)  # the token's first use records last_used_at
    few = _list_queries(client, auth)
    seed(sla_org, [Row("met", stopped=1, due=2)] * 55)
    many = _list_queries(client, auth)
    assert few == many
    with django_assert_max_num_queries(few):
        client.get(CLOCKS, **auth)


def test_one_clock_carries_its_timeline_overlays_and_waivers(
    client, sla_org, other_org, auth
):
    (clock,) = seed(sla_org, [Row()])
    now = timezone.now()
    SlaWaiver.objects.create(
        clock=clock,
        requested_by=staff(email="asker@publisher.example"),
        reason="Waiting for upstream",
        expires_at=now + timedelta(days=7),
    )
    body = client.get(f"{CLOCKS}{clock.pk}/", **auth).json()
    assert body["id"] == clock.pk
    assert {e["key"] for e in body["timeline"]} >= {"started", "due", "detected"}
    assert [o["key"] for o in body["overlays"]] == [
        "fedramp_cr26",
        "fedramp_ra5d",
        "pci_dss_633",
        "cra",
    ]
    # Not a FedRAMP customer: CR26 does not apply.
    assert body["overlays"][0]["status"] == "not_applicable"
    assert body["cr26"]["applies"] is False
    assert body["overlays"][1]["status"] in ("open", "breached")
    assert body["vex_statement"] is None
    (waiver,) = body["waivers"]
    assert waiver["requested_by"] == "asker@publisher.example"
    assert waiver["state"] == "requested"
    assert waiver["approved_by"] is None
    entitle(other_org, "sla")
    (theirs,) = seed(other_org, [Row()])
    assert client.get(f"{CLOCKS}{theirs.pk}/", **auth).status_code == 404


def test_waivers_list_is_the_orgs_and_read_only(client, sla_org, other_org, auth):
    (clock,) = seed(sla_org, [Row()])
    entitle(other_org, "sla")
    (theirs,) = seed(other_org, [Row()])
    asker = staff()
    mine = SlaWaiver.objects.create(
        clock=clock,
        requested_by=asker,
        reason="x",
        expires_at=timezone.now() + timedelta(days=1),
    )
    SlaWaiver.objects.create(
        clock=theirs,
        requested_by=asker,
        reason="y",
        expires_at=timezone.now() + timedelta(days=1),
    )
    rows = client.get(WAIVERS, **auth).json()["results"]
    assert [r["id"] for r in rows] == [mine.pk]
    assert client.post(WAIVERS, {}, **auth).status_code == 405
    assert client.get(f"{WAIVERS}{mine.pk}/", **auth).json()["clock"] == clock.pk


def test_metrics_for_the_default_window(client, sla_org, auth):
    seed(sla_org, EVERY_STATE)
    body = client.get(METRICS, **auth).json()
    assert body["org"] == sla_org.pk
    assert body["entitlement"] == "active"
    assert body["overall"]["met"] == 1
    assert body["overall"]["missed"] == 1
    assert body["overall"]["breached"] == 1
    assert body["overall"]["attainment"] == 33.3
    assert body["overall"]["open_breaches"] == 1
    assert body["overall"]["at_risk"] == 1
    assert body["overall"]["mttr_median_seconds"] > 0
    assert set(body["severities"]) >= {"critical", "high", "medium", "low"}
    assert set(body["overlays"]) == {
        "fedramp_cr26",
        "fedramp_ra5d",
        "pci_dss_633",
        "cra",
    }
    assert body["overlay_clocks_total"] == 6


def test_metrics_for_a_chosen_window(client, sla_org, auth):
    seed(sla_org, EVERY_STATE)
    today = timezone.now().date()
    params = {
        "start": (today - timedelta(days=1)).isoformat(),
        "end": (today + timedelta(days=1)).isoformat(),
    }
    body = client.get(METRICS, params, **auth).json()
    assert body["start"].startswith(params["start"])
    # Nothing was fixed or fell due in those two days.
    assert body["overall"]["met"] == 0
    assert body["overall"]["missed"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-40"}, "end"),
        ({"start": "2026-03-01", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-02", "end": "2026-03-01"}, "end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "end"),
    ],
)
def test_bad_metric_windows_are_400s_that_say_why(client, sla_org, auth, params, field):
    response = client.get(METRICS, params, **auth)
    assert response.status_code == 400
    assert field in response.json()


def test_the_api_of_an_org_without_sla_answers_empty(client, org, owner):
    auth = _auth(org, owner.user)
    assert client.get(CLOCKS, **auth).json()["results"] == []
    assert client.get(METRICS, **auth).json()["entitlement"] == "never"
