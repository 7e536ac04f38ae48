"""The first publisher staff admin: ``manage.py create_staff_admin --email ...``.

The address is recorded as verified (no mail round trip on a stack without
mail), the account must enrol TOTP at its first sign-in before it reaches any
page (apps.core.middleware.MfaEnrolmentMiddleware), and the command prints an
initial password and the sign-in link built from SITE_URL, so it works on the
plain-HTTP compose stack as well as behind TLS.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse

from apps.core.middleware import MFA_REQUIRED_GROUP


class Command(BaseCommand):
    help = (
        "Create the first publisher staff admin (verified email, MFA at first sign-in)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)

    def handle(self, *args, email: str, **options):
        from allauth.account.models import EmailAddress

        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"Not an email address: {email!r}") from exc
        User = get_user_model()
        if User.objects.filter(email__iexact=email).exists():
            raise CommandError(f"A user with {email} exists already.")
        password = secrets.token_urlsafe(18)
        with transaction.atomic():
            user = User.objects.create_superuser(email=email, password=password)
            EmailAddress.objects.create(
                user=user, email=email, verified=True, primary=True
            )
            group, _ = Group.objects.get_or_create(name=MFA_REQUIRED_GROUP)
            user.groups.add(group)
        login = settings.SITE_URL.rstrip("/") + reverse("account_login")
        self.stdout.write(f"Created staff admin {email}.")
        self.stdout.write(f"Sign in at {login}")
        self.stdout.write(f"Initial password (shown once): {password}")
        self.stdout.write(
            "The first sign-in asks for an authenticator app (TOTP) before "
            "anything else; change the password afterwards."
        )
