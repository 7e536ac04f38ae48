from datetime import timedelta

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from apps.accounts.models import User
from apps.orgs.models import AuditorGrant, Membership, Organization, Role
from tests.entitlements.builders import entitle

PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def verified(obj, create, extracted, **kwargs):
        obj.save()
        if create and extracted is not False:
            EmailAddress.objects.create(
                user=obj, email=obj.email, verified=True, primary=True
            )

    @factory.post_generation
    def mfa(obj, create, extracted, **kwargs):
        """Publisher staff have a second factor (their pages require one);
        ``mfa=True`` gives one to anyone, ``mfa=False`` takes it from staff."""
        if create and (extracted or (extracted is None and obj.is_staff)):
            totp_enrol(obj)


# A fixed TOTP secret for test accounts: browser tests compute its codes
# (tests/e2e/conftest.py totp_now).
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def totp_enrol(user):
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.create(
        user=user, type=Authenticator.Type.TOTP, data={"secret": TOTP_SECRET}
    )



ORG_FEATURES = ("sso", "auditor_seats")


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @factory.post_generation
    def features(obj, create, extracted, **kwargs):
        """Test organizations hold an open-ended contract for SSO and unlimited
        auditor seats, so tests of those pages are not tests of the plan. Pass
        ``features=()`` for a Community organization (the guards' own tests)."""
        if create:
            entitle(obj, *(ORG_FEATURES if extracted is None else extracted))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    org = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class AuditorGrantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditorGrant

    org = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"auditor{n}@audit.example")
    window_start = factory.LazyFunction(
        lambda: timezone.now().date() - timedelta(days=90)
    )
    window_end = factory.LazyFunction(lambda: timezone.now().date())
    access_expires_at = factory.LazyFunction(
        lambda: timezone.now() + timedelta(days=30)
    )
    created_by = factory.SubFactory(UserFactory)
