"""The first publisher staff admin: ``manage.py create_staff_admin --email ...``.

The address is recorded as verified (no mail round trip on a stack without
mail), the account has no password until its owner sets one through the
one-time link the command prints (built from SITE_URL, so it works on the
plain-HTTP compose stack as well as behind TLS; valid for
PASSWORD_RESET_TIMEOUT and spent once the password is set), and it must enrol
TOTP at its first sign-in before it reaches any page
(apps.core.middleware.MfaEnrolmentMiddleware). No password ever passes through
the terminal, the shell history or the container log.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse

from apps.core.middleware import MFA_REQUIRED_GROUP


def set_password_link(user) -> str:
    """allauth's password-reset-from-key link for ``user``, on SITE_URL."""
    from allauth.account.forms import default_token_generator
    from allauth.account.utils import user_pk_to_url_str

    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    return settings.SITE_URL.rstrip("/") + path


def _validity() -> str:
    hours = settings.PASSWORD_RESET_TIMEOUT // 3600
    return f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"


class Command(BaseCommand):
    help = (
        "Create the first publisher staff admin (verified email, a one-time "
        "set-password link, MFA at first sign-in)."
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
        with transaction.atomic():
            user = User.objects.create_superuser(email=email, password=None)
            EmailAddress.objects.create(
                user=user, email=email, verified=True, primary=True
            )
            group, _ = Group.objects.get_or_create(name=MFA_REQUIRED_GROUP)
            user.groups.add(group)
        self.stdout.write(f"Created staff admin {email} (no password yet).")
        self.stdout.write(
            f"Set the password at (one use, valid {_validity()}):\n"
            f"  {set_password_link(user)}"
        )
        self.stdout.write(
            "Then sign in at "
            + settings.SITE_URL.rstrip("/")
            + reverse("account_login")
            + "; the first sign-in asks for an authenticator app (TOTP) "
            "before anything else."
        )
