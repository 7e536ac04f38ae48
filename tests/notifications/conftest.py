import pytest

from apps.sla.defaults import defaults_load
from tests.entitlements.builders import ensure_tiers

from . import receiver as receiver_module


@pytest.fixture
def sla_defaults(db):
    ensure_tiers()
    defaults_load()


@pytest.fixture
def receiver():
    r = receiver_module.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
