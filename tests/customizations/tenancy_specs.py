"""Tenancy walker specs for customizations (tests/test_tenancy.py)."""

from apps.accounts.models import ApiToken
from apps.audit.models import AuditEvent
from apps.customizations.models import Customization
from tests.walker import (
    MANAGERS,
    ROLES,
    ApiOp,
    ApiRoute,
    OrgRoute,
    Outcome,
    Post,
    ids,
    url,
)

Scope = ApiToken.Scope


def _customized(o: Outcome) -> None:
    assert Customization.objects.for_org(o.world.org).filter(name="walker-recipe")
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_CREATED)


def _customization_archived(o: Outcome) -> None:
    assert Customization.objects.get(pk=o.world.refs["customization_pk"]).archived_at
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_REMOVED)


def _api_customized(o: Outcome) -> None:
    made = Customization.objects.for_org(o.world.org).get(name="api-recipe")
    assert o.response.json()["id"] == made.pk
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_CREATED)


def _api_customized_elsewhere(o: Outcome) -> None:
    assert not Customization.objects.for_org(o.world.org).filter(name="api-recipe")
    assert Customization.objects.for_org(o.world.other_org).get(name="api-recipe")
    new = set(o.after["events"]) - set(o.before["events"])
    assert not AuditEvent.objects.filter(id__in=new, org=o.world.org).exists()


def _api_customization_archived(o: Outcome) -> None:
    assert Customization.objects.get(pk=o.world.refs["customization_pk"]).archived_at
    assert o.new_events(AuditEvent.Action.CUSTOMIZATION_REMOVED)


SPECS = [
    OrgRoute(
        "customizations:list",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {"repository": "custom-base", "name": "walker-recipe"},
            location=url("customizations:list"),
            effect=_customized,
        ),
    ),
    OrgRoute(
        "customizations:archive",
        kwargs={"org_slug": "org_slug", "pk": "customization_pk"},
        post=Post(
            MANAGERS,
            location=url("customizations:list"),
            effect=_customization_archived,
        ),
    ),
    ApiRoute(
        "api:customization-list",
        get=ApiOp(Scope.CUSTOMIZATIONS_READ, other="list"),
        post=ApiOp(
            Scope.CUSTOMIZATIONS_WRITE,
            status=201,
            data=lambda r: {"repository": "custom-base", "name": "api-recipe"},
            effect=_api_customized,
            other="create",
            other_effect=_api_customized_elsewhere,
        ),
        rows=ids(Customization),
    ),
    ApiRoute(
        "api:customization-detail",
        kwargs={"pk": "customization_pk"},
        get=ApiOp(Scope.CUSTOMIZATIONS_READ),
    ),
    ApiRoute(
        "api:customization-archive",
        kwargs={"pk": "customization_pk"},
        post=ApiOp(Scope.CUSTOMIZATIONS_WRITE, effect=_api_customization_archived),
    ),
]
