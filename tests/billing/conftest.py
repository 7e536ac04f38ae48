import pytest

from tests.entitlements.builders import ensure_tiers


@pytest.fixture(autouse=True)
def _tiers(db):
    ensure_tiers()
