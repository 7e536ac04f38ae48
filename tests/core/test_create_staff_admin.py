"""manage.py create_staff_admin: the first staff admin, with a verified
address, a one-time set-password link instead of a password, and TOTP
enrolment before anything else at the first sign-in."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from tests.factories import UserFactory

EMAIL = "first.admin@example.com"


def create(email: str = EMAIL, **settings_kwargs) -> str:
    out = StringIO()
    call_command("create_staff_admin", "--email", email, stdout=out)
    return out.getvalue()


PASSWORD = "a long and new passphrase 42"


def link_of(output: str) -> str:
    return re.search(r"^  (http\S+)$", output, re.M).group(1)


def set_password(client, output: str, password: str = PASSWORD):
    """Follow the printed link as the new admin would: the key page stores the
    key in the session and sends on to the set-password form."""
    path = urlsplit(link_of(output)).path
    landing = client.get(path)
    assert landing.status_code == 302, landing
    return client.post(
        landing["Location"], {"password1": password, "password2": password}
    )


def sign_in(client, output: str):
    assert set_password(client, output).status_code == 302
    return client.post(reverse("account_login"), {"login": EMAIL, "password": PASSWORD})


@pytest.mark.django_db
def test_creates_a_verified_staff_admin(settings):
    settings.SITE_URL = "http://127.0.0.1:8000/"
    output = create(" First.Admin@Example.com ")
    user = User.objects.get(email=EMAIL)
    assert user.is_staff
    assert user.is_superuser
    assert EmailAddress.objects.filter(
        user=user, email=EMAIL, verified=True, primary=True
    ).exists()
    assert "sign in at http://127.0.0.1:8000/accounts/login/" in output
    # No password is made or printed: the owner sets one through the link.
    assert not user.has_usable_password()
    assert "password (shown once)" not in output.lower()
    assert link_of(output).startswith(
        "http://127.0.0.1:8000/accounts/password/reset/key/"
    )
    assert "valid 3 days" in output


@pytest.mark.django_db
def test_the_link_sets_the_password_once(client):
    output = create()
    done = set_password(client, output)
    assert done.status_code == 302
    assert User.objects.get().check_password(PASSWORD)
    # Spent: the same link no longer offers the form.
    client.logout()
    again = client.get(urlsplit(link_of(output)).path, follow=True)
    assert "password1" not in again.content.decode()
    assert b"bad token" in again.content.lower() or b"invalid" in again.content.lower()


@pytest.mark.django_db
def test_a_weak_password_is_refused_and_the_link_still_works(client):
    output = create()
    refused = set_password(client, output, password="short")
    assert refused.status_code == 200
    assert not User.objects.get().has_usable_password()
    assert set_password(client, output).status_code == 302


@pytest.mark.django_db
def test_the_link_expires(client, settings):
    import time_machine

    output = create()
    with time_machine.travel(timezone.now() + timedelta(days=4)):
        landing = client.get(urlsplit(link_of(output)).path, follow=True)
    assert "password1" not in landing.content.decode()
    assert not User.objects.get().has_usable_password()


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["", "not-an-address", "a@", "two@@example.com"])
def test_refuses_a_bad_address(email):
    with pytest.raises(CommandError, match="Not an email address"):
        create(email)
    assert not User.objects.exists()


@pytest.mark.django_db
def test_refuses_an_existing_user():
    UserFactory(email=EMAIL)
    with pytest.raises(CommandError, match="exists already"):
        create(EMAIL.upper())
    assert User.objects.filter(email=EMAIL).count() == 1


@pytest.mark.django_db
def test_first_sign_in_goes_to_totp_setup_and_staff_pages_wait(client):
    output = create()
    response = sign_in(client, output)
    assert response.status_code == 302
    # Signed in (no email verification step), then held at TOTP setup.
    assert client.session.get("_auth_user_id") == str(User.objects.get().pk)
    landing = client.get(response["Location"])
    assert landing.status_code == 302
    assert landing["Location"] == reverse("mfa_activate_totp")
    staff = client.get(reverse("staff_audit"))
    assert staff.status_code == 302
    assert staff["Location"] == reverse("mfa_activate_totp")
    # The setup page answers (allauth may first ask for the password again).
    setup = client.get(reverse("mfa_activate_totp"), follow=True)
    assert setup.status_code == 200
    assert setup.redirect_chain in (
        [],
        [
            (
                f"{reverse('account_reauthenticate')}?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F",
                302,
            )
        ],
    )


@pytest.mark.django_db
def test_staff_pages_open_once_totp_is_enrolled(client):
    from allauth.mfa.models import Authenticator

    output = create()
    sign_in(client, output)
    user = User.objects.get()
    Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": "x"}
    )
    assert client.get(reverse("staff_audit")).status_code == 200


@pytest.mark.django_db
def test_other_staff_are_not_held(client):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("staff_audit")).status_code == 200
