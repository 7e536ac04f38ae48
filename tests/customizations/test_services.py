"""Customizations: counted by the plan, built on mirrored repositories, never
deleted, every write audit-logged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog.services import repository_upsert
from apps.customizations.models import Customization
from apps.customizations.selectors import customization_usage
from apps.customizations.services import (
    customization_archive,
    customization_create,
    customization_update,
)
from apps.entitlements.models import Entitlement, Mirror
from apps.entitlements.services import entitlement_end, entitlement_grant_contract
from tests.entitlements.builders import entitle
from tests.factories import UserFactory

Action = AuditEvent.Action
pytestmark = pytest.mark.django_db


def _create(org, actor, repository, name, **kwargs):
    return customization_create(
        org=org, repository=repository, name=name, actor=actor, **kwargs
    )


def _state():
    return (
        Customization.objects.count(),
        AuditEvent.objects.filter(action__startswith="customization.").count(),
    )


def test_create_within_the_limit_is_logged(acme, acme_owner, mirrored):
    entitle(acme, "customizations", quantity=2)
    made = _create(
        acme,
        acme_owner,
        mirrored,
        "py-extra",
        description="Our Python",
        extra_packages=["curl", "libpq5", "g++"],
        environment={"TZ": "UTC", "PIP_NO_CACHE_DIR": "1"},
    )
    assert made.extra_packages == ["curl", "libpq5", "g++"]
    event = AuditEvent.objects.get(action=Action.CUSTOMIZATION_CREATED)
    assert event.org == acme
    assert event.actor == acme_owner
    assert event.details["used"] == 1
    assert event.details["limit"] == 2
    # Variable names are logged, not their values.
    assert event.details["environment"] == ["PIP_NO_CACHE_DIR", "TZ"]


def test_limit_reached_refuses_the_next_one(acme, acme_owner, mirrored):
    entitle(acme, "customizations", quantity=2)
    _create(acme, acme_owner, mirrored, "one")
    _create(acme, acme_owner, mirrored, "two")
    before = _state()
    with pytest.raises(ValidationError, match="All 2 customizations"):
        _create(acme, acme_owner, mirrored, "three")
    assert _state() == before


def test_archiving_frees_a_place_and_never_deletes(acme, acme_owner, mirrored):
    entitle(acme, "customizations", quantity=1)
    first = _create(acme, acme_owner, mirrored, "one")
    customization_archive(customization=first, actor=acme_owner)
    first.refresh_from_db()
    assert first.archived_at is not None
    again = _create(acme, acme_owner, mirrored, "one")  # the name is free again
    assert Customization.objects.filter(name="one").count() == 2
    assert again.pk != first.pk
    assert AuditEvent.objects.filter(action=Action.CUSTOMIZATION_REMOVED).count() == 1
    with pytest.raises(ValidationError, match="already archived"):
        customization_archive(customization=first, actor=acme_owner)
    with pytest.raises(ValidationError, match="archived customization"):
        customization_update(customization=first, actor=acme_owner, description="x")


def test_unlimited_plan(acme, acme_owner, mirrored):
    entitle(acme, "customizations")  # quantity None
    for i in range(12):
        _create(acme, acme_owner, mirrored, f"c{i}")
    usage = customization_usage(org=acme)
    assert (usage.used, usage.limit, usage.can_create) == (12, None, True)


def test_zero_means_none(acme, acme_owner, mirrored):
    entitle(acme, "customizations", quantity=0)
    with pytest.raises(ValidationError, match="no customizations"):
        _create(acme, acme_owner, mirrored, "one")
    assert _state() == (0, 0)


def test_no_entitlement_means_none(acme, acme_owner, mirrored):
    with pytest.raises(ValidationError, match="no customizations"):
        _create(acme, acme_owner, mirrored, "one")


def test_downgrade_keeps_existing_ones_editable_but_stops_creation(
    acme, acme_owner, mirrored
):
    staff = UserFactory(is_staff=True)
    (enterprise,) = entitle(acme, "customizations")
    made = [_create(acme, acme_owner, mirrored, f"c{i}") for i in range(7)]
    entitlement_end(entitlement=enterprise, at=timezone.now(), actor=staff, reason="x")
    entitlement_grant_contract(
        org=acme,
        feature="customizations",
        quantity=5,
        reference="SELECT",
        starts_at=timezone.now(),
        ends_at=None,
        actor=staff,
    )
    assert Customization.objects.for_org(acme).active().count() == 7
    with pytest.raises(ValidationError, match="7 of 5 used: archive 3"):
        _create(acme, acme_owner, mirrored, "new")

    edited = customization_update(
        customization=made[0], actor=acme_owner, extra_packages=["jq"]
    )
    assert edited.extra_packages == ["jq"]
    assert AuditEvent.objects.filter(action=Action.CUSTOMIZATION_UPDATED).count() == 1

    for c in made[:2]:
        customization_archive(customization=c, actor=acme_owner)
    with pytest.raises(ValidationError, match="All 5 customizations"):
        _create(acme, acme_owner, mirrored, "new")
    customization_archive(customization=made[2], actor=acme_owner)
    assert _create(acme, acme_owner, mirrored, "new").name == "new"


def test_repository_must_be_mirrored(acme, acme_owner, python):
    entitle(acme, "customizations")
    with pytest.raises(ValidationError) as exc:
        _create(acme, acme_owner, python, "one")
    assert "mirror it first" in exc.value.message_dict["repository"][0]


def test_another_orgs_mirror_does_not_count(acme, acme_owner, python, other_org):
    entitle(acme, "customizations")
    Mirror.objects.create(org=other_org, repository=python, created_by=acme_owner)
    with pytest.raises(ValidationError, match="mirror it first"):
        _create(acme, acme_owner, python, "one")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "lowercase letters"),
        ("name", "Bad_Name", "lowercase letters"),
        ("name", "-leading", "lowercase letters"),
        ("name", "x" * 64, "lowercase letters"),
        ("description", "x" * 2001, "At most 2000"),
        ("description", 5, "must be text"),
        ("extra_packages", "curl", "list of package names"),
        ("extra_packages", ["Curl"], "Not a package name"),
        ("extra_packages", ["curl; rm -rf /"], "Not a package name"),
        ("extra_packages", ["-x"], "Not a package name"),
        ("extra_packages", [3], "list of package names"),
        ("extra_packages", ["curl", "jq", "curl"], "more than once: curl"),
        ("extra_packages", [f"p{i}" for i in range(101)], "At most 100 packages"),
        ("environment", ["A=1"], "NAME=value"),
        ("environment", {"1BAD": "x"}, "Not a variable name"),
        ("environment", {"A-B": "x"}, "Not a variable name"),
        ("environment", {"A": 1}, "values are text"),
        ("environment", {"A": "x" * 4097}, "at most 4096"),
        ("environment", {f"V{i}": "" for i in range(101)}, "At most 100 variables"),
    ],
)
def test_bad_input_is_refused_without_writing(
    acme, acme_owner, mirrored, field, value, message
):
    entitle(acme, "customizations")
    kwargs = {"name": "ok", field: value}
    with pytest.raises(ValidationError) as exc:
        _create(acme, acme_owner, mirrored, **kwargs)
    assert message in " ".join(exc.value.message_dict[field])
    assert _state() == (0, 0)


def test_bad_update_changes_nothing(acme, acme_owner, mirrored):
    entitle(acme, "customizations")
    made = _create(acme, acme_owner, mirrored, "one", extra_packages=["jq"])
    _create(acme, acme_owner, mirrored, "two")
    before = _state()
    with pytest.raises(ValidationError) as exc:
        customization_update(
            customization=made,
            actor=acme_owner,
            name="two",
            extra_packages=["BAD"],
        )
    assert set(exc.value.message_dict) == {"name", "extra_packages"}
    made.refresh_from_db()
    assert made.extra_packages == ["jq"]
    assert _state() == before


def test_duplicate_name_in_the_org_is_refused(acme, acme_owner, mirrored, other_org):
    entitle(acme, "customizations")
    _create(acme, acme_owner, mirrored, "one")
    with pytest.raises(ValidationError, match="already a customization named one"):
        _create(acme, acme_owner, mirrored, "one")


def _other_repo():
    return repository_upsert(name="nginx", display_name="nginx", category="web")


def test_ended_entitlement_stops_creation(acme, acme_owner, mirrored):
    (row,) = entitle(acme, "customizations", quantity=3)
    Entitlement.objects.filter(pk=row.pk).update(
        ends_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ValidationError, match="no customizations"):
        _create(acme, acme_owner, mirrored, "one")


# --- the race at the limit (PostgreSQL) -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_at_the_limit_do_not_both_succeed(require_postgres):
    from apps.orgs.models import Role
    from tests.entitlements.builders import ensure_tiers
    from tests.factories import MembershipFactory, OrganizationFactory

    ensure_tiers()
    org = OrganizationFactory(name="Race", slug="race", features=())
    owner = MembershipFactory(org=org, role=Role.OWNER).user
    repo = _other_repo()
    Mirror.objects.create(org=org, repository=repo, created_by=owner)
    entitle(org, "customizations", quantity=3)
    _create(org, owner, repo, "c0")
    _create(org, owner, repo, "c1")

    start = threading.Barrier(4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        try:
            start.wait()
            _create(org, owner, repo, f"racer-{i}")
            result = "created"
        except ValidationError as exc:
            result = " ".join(exc.messages)
        except Exception as exc:
            result = repr(exc)
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert outcomes.count("created") == 1, outcomes
    assert all("All 3 customizations" in o for o in outcomes if o != "created")
    assert Customization.objects.for_org(org).active().count() == 3
    assert (
        AuditEvent.objects.filter(action=Action.CUSTOMIZATION_CREATED, org=org).count()
        == 3
    )
