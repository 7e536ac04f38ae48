import pytest

from tests.notifications import receiver as receiver_module


@pytest.fixture
def receiver():
    r = receiver_module.start()
    yield r
    r.server.shutdown()
    r.server.server_close()
