"""The Redis cache backend keeps one client per pool and behaves like Django's."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest

from apps.core.cache import RedisCache
from tests.conftest import require_service


@pytest.fixture
def redis_cache():
    redis = pytest.importorskip("redis")
    parts = urlsplit(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    url = f"redis://{parts.hostname}:{parts.port or 6379}/{parts.path[1:] or 15}"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError as exc:
        require_service("Redis", str(exc))
    cache = RedisCache(url, {"KEY_PREFIX": "cache-backend-test"})
    cache.clear()
    yield cache
    cache.clear()


def test_values_round_trip_and_the_client_is_reused(redis_cache):
    assert redis_cache.get("missing") is None
    assert redis_cache.get("missing", "default") == "default"
    redis_cache.set("answer", (b"{}", "application/json"), 30)
    assert redis_cache.get("answer") == (b"{}", "application/json")
    assert redis_cache.add("answer", "other") is False
    assert redis_cache.add("fresh", 1) is True
    assert redis_cache.incr("fresh") == 2
    redis_cache.delete("answer")
    assert redis_cache.get("answer") is None
    client = redis_cache._cache.get_client(write=True)
    assert redis_cache._cache.get_client(write=False) is client
    assert redis_cache._cache.get_client("any key") is client


def test_production_settings_use_this_backend_for_a_redis_cache():
    from tests.core.test_settings import PRODUCTION_ENV, manage

    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CACHES['default'])",
        env={**PRODUCTION_ENV, "CACHE_URL": "redis://127.0.0.1:6379/3"},
    )
    assert result.returncode == 0, result.stderr
    assert "'BACKEND': 'apps.core.cache.RedisCache'" in result.stdout
    assert "'LOCATION': 'redis://127.0.0.1:6379/3'" in result.stdout


def test_count_makes_increments_and_expires_a_counter(redis_cache):
    assert [redis_cache.count("hits", 30) for _ in range(3)] == [1, 2, 3]
    assert redis_cache.get("hits") == 3
    key = redis_cache.make_and_validate_key("hits")
    client = redis_cache._cache.get_client(write=True)
    assert 0 < client.ttl(key) <= 30
    redis_cache.count("brief", 1)
    import time

    time.sleep(1.2)
    assert redis_cache.get("brief") is None
    assert redis_cache.count("brief", 1) == 1


def test_the_api_rate_limit_counts_in_redis(redis_cache, monkeypatch):
    from django.test import RequestFactory

    from apps.api.throttling import TokenRateThrottle

    monkeypatch.setattr(TokenRateThrottle, "cache", redis_cache)
    monkeypatch.setattr(TokenRateThrottle, "rate", "2/min", raising=False)
    request = RequestFactory().get("/api/v1/repositories/", REMOTE_ADDR="198.51.100.20")
    request.auth = None
    allowed = [TokenRateThrottle().allow_request(request, None) for _ in range(3)]
    assert allowed == [True, True, False]
    other = RequestFactory().get("/", REMOTE_ADDR="198.51.100.21")
    other.auth = None
    assert TokenRateThrottle().allow_request(other, None) is True
