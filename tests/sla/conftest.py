import pytest

from apps.sla.defaults import defaults_load
from tests.entitlements.builders import ensure_tiers


@pytest.fixture
def sla_defaults(db):
    # A transactional test's flush empties the rows the data migrations
    # loaded; put the plans and their default policies back.
    ensure_tiers()
    defaults_load()
