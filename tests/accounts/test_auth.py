"""Signing up, in and out through allauth, with rate limits and an audit trail."""

import re

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail

from apps.audit.models import AuditEvent
from apps.orgs.models import Role
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db
Action = AuditEvent.Action


def test_signup_requires_email_verification_and_is_logged(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert len(mail.outbox) == 1
    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", mail.outbox[0].body)
    assert link
    assert AuditEvent.objects.filter(action=Action.SIGNUP).count() == 1
    # Not signed in until the address is confirmed.
    assert client.get("/orgs/").status_code == 302
    path = link.group(0).split("127.0.0.1:8000", 1)[-1]
    response = client.post(path)
    assert response.status_code == 302
    assert client.get("/orgs/").status_code == 200
    assert AuditEvent.objects.filter(action=Action.EMAIL_CONFIRMED).exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (
            {"email": "not-an-email", "password1": PASSWORD, "password2": PASSWORD},
            "email",
        ),
        (
            {"email": "a@example.com", "password1": "short", "password2": "short"},
            "password1",
        ),
        (
            {"email": "a@example.com", "password1": PASSWORD, "password2": "other"},
            "password2",
        ),
        (
            {
                "email": "x" * 300 + "@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
            "email",
        ),
    ],
)
def test_bad_signups_create_no_user(client, data, error):
    from apps.accounts.models import User

    response = client.post("/accounts/signup/", data)
    assert response.status_code == 200
    assert error in response.context["form"].errors
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_login_success_and_failure_are_logged(client):
    user = UserFactory(email="who@example.com")
    client.post("/accounts/login/", {"login": "who@example.com", "password": "wrong"})
    response = client.post(
        "/accounts/login/", {"login": "who@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    failed = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert failed.actor_email == "who@example.com"
    assert failed.actor is None
    assert "wrong" not in str(failed.details)
    assert AuditEvent.objects.get(action=Action.LOGIN).actor == user


def test_repeated_failed_logins_are_rate_limited(client):
    UserFactory(email="target@example.com")
    for _ in range(5):
        response = client.post(
            "/accounts/login/", {"login": "target@example.com", "password": "nope"}
        )
        assert b"not correct" in response.content
    response = client.post(
        "/accounts/login/", {"login": "target@example.com", "password": "nope"}
    )
    assert b"Too many failed login attempts" in response.content
    # Even the right password is refused while the limit holds.
    response = client.post(
        "/accounts/login/", {"login": "target@example.com", "password": PASSWORD}
    )
    assert b"Too many failed login attempts" in response.content
    assert client.get("/orgs/").status_code == 302


def test_unverified_address_cannot_sign_in(client):
    UserFactory(email="unverified@example.com", verified=False)
    response = client.post(
        "/accounts/login/", {"login": "unverified@example.com", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/confirm-email/"
    assert client.get("/orgs/").status_code == 302


def test_password_reset_mails_a_link(client):
    UserFactory(email="forgot@example.com")
    response = client.post("/accounts/password/reset/", {"email": "forgot@example.com"})
    assert response.status_code == 302
    assert "/accounts/password/reset/key/" in mail.outbox[0].body


def test_org_requiring_mfa_sends_members_without_it_to_setup(org, client):
    membership = MembershipFactory(org=org, role=Role.MEMBER)
    org.require_mfa = True
    org.save()
    client.post(
        "/accounts/login/", {"login": membership.user.email, "password": PASSWORD}
    )
    for path in (f"/o/{org.slug}/", f"/o/{org.slug}/members/"):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "/accounts/2fa/totp/activate/"
    # Pages outside the organization stay reachable, so setup can happen
    # (allauth asks for the password again before adding a second factor).
    response = client.get("/accounts/2fa/totp/activate/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/accounts/reauthenticate/")


def test_org_requiring_mfa_admits_members_with_totp(org, client):
    membership = MembershipFactory(org=org, role=Role.MEMBER)
    Authenticator.objects.create(
        user=membership.user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    org.require_mfa = True
    org.save()
    client.force_login(membership.user)
    assert client.get(f"/o/{org.slug}/").status_code == 200


def test_sessions_page_lists_sessions(client, user):
    client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    response = client.get("/accounts/sessions/")
    assert response.status_code == 200
    assert (
        b"Sign Out Other Sessions" in response.content
        or b"sessions" in response.content
    )


def test_signing_out_other_sessions_ends_them(user):
    from django.test import Client

    laptop, phone = Client(), Client()
    for device in (laptop, phone):
        device.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
        assert device.get("/orgs/").status_code == 200
    listing = laptop.get("/accounts/sessions/")
    assert listing.status_code == 200
    assert len(listing.context["sessions"]) == 2
    response = laptop.post("/accounts/sessions/")
    assert response.status_code == 302
    assert laptop.get("/orgs/").status_code == 200
    assert phone.get("/orgs/").status_code == 302
