"""Adding and removing a second factor through allauth lands in the audit log."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

from apps.audit.models import AuditEvent
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def _current_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _activate_totp(client, user, capture) -> None:
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    # allauth sends its signals after the commit.
    with capture(execute=True):
        response = client.post(
            "/accounts/2fa/totp/activate/", {"code": _current_code(secret)}
        )
    assert response.status_code == 302


def test_totp_activation_is_logged(client, user, django_capture_on_commit_callbacks):
    _activate_totp(client, user, django_capture_on_commit_callbacks)
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    added = AuditEvent.objects.filter(action=Action.MFA_ADDED, actor=user)
    assert sorted(e.details["type"] for e in added) == ["recovery_codes", "totp"]


def test_wrong_totp_code_adds_nothing(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    client.get("/accounts/2fa/totp/activate/")
    response = client.post("/accounts/2fa/totp/activate/", {"code": "000000x"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Authenticator.objects.filter(user=user).exists()
    assert not AuditEvent.objects.filter(action=Action.MFA_ADDED).exists()


def test_totp_removal_is_logged(client, user, django_capture_on_commit_callbacks):
    _activate_totp(client, user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/accounts/2fa/totp/deactivate/")
    assert response.status_code == 302
    assert AuditEvent.objects.filter(
        action=Action.MFA_REMOVED, actor=user, details__type="totp"
    ).exists()
