"""The migrate role runs `check --deploy --fail-level WARNING`; production
settings pass it over HTTPS, and a plain-HTTP stack passes only when it says
so with PORTAL_INSECURE_HTTP=1, which the check output names."""

from __future__ import annotations

import pytest

from tests.core.test_settings import PRODUCTION_ENV, manage

PLAIN_HTTP_BY_HAND = {
    "SECURE_SSL_REDIRECT": "false",
    "SESSION_COOKIE_SECURE": "false",
    "CSRF_COOKIE_SECURE": "false",
}


def deploy_check(**extra: str):
    return manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION_ENV, **extra}
    )


@pytest.mark.parametrize("owner_url", ["", "postgres://portal_owner:o@db/portal"])
def test_the_migrate_role_checks_the_deployment_at_warning_level(
    entrypoint, monkeypatch, owner_url
):
    """Migrations and the deploy check run as the schema owner when
    MIGRATE_DATABASE_URL is given, and the owner's URL goes no further."""
    ran: list[tuple[list[str], dict]] = []
    monkeypatch.setenv("DATABASE_URL", "postgres://portal:r@db/portal")
    if owner_url:
        monkeypatch.setenv("MIGRATE_DATABASE_URL", owner_url)
    else:
        monkeypatch.delenv("MIGRATE_DATABASE_URL", raising=False)
    monkeypatch.setattr(
        entrypoint.subprocess, "run", lambda argv, **kw: ran.append((argv, kw["env"]))
    )

    class Exec(Exception):
        pass

    def execvpe(path, argv, env):
        ran.append((argv, env))
        raise Exec

    monkeypatch.setattr(entrypoint.os, "execvpe", execvpe)
    monkeypatch.setattr(entrypoint.os, "chdir", lambda path: None)
    with pytest.raises(Exec):
        entrypoint.main(["migrate"])
    assert ran[0][0][-2:] == ["migrate", "--noinput"]
    assert ran[1][0][-4:] == ["check", "--deploy", "--fail-level", "WARNING"]
    for _argv, env in ran:
        assert env["DATABASE_URL"] == (owner_url or "postgres://portal:r@db/portal")
        assert "MIGRATE_DATABASE_URL" not in env


def test_plain_http_declared_passes_and_is_named():
    result = deploy_check(
        PORTAL_INSECURE_HTTP="1", SITE_URL="http://portal.example.com"
    )
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    assert "core.I001" in output
    assert "PORTAL_INSECURE_HTTP=1" in output
    for silenced in ("security.W008", "security.W012", "security.W016"):
        assert silenced not in output.replace("W008/W012/W016", "")


def test_plain_http_declared_turns_the_https_settings_off():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECURE_SSL_REDIRECT, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.ACCOUNT_DEFAULT_HTTP_PROTOCOL, s.SECURE_HSTS_SECONDS > 0)",
        env={**PRODUCTION_ENV, "PORTAL_INSECURE_HTTP": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == [
        "False",
        "False",
        "False",
        "http",
        "True",
    ]


@pytest.mark.parametrize("name", sorted(PLAIN_HTTP_BY_HAND))
def test_an_https_setting_turned_off_by_hand_stops_the_migrate_role(name):
    result = deploy_check(**{name: "false"})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "core.W001" in output
    assert name in output
    assert "PORTAL_INSECURE_HTTP=1" in output


def test_the_https_default_says_nothing_of_plain_http():
    result = deploy_check()
    assert result.returncode == 0, result.stderr + result.stdout
    assert "core." not in result.stdout + result.stderr


def test_development_ignores_the_switch():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.INSECURE_HTTP)",
        env={"DJANGO_ENV": "development", "PORTAL_INSECURE_HTTP": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


@pytest.mark.parametrize(
    ("site_url", "insecure", "hosts", "ids"),
    [
        ("https://portal.example.com", False, ["portal.example.com"], []),
        ("http://127.0.0.1:8000", True, ["127.0.0.1"], []),
        # https:// links on a plain-HTTP stack lead nowhere (and the reverse).
        ("https://127.0.0.1:8000", True, ["127.0.0.1"], ["core.W002"]),
        ("http://portal.example.com", False, ["portal.example.com"], ["core.W002"]),
        # The development default left in production: wrong scheme and host.
        (
            "http://127.0.0.1:8000",
            False,
            ["portal.example.com"],
            ["core.W002", "core.W003"],
        ),
        ("https://portal.example.com", False, [".example.com"], []),
        ("not a url", False, ["*"], ["core.W002", "core.W003"]),
    ],
)
def test_site_url_must_be_where_the_portal_is_served(
    settings, site_url, insecure, hosts, ids
):
    from apps.core.checks import site_url_check

    settings.PRODUCTION = True
    settings.INSECURE_HTTP = insecure
    settings.SITE_URL = site_url
    settings.ALLOWED_HOSTS = hosts
    assert [found.id for found in site_url_check()] == ids


def test_site_url_is_not_checked_in_development(settings):
    from apps.core.checks import site_url_check

    settings.PRODUCTION = False
    settings.SITE_URL = "ftp://nowhere"
    assert site_url_check() == []
