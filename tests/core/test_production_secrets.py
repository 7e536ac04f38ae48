"""Production refuses placeholder secrets (``change-me...``) and a short
SECRET_KEY, naming the variable; development and tests are unaffected."""

from __future__ import annotations

import pytest

from apps.core.production_secrets import production_secret_problems
from tests.core.test_settings import PRODUCTION_ENV, manage

GOOD_KEY = PRODUCTION_ENV["SECRET_KEY"]


def test_real_values_pass():
    env = {
        **PRODUCTION_ENV,
        "METRICS_TOKEN": "3f1c0a9e0d6b4e0f8f9e2b7c",
        "DATABASE_URL": "postgres://portal:9c2e41f0aa@postgres:5432/portal",
        "AWS_ACCESS_KEY_ID": "change-me-is-not-a-secret-here",
        "REPORT_SIGNING_KEY_FILE": "/run/secrets/report-signing.key",
    }
    assert production_secret_problems(env) == []


@pytest.mark.parametrize(
    "name",
    [
        "SECRET_KEY",
        "METRICS_TOKEN",
        "POSTGRES_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "REPORT_SIGNING_KEY_PASSPHRASE",
    ],
)
def test_a_placeholder_secret_is_named(name):
    value = "change-me-" + "x" * 60
    problems = production_secret_problems({**PRODUCTION_ENV, name: value})
    assert len(problems) == 1
    assert problems[0].startswith(f"{name} is still a placeholder")
    assert value not in problems[0]


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("DATABASE_URL", "postgres://portal:change-me-postgres@postgres:5432/portal"),
        ("CELERY_BROKER_URL", "redis://:Change-Me-redis@redis:6379/0"),
        ("CACHE_URL", "redis://default:change-me%2Fx@redis:6379/1"),
        ("EMAIL_URL", "smtp+tls://mailer:change-me-smtp@mail.example.com:587"),
    ],
)
def test_a_placeholder_password_inside_a_url_is_named(name, url):
    problems = production_secret_problems({**PRODUCTION_ENV, name: url})
    assert problems == [f"{name} holds a placeholder password (starts 'change-me')"]


def test_a_url_without_a_password_or_with_a_real_one_passes():
    env = {
        **PRODUCTION_ENV,
        "CELERY_BROKER_URL": "redis://redis:6379/0",
        "SITE_URL": "https://change-me.example.com",
        "EMAIL_URL": "consolemail://",
    }
    assert production_secret_problems(env) == []


@pytest.mark.parametrize("length", [1, 32, 49])
def test_a_short_secret_key_is_refused(length):
    problems = production_secret_problems(
        {**PRODUCTION_ENV, "SECRET_KEY": "k" * length}
    )
    assert len(problems) == 1
    assert problems[0].startswith(f"SECRET_KEY is {length} characters long")


def test_a_50_character_secret_key_is_enough():
    assert production_secret_problems({**PRODUCTION_ENV, "SECRET_KEY": "k" * 50}) == []


def test_production_refuses_to_start_with_a_placeholder():
    result = manage(
        "check", env={**PRODUCTION_ENV, "METRICS_TOKEN": "change-me-metrics-token"}
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "METRICS_TOKEN is still a placeholder" in result.stderr


def test_production_refuses_to_start_with_a_short_secret_key():
    result = manage("check", env={**PRODUCTION_ENV, "SECRET_KEY": "short-but-random"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is 16 characters long" in result.stderr


def test_development_accepts_placeholders_and_its_own_short_key():
    result = manage(
        "check",
        env={
            "DJANGO_ENV": "development",
            "SECRET_KEY": "change-me",
            "METRICS_TOKEN": "change-me-metrics-token",
        },
    )
    assert result.returncode == 0, result.stderr


def test_the_test_settings_are_development():
    from django.conf import settings

    assert not settings.PRODUCTION
    assert production_secret_problems({"SECRET_KEY": settings.SECRET_KEY}) == []
