"""Tenancy walker specs for webhooks and their deliveries (tests/test_tenancy.py)."""

from apps.audit.models import AuditEvent
from apps.notifications.models import WebhookEndpoint
from tests.walker import MANAGERS, ROLES, OrgRoute, Outcome, Post, url


def _webhook_added(o: Outcome) -> None:
    endpoint = WebhookEndpoint.objects.for_org(o.world.org).get(
        url="https://hooks.walker.example/sla"
    )
    assert endpoint.secret in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_ADDED)


def _webhook_disabled(o: Outcome) -> None:
    assert not WebhookEndpoint.objects.get(pk=o.world.refs["webhook_pk"]).enabled
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_REMOVED)


def _webhook_rotated(o: Outcome) -> None:
    endpoint = WebhookEndpoint.objects.get(pk=o.world.refs["webhook_pk"])
    assert endpoint.secret in o.response.content.decode()
    assert o.new_events(AuditEvent.Action.WEBHOOK_ENDPOINT_ADDED)


# Every role sees the endpoints and the delivery log; owners and admins change
# them. The secret is shown once, in the answer.
SPECS = [
    OrgRoute(
        "notifications:webhooks",
        get=frozenset(ROLES),
        post=Post(
            MANAGERS,
            data=lambda r: {
                "url": "https://hooks.walker.example/sla",
                "events": ["sla.at_risk"],
            },
            status=201,
            effect=_webhook_added,
        ),
    ),
    OrgRoute(
        "notifications:webhook_disable",
        kwargs={"org_slug": "org_slug", "pk": "webhook_pk"},
        post=Post(
            MANAGERS, location=url("notifications:webhooks"), effect=_webhook_disabled
        ),
    ),
    OrgRoute(
        "notifications:webhook_rotate",
        kwargs={"org_slug": "org_slug", "pk": "webhook_pk"},
        post=Post(MANAGERS, status=200, effect=_webhook_rotated),
    ),
    OrgRoute("notifications:deliveries", get=frozenset(ROLES)),
]
