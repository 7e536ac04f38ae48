"""The authorization walker: the tenancy walker's routes, walked again by
people and tokens whose standing no longer holds.

Every door the tenancy walker covers (tests/test_tenancy.py; its route
coverage test makes sure a new door gets a spec) is asked:

* on the API, by a token minted with exactly the scope it needs, after
  - its creator, an admin, was demoted to member (``demoted``),
  - the organization began to require two-factor authentication and the
    creator has none (``mfa_unmet``),
  each must answer 403 naming the suspension and change nothing;
* on the organization's pages, by its owner, a member and an auditor while
  the organization requires two-factor authentication and they have none:
  each is sent to set one up and nothing changes;
* at every evidence door (pages and API that answer with FIPS or STIG
  evidence), by a member, an auditor and a token of an organization entitled
  to it: allowed; then refused once the entitlement lapsed, and refused while
  the organization's two-factor rule is unmet. A new evidence door must be
  added to EVIDENCE_DOORS: ``test_every_evidence_door_is_walked`` finds the
  views that decide evidence access and fails on one not listed.

A suspended token is not revoked: ``test_a_suspended_token_comes_back`` shows
it working again once its creator's standing holds.
"""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken
from apps.entitlements.models import Entitlement
from apps.orgs.models import Role
from tests import test_tenancy as tenancy
from tests.entitlements.builders import entitle
from tests.test_tenancy import API_SPECS, ORG_SPECS, _paths, _token, fingerprint
from tests.walker import ADMIN, AUDITOR, MEMBER, OWNER, World

ROOT = Path(__file__).resolve().parent.parent

# The tenancy walker's world, built once for this module too.
world_media = tenancy.world_media
world = tenancy.world
_media = tenancy._media


def _mfa(user) -> None:
    from allauth.mfa.models import Authenticator

    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )


def _require_mfa(w: World) -> None:
    w.org.require_mfa = True
    w.org.save(update_fields=["require_mfa"])


# --------------------------------------------------------------------------
# The API: suspended tokens.
# --------------------------------------------------------------------------


def _api_cases():
    for spec in API_SPECS:
        if spec.public:
            continue
        for method in ("GET", "POST"):
            if spec.op(method) is None:
                continue
            for standing in ("demoted", "mfa_unmet"):
                yield pytest.param(
                    spec, method, standing, id=f"{spec.name}-{method}-{standing}"
                )


@pytest.mark.django_db
@pytest.mark.parametrize(("spec", "method", "standing"), list(_api_cases()))
def test_a_token_out_of_standing_is_refused(spec, method, standing, world: World):
    op = spec.op(method)
    if standing == "demoted":
        creator = world.memberships[ADMIN]
        raw = _token(world.org, creator.user, [op.scope])
        creator.role = Role.MEMBER
        creator.save(update_fields=["role"])
    else:
        raw = _token(world.org, world.users[OWNER], [op.scope])
        _require_mfa(world)
    (path, *_) = _paths(spec, world.refs)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    before = fingerprint()
    client = Client()
    if method == "GET":
        response = client.get(path, **headers)
    else:
        body = op.data(world.refs) if op.data else {}
        response = client.post(path, body, content_type="application/json", **headers)
    assert response.status_code == 403, response.content[:300]
    assert "This token is suspended" in response.json()["detail"]
    assert fingerprint() == before, "a suspended token changed data"


@pytest.mark.django_db
def test_a_suspended_token_comes_back(world: World):
    """Suspension follows the creator's standing both ways; it is no revocation."""
    path = reverse("api:member-list")
    creator = world.memberships[ADMIN]
    raw = _token(world.org, creator.user, [ApiToken.Scope.MEMBERS_READ])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(path).status_code == 200
    creator.role = Role.MEMBER
    creator.save(update_fields=["role"])
    refused = client.get(path)
    assert refused.status_code == 403
    assert "role (member) no longer allows" in refused.json()["detail"]
    creator.role = Role.ADMIN
    creator.save(update_fields=["role"])
    assert client.get(path).status_code == 200
    _require_mfa(world)
    refused = client.get(path)
    assert "requires two-factor authentication" in refused.json()["detail"]
    _mfa(creator.user)
    assert client.get(path).status_code == 200
    token = ApiToken.objects.get(created_by=creator.user, name="walker")
    assert token.revoked_at is None


# --------------------------------------------------------------------------
# Organization pages: the two-factor rule.
# --------------------------------------------------------------------------


def _page_cases():
    for spec in ORG_SPECS:
        for method in ("GET", "POST"):
            for principal in (OWNER, MEMBER, AUDITOR):
                yield pytest.param(
                    spec, method, principal, id=f"{spec.name}-{method}-{principal}"
                )


@pytest.mark.django_db
@pytest.mark.parametrize(("spec", "method", "principal"), list(_page_cases()))
def test_org_pages_wait_for_a_second_factor(spec, method, principal, world: World):
    _require_mfa(world)
    (path,) = _paths(spec, world.refs)
    client = Client()
    client.force_login(world.users[principal])
    data = spec.post.data(world.refs) if method == "POST" and spec.post else {}
    before = fingerprint()
    response = client.get(path) if method == "GET" else client.post(path, data)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == reverse("mfa_activate_totp")
    assert fingerprint() == before


# --------------------------------------------------------------------------
# Evidence doors: entitlement and the two-factor rule.
# --------------------------------------------------------------------------

# Every page and API route that answers with sold (FIPS or STIG) evidence, the
# path for the world's STIG build, and what "allowed" looks like there.
EVIDENCE_DOORS = {
    "stig_checklist:ckl": ("page", 200),
    "stig_checklist:cklb": ("page", 200),
    "stig:diff": ("page", 200),
    "api:digest-stig": ("api", 200),
    "catalog:attestation_download": ("page", 200),
    "catalog:digest": ("page", 200),
    "api:digest-detail": ("api", 200),
}
# Modules whose views decide evidence access (an AST scan finds the callers
# of evidence_access; each must be reached through a door listed above).
EVIDENCE_VIEW_MODULES = {
    "apps/public/views.py": {"catalog:digest"},
    "apps/stig/checklist_views.py": {"stig_checklist:ckl", "stig_checklist:cklb"},
    "apps/stig/views.py": {"stig:diff"},
    "apps/api/stig_views.py": {"api:digest-stig"},
    "apps/api/catalog_serializers/digests.py": {"api:digest-detail"},
    "apps/evidence/downloads.py": {"catalog:attestation_download"},
}


def test_every_evidence_door_is_walked():
    calling = set()
    for path in (ROOT / "apps").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None))
                == "evidence_access"
            ):
                calling.add(str(path.relative_to(ROOT)))
    calling.discard("apps/evidence/access.py")
    assert calling == set(EVIDENCE_VIEW_MODULES), (
        "a module decides evidence access: list its doors in EVIDENCE_DOORS "
        "and EVIDENCE_VIEW_MODULES"
    )
    listed = set().union(*EVIDENCE_VIEW_MODULES.values())
    assert listed <= set(EVIDENCE_DOORS)


@pytest.fixture
def stig_evidence(world: World):
    """The world's STIG build, with an attestation, its repository entitled
    to the victim organization (STIG) for a year."""
    from apps.catalog.models import ImageDigest
    from tests.catalog import builders as catalog

    image = ImageDigest.objects.get(digest=world.refs["stig_scan_digest"])
    attestation = catalog.sbom(image)
    (entitlement,) = entitle(
        world.org, "stig", repository=image.variant.series.repository
    )
    return {
        "digest": image.digest,
        "pk": attestation.pk,
        "entitlement": entitlement,
    }


def _door_path(name: str, evidence: dict) -> str:
    kwargs = (
        {"pk": evidence["pk"]}
        if name == "catalog:attestation_download"
        else {"digest": evidence["digest"]}
    )
    return reverse(name, kwargs=kwargs)


def _ask(name: str, evidence: dict, who: str, world: World):
    kind, _ = EVIDENCE_DOORS[name]
    client = Client()
    path = _door_path(name, evidence)
    if kind == "api":
        raw = _token(world.org, world.users[OWNER], [ApiToken.Scope.EVIDENCE_READ])
        return client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.force_login(world.users[who])
    return client.get(path)


def _shows_evidence(name: str, response) -> bool:
    """Whether the answer carries the sold evidence, door by door."""
    if response.status_code != 200:
        return False
    if name == "catalog:digest":
        return response.context["evidence"].allowed
    if name == "api:digest-detail":
        attestations = response.json()["attestations"]
        assert attestations
        return any(a["downloadable"] for a in attestations)
    if name == "api:digest-stig":
        return response.json()["rules_access"]["allowed"]
    return True


def _door_cases():
    for name in EVIDENCE_DOORS:
        kind, _ = EVIDENCE_DOORS[name]
        for who in ("token",) if kind == "api" else (MEMBER, AUDITOR):
            for state in ("entitled", "lapsed", "mfa_unmet"):
                yield pytest.param(name, who, state, id=f"{name}-{who}-{state}")


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "who", "state"), list(_door_cases()))
def test_evidence_doors_follow_entitlement_and_the_mfa_rule(
    name, who, state, world: World, stig_evidence
):
    if state == "lapsed":
        Entitlement.objects.filter(pk=stig_evidence["entitlement"].pk).update(
            ends_at=timezone.now() - timedelta(minutes=1)
        )
    elif state == "mfa_unmet":
        _require_mfa(world)
    response = _ask(name, stig_evidence, who, world)
    assert response.status_code < 500
    if state == "entitled":
        assert _shows_evidence(name, response), (response.status_code, name)
    else:
        assert not _shows_evidence(name, response), (response.status_code, name)


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["catalog:attestation_download", "stig:diff"])
def test_a_refusal_for_the_mfa_rule_says_so(name, world: World, stig_evidence):
    """Entitled through an organization whose two-factor rule is unmet: the
    page names the rule and the way to meet it, not the plans."""
    _require_mfa(world)
    response = _ask(name, stig_evidence, MEMBER, world)
    assert response.status_code == 403
    body = response.content.decode()
    assert "requires two-factor authentication" in body
    assert reverse("mfa_activate_totp") in body
    assert "None of your organizations holds" not in body
    assert "need two-factor authentication" in body or "needs two-factor" in body
