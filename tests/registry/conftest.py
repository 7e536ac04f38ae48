import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def registry_settings(settings):
    """The token key is the run's generated one (tests/conftest.py)."""
    settings.REGISTRY_TOKEN_KEY_FILE = ""
    settings.REGISTRY_TOKEN_CERT_FILE = ""
    settings.REGISTRY_SERVICE = "test-registry"
    settings.REGISTRY_TOKEN_ISSUER = "test-portal"


@pytest.fixture(autouse=True)
def _fresh_sign_in_limits():
    """Failed sign-ins counted by one test do not count against the next."""
    cache.clear()
    yield
    cache.clear()
