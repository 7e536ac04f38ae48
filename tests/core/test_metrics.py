"""/metrics (closed unless a token or an allowed network), request metrics by
route name, queue depth from the broker, request ids and JSON logs."""

import json
import logging
import os

import pytest
from django.urls import reverse

from apps.core import metrics
from apps.core.logging import JsonFormatter, RequestIdFilter, request_id_var

TOKEN = "s3cret-metrics-token-for-tests"


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_CIDRS = []
    return settings


def scrape(client, **headers):
    return client.get(reverse("metrics"), **headers)


def sample(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            got = dict(
                part.split("=", 1)
                for part in line[line.find("{") + 1 : line.find("}")].split(",")
                if "=" in part
            )
            if all(got.get(k) == f'"{v}"' for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_is_not_there_without_a_token(client, metrics_on):
    assert scrape(client).status_code == 404


@pytest.mark.parametrize(
    "header", ["Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN, "Bearer "]
)
def test_metrics_is_not_there_with_a_bad_token(client, metrics_on, header):
    assert scrape(client, HTTP_AUTHORIZATION=header).status_code == 404


def test_metrics_without_a_configured_token_refuses_an_empty_bearer(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = []
    assert scrape(client, HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_answers_the_token_with_prometheus_text(client, metrics_on):
    response = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    for name in (
        "portal_http_requests_total",
        "portal_http_request_duration_seconds",
        "portal_sla_transitions_duration_seconds",
        "portal_report_duration_seconds",
        "portal_celery_queue_depth",
    ):
        assert f"# HELP {name}" in body


def test_metrics_refuses_post_even_with_the_token(client, metrics_on):
    response = client.post(reverse("metrics"), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404


def test_metrics_answers_an_allowed_network_but_not_through_a_proxy(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_CIDRS = ["10.0.0.0/8"]
    assert scrape(client, REMOTE_ADDR="10.1.2.3").status_code == 200
    assert scrape(client, REMOTE_ADDR="192.168.1.9").status_code == 404
    proxied = scrape(client, REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert proxied.status_code == 404


def test_request_counter_increases_by_route_name(client, metrics_on):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    before = sample(
        scrape(client, **auth).content.decode(),
        "portal_http_requests_total",
        route="healthz",
        method="GET",
        status="200",
    )
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/no/such/page/12345")
    after_text = scrape(client, **auth).content.decode()
    after = sample(
        after_text,
        "portal_http_requests_total",
        route="healthz",
        method="GET",
        status="200",
    )
    assert after == before + 3
    # Unknown paths share one label; the raw path never becomes one.
    assert "/no/such/page" not in after_text
    assert sample(after_text, "portal_http_requests_total", route="unmatched") >= 1
    assert (
        sample(
            after_text,
            "portal_http_request_duration_seconds_count",
            route="healthz",
            method="GET",
        )
        >= 3
    )


def test_queue_depth_reads_llen_from_the_redis_broker(settings):
    redis = pytest.importorskip("redis")
    from tests.conftest import require_service

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    settings.CELERY_BROKER_URL = url
    client.delete("ingest", "reports", "default", "reports\x06\x166")
    try:
        client.rpush("ingest", "a", "b", "c")
        client.rpush("reports\x06\x166", "x")
        depths = metrics.celery_queue_depths(now=1_000_000.0)
        assert depths == {"default": 0, "ingest": 3, "reports": 1}
        # Cached briefly: a scrape right after does not ask Redis again.
        client.rpush("ingest", "d")
        assert metrics.celery_queue_depths(now=1_000_005.0)["ingest"] == 3
        assert metrics.celery_queue_depths(now=1_000_011.0)["ingest"] == 4
    finally:
        client.delete("ingest", "reports\x06\x166")
        metrics._depth_cache.clear()


def test_queue_depth_is_empty_without_a_redis_broker(settings):
    settings.CELERY_BROKER_URL = "memory://"
    assert metrics.celery_queue_depths() == {}


def test_sla_transitions_run_is_timed(db):
    from apps.sla.tasks import transitions_run

    def count() -> float:
        samples = metrics.SLA_TRANSITIONS_SECONDS.collect()[0].samples
        return next(x.value for x in samples if x.name.endswith("_count"))

    before = count()
    transitions_run()
    assert count() == before + 1


def test_response_carries_a_request_id_and_keeps_a_plain_incoming_one(client):
    made = client.get("/healthz")["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz")["X-Request-ID"] != made
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a9c21-0001")
    assert kept["X-Request-ID"] == "lb-7f3a9c21-0001"


@pytest.mark.parametrize(
    "incoming",
    ["short", "has space in it", 'quote"injection-123', "x" * 200, "a\nb-123456"],
)
def test_a_strange_incoming_request_id_is_replaced(client, incoming):
    answered = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)["X-Request-ID"]
    assert answered != incoming
    assert len(answered) == 32


def test_log_records_carry_the_request_id_as_json():
    record = logging.LogRecord(
        "portal.test", logging.INFO, "f", 1, "hi %s", ("x",), None
    )
    record.org = "acme"
    token = request_id_var.set("req-12345678")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hi x"
    assert line["request_id"] == "req-12345678"
    assert line["level"] == "INFO"
    assert line["org"] == "acme"


def test_views_log_with_the_request_id_of_their_request(client, caplog, db):
    caplog.set_level(logging.WARNING, logger="apps.core.views")
    caplog.handler.addFilter(RequestIdFilter())
    # readyz logs a failed check; point the broker at nothing to make it fail.
    from django.test import override_settings

    with override_settings(
        CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL="redis://127.0.0.1:1/0"
    ):
        response = client.get("/readyz", HTTP_X_REQUEST_ID="probe-abcdef12")
    assert response.status_code == 503
    assert caplog.records
    assert {getattr(r, "request_id", None) for r in caplog.records} == {
        "probe-abcdef12"
    }
