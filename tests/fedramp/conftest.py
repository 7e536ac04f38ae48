import pytest

from apps.sla.defaults import defaults_load
from tests.entitlements.builders import ensure_tiers


@pytest.fixture
def sla_defaults(db):
    # As tests/sla: the plans and their default policies, which a
    # transactional test's flush would empty.
    ensure_tiers()
    defaults_load()
