"""GET /api/v1/digests/<digest>/stig/: the counts for anyone, the rules for a
token of an organization entitled to STIG, logged as a download."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.audit.models import AuditEvent
from apps.orgs.models import Role
from tests.catalog import builders as catalog
from tests.entitlements.builders import ensure_tiers, entitle
from tests.factories import MembershipFactory, OrganizationFactory

from . import builders as b

pytestmark = pytest.mark.django_db
Scope = ApiToken.Scope
RULES = [(1, "high", "fail"), (2, "medium", "pass"), (3, "low", "notapplicable")]


@pytest.fixture(autouse=True)
def _setup(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    ensure_tiers()


@pytest.fixture
def image():
    image = b.stig_build()
    b.scan(image, RULES)
    return image


@pytest.fixture
def acme():
    return OrganizationFactory(name="Acme", slug="acme", features=())


def _url(image) -> str:
    return f"/api/v1/digests/{image.digest}/stig/"


def _bearer(org, scopes) -> dict:
    creator = MembershipFactory(org=org, role=Role.OWNER).user
    _, raw = api_token_create(
        org=org, name="ci", scopes=scopes, expires_at=None, actor=creator
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _downloads():
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.EVIDENCE_DOWNLOADED))


def test_anyone_reads_the_summary_without_rules(image):
    response = Client().get(_url(image))
    assert response.status_code == 200
    body = response.json()
    assert body["digest"] == image.digest
    assert body["rules_access"]["allowed"] is False
    assert body["rules_access"]["requires_entitlements"] == ["stig"]
    assert "STIG entitlement" in body["rules_access"]["detail"]
    (scan,) = body["scans"]
    assert scan["benchmark_id"] == "TEST_STIG"
    assert scan["profile_id"] == "MAC-1_Public"
    assert scan["score"] == "50.00"
    assert scan["counts"] == {
        "1": {"fail": 1},
        "2": {"pass": 1},
        "3": {"notapplicable": 1},
    }
    assert scan["rule_count"] == 3
    assert scan["rules"] is None
    assert scan["attestation"].startswith("http://testserver/catalog/attestations/")
    assert "Cache-Control" not in response
    assert _downloads() == []


def test_an_entitled_token_reads_the_rules_and_it_is_logged(image, acme):
    entitle(acme, "stig")
    response = Client().get(_url(image), **_bearer(acme, [Scope.EVIDENCE_READ]))
    assert response.status_code == 200
    body = response.json()
    assert body["rules_access"] == {
        "allowed": True,
        "requires_entitlements": ["stig"],
        "detail": "",
    }
    rules = body["scans"][0]["rules"]
    assert [(r["rule_id"], r["cat"], r["result"]) for r in rules] == [
        ("SV-1r1_rule", 1, "fail"),
        ("SV-2r1_rule", 2, "pass"),
        ("SV-3r1_rule", 3, "notapplicable"),
    ]
    assert rules[0]["vuln_id"] == "V-1"
    assert rules[0]["stig_id"] == "TEST-1"
    assert rules[0]["description"] == "Why rule 1 matters."
    assert rules[0]["ccis"] == ["CCI-000001"]
    assert response["Cache-Control"] == "private, no-store"
    (event,) = _downloads()
    assert event.org == acme
    assert event.details["kind"] == "stig-scan"
    assert event.details["via"] == "token"


@pytest.mark.parametrize(
    ("scopes", "entitled", "detail"),
    [
        ([Scope.ORG_READ], True, "evidence:read"),
        ([Scope.EVIDENCE_READ], False, "STIG entitlement"),
    ],
)
def test_other_tokens_get_no_rules(image, acme, scopes, entitled, detail):
    if entitled:
        entitle(acme, "stig")
    response = Client().get(_url(image), **_bearer(acme, scopes))
    assert response.status_code == 200
    body = response.json()
    assert body["scans"][0]["rules"] is None
    assert body["rules_access"]["allowed"] is False
    assert detail in body["rules_access"]["detail"]
    assert _downloads() == []


def test_the_latest_scan_of_each_benchmark_is_listed(image):
    b.scan(image, [(1, "high", "pass")], start="2030-01-01T00:00:00+00:00")
    other = "xccdf_mil.disa.stig_benchmark_B"
    b.scan(image, [(9, "low", "fail")], benchmark_id=other, benchmark=other)
    scans = Client().get(_url(image)).json()["scans"]
    assert [(s["benchmark_id"], s["rule_count"]) for s in scans] == [
        ("B", 1),
        ("TEST_STIG", 1),
    ]


def test_builds_that_are_not_stig_or_unknown_are_404(image):
    plain = catalog.build(b.stig_series())
    assert Client().get(_url(plain)).status_code == 404
    response = Client().get(f"/api/v1/digests/sha256:{'0' * 64}/stig/")
    assert response.status_code == 404
    assert Client().get("/api/v1/digests/latest/stig/").status_code == 404


def test_a_bad_token_is_401(image):
    response = Client().get(_url(image), HTTP_AUTHORIZATION="Bearer hip_x_y")
    assert response.status_code == 401
