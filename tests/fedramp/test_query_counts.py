"""What FedRAMP CR26 costs the pages and the API, in queries: a fixed
number, whatever the clocks and mirrors (no query per row), pinned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.sla.models import SlaClock
from apps.sla.services import fedramp as services
from tests.catalog import builders as catalog
from tests.entitlements.builders import entitle
from tests.sla.builders import mirror
from tests.sla.ledger_rows import Row, seed

from .builders import exposure, fedramp_customer

pytestmark = pytest.mark.usefixtures("sla_defaults")
Scope = ApiToken.Scope

# Measured on SQLite and PostgreSQL (the same on both). The FedRAMP page: a
# signed-in organization page (9) and its switcher, the class, the
# exposures, the mirrors.
FEDRAMP_PAGE = 13
# The SLA page of a FedRAMP customer reads its exposures and its clocks'
# evaluations besides its class (tests/sla/test_views.py pins the rest).
FEDRAMP_CUSTOMER_EXTRA = 2
# One clock's page: its class, its repository's exposure (for a customer)
# and its own evaluations.
CLOCK_PAGE_EXTRA = 1
# A document over the API: the token, its creator and organization, the
# class, the exposures, the evaluations, the clocks, the FIPS mirrors and
# builds, the modules, the audit event; on PostgreSQL one more, the audit
# chain's advisory lock.
API_DOCUMENT = 11


def _count(client, url, **headers) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, **headers)
        assert response.status_code == 200, response
    return len(ctx.captured_queries)


@pytest.fixture
def sla_org(org):
    entitle(org, "sla", starts_at=timezone.now() - timedelta(days=400))
    return org


def _rows(n: int) -> list[Row]:
    return [Row(), Row("met", stopped=1, due=2), Row("breached", due=-1)] * n


def test_the_fedramp_page_costs_the_same_for_one_mirror_or_many(
    client, sla_org, owner, django_assert_num_queries
):
    fedramp_customer(sla_org, owner.user)
    client.force_login(owner.user)
    url = reverse("sla:fedramp", args=[sla_org.slug])
    (clock,) = seed(sla_org, [Row()])
    exposure(
        sla_org,
        owner.user,
        clock.finding.digest.variant.series.repository,
        irv=True,
        pain=4,
    )
    client.get(url)  # the first visit remembers the org in the session
    few = _count(client, url)
    for i in range(6):
        repo = catalog.repository(f"more-{i}")
        mirror(sla_org, repo)
        exposure(sla_org, owner.user, repo, irv=bool(i % 2), pain=1 + i % 5)
    many = _count(client, url)
    assert few == many == FEDRAMP_PAGE
    with django_assert_num_queries(FEDRAMP_PAGE):
        client.get(url)


def test_cr26_costs_the_sla_page_two_queries_whatever_the_clocks(
    client, sla_org, owner
):
    client.force_login(owner.user)
    url = reverse("sla:clocks", args=[sla_org.slug])
    clocks = seed(sla_org, _rows(2))
    client.get(url)
    before = _count(client, url)
    fedramp_customer(sla_org, owner.user)
    repository = clocks[0].finding.digest.variant.series.repository
    exposure(sla_org, owner.user, repository, irv=True, pain=4)
    fresh = SlaClock.objects.select_related("org").get(pk=clocks[0].pk)
    services.fedramp_clock_evaluate(clock=fresh, actor=owner.user, pain=3, reason="x")
    few = _count(client, url)
    assert few == before + FEDRAMP_CUSTOMER_EXTRA
    seed(sla_org, _rows(20), repo_name=None)
    assert _count(client, url) == few


def test_cr26_costs_a_clock_page_one_query_for_a_customer(client, sla_org, owner):
    client.force_login(owner.user)
    (clock,) = seed(sla_org, [Row()])
    url = reverse("sla:clock_detail", args=[sla_org.slug, clock.pk])
    client.get(url)
    before = _count(client, url)
    fedramp_customer(sla_org, owner.user)
    exposure(
        sla_org,
        owner.user,
        clock.finding.digest.variant.series.repository,
        irv=True,
        pain=4,
    )
    fresh = SlaClock.objects.select_related("org").get(pk=clock.pk)
    for pain in (3, 2):
        services.fedramp_clock_evaluate(
            clock=fresh, actor=owner.user, pain=pain, reason="x"
        )
    assert _count(client, url) == before + CLOCK_PAGE_EXTRA


def test_a_document_over_the_api_costs_the_same_for_few_or_many_clocks(
    client, sla_org, owner, django_assert_num_queries
):
    clocks = seed(sla_org, _rows(2))
    now = timezone.now()
    for c in clocks:
        SlaClock.objects.filter(pk=c.pk).update(created_at=now - timedelta(days=6))
    fedramp_customer(sla_org, owner.user)
    SlaClock.objects.filter(org=sla_org).update(created_at=now - timedelta(days=6))
    _, raw = api_token_create(
        org=sla_org,
        name="q",
        scopes=[Scope.EVIDENCE_READ],
        expires_at=None,
        actor=owner.user,
    )
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    window = f"?start={(now - timedelta(days=10)).date()}&end={now.date()}"
    url = "/api/v1/fedramp/documents/vdt/" + window
    client.get(url, **headers)  # last_used_at is written at most once a minute
    few = _count(client, url, **headers)
    seed(sla_org, _rows(12))
    SlaClock.objects.filter(org=sla_org).update(created_at=now - timedelta(days=6))
    many = _count(client, url, **headers)
    response = client.get(url, **headers)
    assert len(response.json()["vulnerabilities"]) == 28  # the open ones
    pinned = API_DOCUMENT + (connection.vendor == "postgresql")
    assert few == many == pinned
    with django_assert_num_queries(pinned):
        client.get(url, **headers)
