"""Tenancy walker specs for entitlements and mirrors (tests/test_tenancy.py)."""

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.entitlements.models import Mirror
from tests.walker import (
    MANAGERS,
    ROLES,
    Expect,
    OrgRoute,
    Outcome,
    Post,
    SiteRoute,
    url,
)


def _mirrored(o: Outcome) -> None:
    assert Mirror.objects.for_org(o.world.org).filter(repository__name="python")
    assert o.new_events(AuditEvent.Action.MIRROR_ADDED)


def _mirror_removed(o: Outcome) -> None:
    assert not Mirror.objects.filter(pk=o.world.refs["mirror_pk"]).exists()
    assert o.new_events(AuditEvent.Action.MIRROR_REMOVED)


SPECS = [
    OrgRoute(
        "entitlements:mirrors",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {"repository": r["repository_name"]},
            location=url("entitlements:mirrors"),
            effect=_mirrored,
        ),
    ),
    OrgRoute(
        "entitlements:mirror_remove",
        kwargs={"org_slug": "org_slug", "pk": "mirror_pk"},
        post=Post(
            MANAGERS, location=url("entitlements:mirrors"), effect=_mirror_removed
        ),
    ),
    OrgRoute("entitlements:org_entitlements", get=frozenset(ROLES)),
    SiteRoute(
        "staff_entitlements",
        get=lambda p: Expect(200, shows_victim=True) if p == "staff" else Expect(403),
        # Staff posting nothing get the form back with errors; nothing is granted.
        post=lambda p: Expect(400, shows_victim=True) if p == "staff" else Expect(403),
    ),
    SiteRoute(
        "staff_entitlement_end",
        kwargs={"pk": "entitlement_pk"},
        get=lambda p: Expect(405) if p == "staff" else Expect(403),
        # Without a reason nothing ends: back to the list with an error.
        post=lambda p: (
            Expect(302, lambda w: reverse("staff_entitlements"))
            if p == "staff"
            else Expect(403)
        ),
    ),
]
