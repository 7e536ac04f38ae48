import pytest

from apps.catalog.services import repository_upsert
from apps.entitlements.models import Mirror
from apps.orgs.models import Role
from tests.entitlements.builders import ensure_tiers
from tests.factories import MembershipFactory, OrganizationFactory


@pytest.fixture(autouse=True)
def _tiers(db):
    ensure_tiers()


@pytest.fixture
def acme(db):
    return OrganizationFactory(name="Acme", slug="acme", features=())


@pytest.fixture
def acme_owner(acme):
    return MembershipFactory(org=acme, role=Role.OWNER).user


@pytest.fixture
def python(db):
    return repository_upsert(name="python", display_name="Python", category="language")


@pytest.fixture
def mirrored(acme, acme_owner, python):
    Mirror.objects.create(org=acme, repository=python, created_by=acme_owner)
    return python
