"""Mirroring: free for a repository, FIPS/STIG/ELS content needs the
entitlement; a lapse keeps the mirror, marks it and shows it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.entitlements.models import Entitlement, Mirror
from apps.entitlements.services import (
    entitlement_end,
    entitlement_grant_contract,
    mirror_add,
    mirror_remove,
    mirrors_recheck,
)
from tests.catalog import builders as catalog
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

from .builders import entitle

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


@pytest.fixture
def org():
    return OrganizationFactory(features=(), slug="initech", name="Initech")


@pytest.fixture
def owner(org):
    return MembershipFactory(org=org, role="owner").user


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


@pytest.fixture
def nginx():
    """A repository with FIPS and STIG variants and an ELS series."""
    repo = catalog.repository("nginx")
    current = catalog.series(repo, "1.27")
    catalog.build(current)
    catalog.build(current, fips=True)
    catalog.build(current, stig=True)
    old = catalog.series(repo, "1.22", eol=-30, support=-30, els=1500)
    catalog.build(old)
    return repo


@pytest.fixture
def plain():
    repo = catalog.repository("busybox")
    catalog.build(catalog.series(repo, "1.36"))
    return repo


def _counts():
    return Mirror.objects.count(), AuditEvent.objects.count()


def test_mirroring_a_repository_is_free(org, owner, nginx):
    mirror = mirror_add(org=org, repository=nginx, actor=owner)
    assert mirror.status == Mirror.Status.ACTIVE
    assert mirror.flags == []
    assert AuditEvent.objects.filter(action=Action.MIRROR_ADDED, org=org).exists()


@pytest.mark.parametrize(
    ("flag", "feature"),
    [("include_fips", "fips"), ("include_stig", "stig"), ("include_els", "els")],
)
def test_paid_content_is_refused_without_the_entitlement(
    org, owner, nginx, flag, feature
):
    before = _counts()
    with pytest.raises(ValidationError, match="does not include"):
        mirror_add(org=org, repository=nginx, actor=owner, **{flag: True})
    assert _counts() == before
    entitle(org, feature, repository=nginx)
    mirror = mirror_add(org=org, repository=nginx, actor=owner, **{flag: True})
    assert getattr(mirror, flag)


def test_an_entitlement_for_another_repository_does_not_help(org, owner, nginx):
    other = catalog.repository("redis")
    entitle(org, "fips", repository=other)
    with pytest.raises(ValidationError):
        mirror_add(org=org, repository=nginx, actor=owner, include_fips=True)


def test_a_flag_without_such_content_is_refused(org, owner, plain):
    entitle(org, "fips", "stig", "els")
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        mirror_add(
            org=org,
            repository=plain,
            actor=owner,
            include_fips=True,
            include_stig=True,
            include_els=True,
        )
    assert set(exc.value.message_dict) == {
        "include_fips",
        "include_stig",
        "include_els",
    }
    assert _counts() == before


def test_a_repository_is_mirrored_once(org, owner, nginx):
    mirror_add(org=org, repository=nginx, actor=owner)
    before = _counts()
    with pytest.raises(ValidationError, match="already mirrored"):
        mirror_add(org=org, repository=nginx, actor=owner)
    assert _counts() == before


def test_checking_three_flags_reads_entitlements_once(org, owner, nginx):
    entitle(org, "fips", "stig", "els")
    from apps.entitlements.selectors import entitlement_cache

    with entitlement_cache(), CaptureQueriesContext(connection) as ctx:
        mirror_add(
            org=org,
            repository=nginx,
            actor=owner,
            include_fips=True,
            include_stig=True,
            include_els=True,
        )
    reads = [
        q
        for q in ctx.captured_queries
        if "entitlements_entitlement" in q["sql"]
        and q["sql"].lstrip().upper().startswith("SELECT")
    ]
    assert len(reads) == 1


def test_lapse_marks_the_mirror_and_restoring_clears_it(org, owner, staff, nginx):
    ent = entitlement_grant_contract(
        org=org,
        feature="fips",
        repository=nginx,
        reference="C-9",
        starts_at=timezone.now() - timedelta(days=10),
        ends_at=None,
        actor=staff,
    )
    mirror = mirror_add(org=org, repository=nginx, actor=owner, include_fips=True)
    entitlement_end(entitlement=ent, at=timezone.now(), actor=staff, reason="Lapsed")
    mirror.refresh_from_db()
    assert mirror.status == Mirror.Status.ENTITLEMENT_LOST
    assert mirror.lost_at is not None
    assert "FIPS" in mirror.lost_reason
    assert AuditEvent.objects.filter(action=Action.MIRROR_ENTITLEMENT_LOST).count() == 1
    # Rechecking again changes nothing and logs nothing.
    assert mirrors_recheck(org=org) == []
    assert AuditEvent.objects.filter(action=Action.MIRROR_ENTITLEMENT_LOST).count() == 1
    entitlement_grant_contract(
        org=org,
        feature="fips",
        reference="C-10",
        starts_at=timezone.now() - timedelta(seconds=1),
        ends_at=None,
        actor=staff,
    )
    mirror.refresh_from_db()
    assert mirror.status == Mirror.Status.ACTIVE
    assert mirror.lost_at is None
    assert AuditEvent.objects.filter(action=Action.MIRROR_ENTITLEMENT_RESTORED).exists()


def test_recheck_at_a_time_after_a_natural_end(org, owner, nginx):
    end = timezone.now() + timedelta(days=3)
    entitle(org, "stig", ends_at=end)
    mirror = mirror_add(org=org, repository=nginx, actor=owner, include_stig=True)
    assert mirrors_recheck(org=org) == []
    (changed,) = mirrors_recheck(org=org, at=end)
    assert changed.pk == mirror.pk
    mirror.refresh_from_db()
    assert mirror.status == Mirror.Status.ENTITLEMENT_LOST
    assert mirror.lost_at == end


def test_remove_is_logged(org, owner, nginx):
    mirror = mirror_add(org=org, repository=nginx, actor=owner)
    mirror_remove(mirror=mirror, actor=owner)
    assert not Mirror.objects.exists()
    assert AuditEvent.objects.filter(action=Action.MIRROR_REMOVED).exists()


# --- the pages -----------------------------------------------------------------


def test_mirrors_page_adds_and_shows_a_lost_entitlement(client, org, owner, nginx):
    client.force_login(owner)
    url = reverse("entitlements:mirrors", args=[org.slug])
    before = _counts()
    response = client.post(url, {"repository": "nginx", "include_fips": "on"})
    assert response.status_code == 400
    assert "does not include FIPS" in response.content.decode()
    assert _counts() == before
    (ent,) = entitle(org, "fips")
    response = client.post(url, {"repository": "nginx", "include_fips": "on"})
    assert response.status_code == 302
    Entitlement.objects.filter(pk=ent.pk).update(ends_at=timezone.now())
    mirrors_recheck(org=org)
    body = client.get(url).content.decode()
    assert "Entitlement lost" in body
    assert "No FIPS entitlement." in body


@pytest.mark.parametrize(
    "data",
    [{}, {"repository": "no-such-repo"}, {"repository": ""}],
    ids=["empty", "unknown", "blank"],
)
def test_mirrors_page_bad_input(client, org, owner, data):
    client.force_login(owner)
    before = _counts()
    response = client.post(reverse("entitlements:mirrors", args=[org.slug]), data)
    assert response.status_code == 400
    assert _counts() == before


def test_members_see_mirrors_but_cannot_change_them(client, org, nginx):
    member = MembershipFactory(org=org, role="member").user
    owner = MembershipFactory(org=org, role="owner").user
    mirror = mirror_add(org=org, repository=nginx, actor=owner)
    client.force_login(member)
    url = reverse("entitlements:mirrors", args=[org.slug])
    body = client.get(url).content.decode()
    assert "nginx" in body
    assert "Mirror a repository" not in body
    before = _counts()
    assert client.post(url, {"repository": "nginx"}).status_code == 403
    remove = reverse("entitlements:mirror_remove", args=[org.slug, mirror.pk])
    assert client.post(remove).status_code == 403
    assert _counts() == before


def test_entitlements_page_shows_current_and_history(client, org, owner, nginx):
    now = timezone.now()
    entitle(
        org,
        "fips",
        repository=nginx,
        reference="C-77",
        starts_at=now - timedelta(days=5),
    )
    entitle(
        org,
        "sso",
        reference="TRIAL-OLD",
        source="trial",
        starts_at=now - timedelta(days=40),
        ends_at=now - timedelta(days=10),
    )
    client.force_login(owner)
    response = client.get(reverse("entitlements:org_entitlements", args=[org.slug]))
    body = response.content.decode()
    current = body[body.index('id="current"') : body.index('id="history"')]
    history = body[body.index('id="history"') :]
    assert "C-77" in current
    assert "nginx" in current
    assert "Contract" in current
    assert "TRIAL-OLD" in history
    assert "Trial" in history
    assert "Ended" in history


def test_the_sweep_marks_mirrors_whose_entitlement_ran_out(org, owner, nginx):
    from apps.entitlements.tasks import mirrors_recheck_all

    (ent,) = entitle(org, "fips", ends_at=timezone.now() + timedelta(days=1))
    mirror = mirror_add(org=org, repository=nginx, actor=owner, include_fips=True)
    assert mirrors_recheck_all.delay().get() == 0
    # The contract's end passes; nobody writes anything.
    Entitlement.objects.filter(pk=ent.pk).update(
        starts_at=timezone.now() - timedelta(days=9),
        ends_at=timezone.now() - timedelta(seconds=1),
    )
    assert mirrors_recheck_all.delay().get() == 1
    mirror.refresh_from_db()
    assert mirror.status == Mirror.Status.ENTITLEMENT_LOST
    event = AuditEvent.objects.get(action=Action.MIRROR_ENTITLEMENT_LOST)
    assert event.actor is None
    assert event.details["missing"] == ["FIPS"]
