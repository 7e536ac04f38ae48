"""FedRAMP CR26 over the API: the class, the repositories' IRV and PAIN and a
clock's evaluation, set with ``sla:write`` by an owner's or admin's token,
refused like the pages refuse them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.sla.models import FedrampClockEvaluation
from tests.entitlements.builders import entitle
from tests.sla.ledger_rows import Row, seed

from .builders import PACKAGE, fedramp_customer

pytestmark = pytest.mark.usefixtures("sla_defaults")
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


def _bearer(org, user, *scopes) -> dict:
    _, raw = api_token_create(
        org=org, name="fedramp", scopes=list(scopes), expires_at=None, actor=user
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_the_api_sets_and_refuses_like_the_pages(
    client, sla_org, owner, clock, repository
):
    auth = _bearer(sla_org, owner.user, Scope.SLA_READ, Scope.SLA_WRITE)
    profile = "/api/v1/fedramp/profile/"
    bad = client.post(
        profile, {"certification_class": "E"}, content_type="application/json", **auth
    )
    assert bad.status_code == 400
    assert "certification_class" in bad.json()
    bad = client.post(
        profile,
        {"certification_class": "C", "package_uri": "http://x.example"},
        content_type="application/json",
        **auth,
    )
    assert bad.status_code == 400
    assert "package_uri" in bad.json()
    good = client.post(
        profile,
        {"certification_class": "C", "package_uri": PACKAGE},
        content_type="application/json",
        **auth,
    )
    assert good.status_code == 201
    assert good.json()["certification_class"] == "C"
    exposures = "/api/v1/fedramp/exposures/"
    for body, field in (
        (
            {"repository": repository.name, "internet_reachable": True, "pain": 9},
            "pain",
        ),
        ({"repository": "nope", "internet_reachable": True, "pain": 3}, "repository"),
        (
            {
                "repository": repository.name,
                "internet_reachable": "sometimes",
                "pain": 3,
            },
            "internet_reachable",
        ),
    ):
        bad = client.post(exposures, body, content_type="application/json", **auth)
        assert bad.status_code == 400, body
        assert field in bad.json()
    good = client.post(
        exposures,
        {"repository": repository.name, "internet_reachable": True, "pain": 4},
        content_type="application/json",
        **auth,
    )
    assert good.status_code == 201
    (row,) = good.json()["results"]
    assert (row["internet_reachable"], row["pain"]) == (True, 4)
    evaluate = f"/api/v1/sla/clocks/{clock.pk}/evaluate/"
    bad = client.post(evaluate, {"pain": 3}, content_type="application/json", **auth)
    assert bad.status_code == 400
    assert "reason" in bad.json()
    good = client.post(
        evaluate,
        {"pain": 3, "reason": "Segmented"},
        content_type="application/json",
        **auth,
    )
    assert good.status_code == 201
    cr26 = good.json()["cr26"]
    assert cr26["tracking_id"] == f"V-{clock.pk}"
    assert [e["kind"] for e in cr26["evaluations"]] == ["initial", "reduction"]
    assert cr26["evaluations"][-1]["reason"] == "Segmented"


def test_a_members_token_cannot_write(client, sla_org, owner, member, clock):
    fedramp_customer(sla_org, owner.user)
    auth = _bearer(sla_org, owner.user, Scope.SLA_WRITE)
    # Demoted after minting: the token's standing no longer holds.
    owner.role = "member"
    owner.save()
    response = client.post(
        f"/api/v1/sla/clocks/{clock.pk}/evaluate/",
        {"pain": 3, "reason": "x"},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 403
    assert not FedrampClockEvaluation.objects.exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"start": "2026-13-01"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"start": "2026-05-02", "end": "2026-05-01"}, "non_field_errors"),
        ({"start": "2020-01-01", "end": "2025-12-31"}, "non_field_errors"),
        ({"start": "2999-01-01", "end": "2999-01-02"}, "non_field_errors"),
    ],
)
def test_a_bad_window_is_400_and_downloads_nothing(
    client, sla_org, owner, query, field
):
    from apps.audit.models import AuditEvent

    fedramp_customer(sla_org, owner.user)
    auth = _bearer(sla_org, owner.user, Scope.EVIDENCE_READ)
    response = client.get("/api/v1/fedramp/documents/vdt/", query, **auth)
    assert response.status_code == 400
    assert field in response.json()
    assert not AuditEvent.objects.filter(
        action=AuditEvent.Action.EVIDENCE_DOWNLOADED
    ).exists()


def test_an_unknown_document_is_404(client, sla_org, owner):
    auth = _bearer(sla_org, owner.user, Scope.EVIDENCE_READ)
    assert client.get("/api/v1/fedramp/documents/poam/", **auth).status_code == 404


def test_without_a_class_the_ver_documents_are_404_and_the_inventory_is_there(
    client, sla_org, owner
):
    auth = _bearer(sla_org, owner.user, Scope.EVIDENCE_READ)
    listing = client.get("/api/v1/fedramp/documents/", **auth).json()
    assert set(listing["documents"]) == {"cmu"}
    assert client.get("/api/v1/fedramp/documents/vdt/", **auth).status_code == 404
    assert client.get("/api/v1/fedramp/documents/cmu/", **auth).status_code == 200


def test_an_auditor_downloads_only_inside_the_grants_window(client, sla_org, owner):
    from django.urls import reverse

    from tests.factories import AuditorGrantFactory, UserFactory

    fedramp_customer(sla_org, owner.user)
    auditor = UserFactory(email="eve@audit.example")
    today = timezone.now().date()
    AuditorGrantFactory(
        org=sla_org,
        email=auditor.email,
        created_by=owner.user,
        window_start=today - timedelta(days=20),
        window_end=today,
    )
    client.force_login(auditor)
    url = reverse("reports:fedramp_vdt", args=[sla_org.slug])
    inside = {"start": str(today - timedelta(days=10)), "end": str(today)}
    outside = {"start": str(today - timedelta(days=40)), "end": str(today)}
    assert client.get(url, inside).status_code == 200
    assert client.get(url, outside).status_code == 403
