import pytest


@pytest.fixture(autouse=True)
def registry_settings(settings):
    """The token key is the run's generated one (tests/conftest.py)."""
    settings.REGISTRY_TOKEN_KEY_FILE = ""
    settings.REGISTRY_TOKEN_CERT_FILE = ""
    settings.REGISTRY_SERVICE = "test-registry"
    settings.REGISTRY_TOKEN_ISSUER = "test-portal"
