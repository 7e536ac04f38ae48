"""Plans, prices, entitlements and mirrors are shown read-only in the admin:
they change through the data migration and audit-logged services only."""

import pytest
from django.urls import reverse

from tests.entitlements.builders import entitle
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db
MODELS = [
    ("billing", "plan"),
    ("entitlements", "feature"),
    ("entitlements", "entitlement"),
    ("entitlements", "mirror"),
]


@pytest.mark.parametrize(("app", "model"), MODELS)
def test_admin_lists_read_only(client, app, model):
    entitle(OrganizationFactory(), "fips")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert response.status_code == 200
    assert client.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
