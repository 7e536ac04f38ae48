"""Registering endpoints: bad input refused, the secret shown once."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.notifications.models import Delivery, WebhookEndpoint
from apps.notifications.services import webhook_endpoint_create
from tests.core.outbound_support import production_rules

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def _url(org, name="notifications:webhooks"):
    return reverse(name, kwargs={"org_slug": org.slug})


def _post(client, org, **data):
    body = {"url": "https://hooks.acme.example/sla", "events": ["sla.breached"]}
    body.update(data)
    return client.post(_url(org), {k: v for k, v in body.items() if v is not None})


def test_the_secret_is_shown_once_and_kept_to_sign(org, owner, client_for):
    client = client_for(owner.user)
    response = _post(client, org, description="PagerDuty")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.for_org(org).get()
    # Kept as written: every delivery is signed with it.
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) >= 24
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret not in client.get(_url(org)).content.decode()
    assert endpoint.events == ["sla.breached"]
    assert (
        AuditEvent.objects.filter(org=org, action=Action.WEBHOOK_ENDPOINT_ADDED).count()
        == 1
    )


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"url": "not a url"}, "url", "Enter a full URL"),
        ({"url": "ftp://hooks.acme.example/x"}, "url", "Enter a full URL"),
        ({"url": ""}, "url", "This field is required"),
        ({"events": ["sla.resolved"]}, "events", "Unknown event sla.resolved"),
        ({"events": None}, "events", "Choose at least one event"),
        ({"description": "x" * 201}, "description", "at most 200"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    org, owner, client_for, data, field, message
):
    before = AuditEvent.objects.count()
    response = _post(client_for(owner.user), org, **data)
    assert response.status_code == 400
    assert message in str(response.context["form"].errors[field])
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.count() == before


def test_plain_http_is_refused_in_production(org, owner, client_for, settings):
    production_rules(settings)
    response = _post(client_for(owner.user), org, url="http://hooks.acme.example/x")
    assert response.status_code == 400
    assert "must use https" in str(response.context["form"].errors["url"])
    assert not WebhookEndpoint.objects.exists()


def test_plain_http_is_accepted_in_development(org, owner, settings):
    settings.DEV_MODE = True
    endpoint, _ = webhook_endpoint_create(
        org=org, url="http://127.0.0.1:8001/x", events=["sla.at_risk"], actor=owner.user
    )
    assert endpoint.url == "http://127.0.0.1:8001/x"


def test_the_service_refuses_what_the_form_would(org, owner, settings):
    from django.core.exceptions import ValidationError

    production_rules(settings)
    with pytest.raises(ValidationError) as exc:
        webhook_endpoint_create(
            org=org, url="http://x.example/", events=["nope"], actor=owner.user
        )
    assert set(exc.value.message_dict) == {"url", "events"}


def test_members_see_the_endpoints_but_cannot_add_one(org, owner, member, client_for):
    webhook_endpoint_create(
        org=org, url="https://h.example/a", events=["sla.at_risk"], actor=owner.user
    )
    client = client_for(member.user)
    page = client.get(_url(org))
    assert page.status_code == 200
    assert "https://h.example/a" in page.content.decode()
    assert "Add endpoint" not in page.content.decode()
    assert _post(client, org).status_code == 403
    assert WebhookEndpoint.objects.count() == 1


def test_rotating_shows_a_new_secret_once(org, owner, client_for):
    endpoint, old = webhook_endpoint_create(
        org=org, url="https://h.example/a", events=["sla.at_risk"], actor=owner.user
    )
    client = client_for(owner.user)
    response = client.post(
        reverse(
            "notifications:webhook_rotate",
            kwargs={"org_slug": org.slug, "pk": endpoint.pk},
        )
    )
    endpoint.refresh_from_db()
    assert response.status_code == 200
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()
    assert endpoint.secret_rotated_at is not None


def test_disabling_is_audited_and_cannot_repeat(org, owner, client_for):
    endpoint, _ = webhook_endpoint_create(
        org=org, url="https://h.example/a", events=["sla.at_risk"], actor=owner.user
    )
    client = client_for(owner.user)
    url = reverse(
        "notifications:webhook_disable",
        kwargs={"org_slug": org.slug, "pk": endpoint.pk},
    )
    assert client.post(url).status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert endpoint.disabled_at
    assert (
        AuditEvent.objects.filter(action=Action.WEBHOOK_ENDPOINT_REMOVED).count() == 1
    )
    response = client.post(url, follow=True)
    assert "already disabled" in response.content.decode()
    assert (
        AuditEvent.objects.filter(action=Action.WEBHOOK_ENDPOINT_REMOVED).count() == 1
    )


def _deliveries(endpoint, n):
    Delivery.objects.bulk_create(
        Delivery(
            org=endpoint.org,
            endpoint=endpoint,
            message_id=f"msg_{endpoint.pk}_{i}",
            event_type="sla.notices",
            payload={"data": {"clocks": [{"clock": i}]}},
            status=Delivery.Status.FAILED if i % 3 else Delivery.Status.DELIVERED,
            attempts=1,
            last_error="HTTP 500." if i % 3 else "",
        )
        for i in range(n)
    )


def _deliveries_page_queries(client, org) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(_url(org, "notifications:deliveries"))
    assert response.status_code == 200
    return len(queries)


def test_the_delivery_log_costs_the_same_for_5_or_60_rows(
    org, owner, client_for, django_assert_max_num_queries
):
    endpoint, _ = webhook_endpoint_create(
        org=org, url="https://h.example/a", events=["sla.at_risk"], actor=owner.user
    )
    client = client_for(owner.user)
    client.get(_url(org))  # the session's first request records the session
    _deliveries(endpoint, 5)
    five = _deliveries_page_queries(client, org)
    Delivery.objects.all().delete()
    _deliveries(endpoint, 60)
    with django_assert_max_num_queries(13):
        response = client.get(_url(org, "notifications:deliveries"))
    assert response.content.decode().count("msg_") == 25
    assert _deliveries_page_queries(client, org) == five


def test_the_log_filters_by_endpoint_and_hides_other_tenants(
    org, owner, other_org, outsider, client_for
):
    mine, _ = webhook_endpoint_create(
        org=org, url="https://h.example/mine", events=["sla.at_risk"], actor=owner.user
    )
    also, _ = webhook_endpoint_create(
        org=org, url="https://h.example/also", events=["sla.at_risk"], actor=owner.user
    )
    theirs, _ = webhook_endpoint_create(
        org=other_org,
        url="https://h.example/theirs",
        events=["sla.at_risk"],
        actor=outsider.user,
    )
    _deliveries(mine, 2)
    _deliveries(also, 3)
    client = client_for(owner.user)
    log = _url(org, "notifications:deliveries")
    page = client.get(log, {"endpoint": mine.pk}).content.decode()
    assert page.count(f"msg_{mine.pk}_") == 2
    assert f"msg_{also.pk}_" not in page
    assert client.get(log, {"endpoint": theirs.pk}).status_code == 404
    assert client.get(log, {"endpoint": "x"}).status_code == 404


def test_the_endpoint_list_costs_the_same_for_2_or_8_endpoints(org, owner, client_for):
    client = client_for(owner.user)
    client.get(_url(org))

    def add(n):
        for i in range(n):
            webhook_endpoint_create(
                org=org,
                url=f"https://h.example/{i}",
                events=["sla.at_risk"],
                actor=owner.user,
            )

    def queries():
        with CaptureQueriesContext(connection) as q:
            assert client.get(_url(org)).status_code == 200
        return len(q)

    add(2)
    two = queries()
    add(6)
    assert queries() == two


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
    ],
)
def test_in_production_a_webhook_cannot_point_at_a_local_address(
    org, owner, settings, url
):
    from django.core.exceptions import ValidationError

    from apps.notifications.models import WebhookEndpoint

    production_rules(settings)
    with pytest.raises(ValidationError) as exc:
        webhook_endpoint_create(
            org=org, url=url, events=["sla.breached"], actor=owner.user
        )
    assert "public addresses only" in exc.value.message_dict["url"][0]
    assert not WebhookEndpoint.objects.exists()
