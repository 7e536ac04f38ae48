"""The scope parser and the token key: configured, generated, refused."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured

from apps.registry import keys
from apps.registry.formats.scope import Scope, ScopeError, scopes_parse
from apps.registry.system_checks import registry_token_key_check


def test_scopes_split_on_spaces_and_keep_order_once_each():
    parsed = scopes_parse(
        ["repository:a/b:pull,push repository:c:pull", "repository:a/b:push,pull"]
    )
    assert parsed == [
        Scope("repository", "a/b", ("pull", "push")),
        Scope("repository", "c", ("pull",)),
        Scope("repository", "a/b", ("push", "pull")),
    ]


def test_a_resource_class_is_read_and_dropped():
    (scope,) = scopes_parse(["repository(plugin):x:pull"])
    assert scope == Scope("repository", "x", ("pull",))


@pytest.mark.parametrize("raw", ["a:b", "repository:a//b:pull", "repository:-a:pull"])
def test_bad_scopes_raise(raw):
    with pytest.raises(ScopeError):
        scopes_parse([raw])


def _pem_pair(tmp_path, key):
    cert = (
        keys._dev_certificate(key)
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else None
    )
    key_path, cert_path = tmp_path / "k.pem", tmp_path / "c.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    if cert is not None:
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def test_production_without_a_key_fails_the_check(settings):
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = "registry"
    (error,) = registry_token_key_check()
    assert error.id == "registry.E001"


def test_production_with_the_service_off_needs_no_key(settings):
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = ""
    assert registry_token_key_check() == []


def test_production_with_a_configured_key_passes_and_signs_with_it(settings, tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    key_path, cert_path = _pem_pair(tmp_path, key)
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = "registry"
    settings.REGISTRY_TOKEN_KEY_FILE = str(key_path)
    settings.REGISTRY_TOKEN_CERT_FILE = str(cert_path)
    settings.REGISTRY_NOTIFICATIONS_SECRET = "n" * 32
    assert registry_token_key_check() == []
    assert keys.token_key().kid == keys.libtrust_key_id(key.public_key())


def test_a_certificate_of_another_key_is_refused(settings, tmp_path):
    key_path, _ = _pem_pair(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    (tmp_path / "other").mkdir()
    _, cert_path = _pem_pair(
        tmp_path / "other", ec.generate_private_key(ec.SECP256R1())
    )
    with pytest.raises(ImproperlyConfigured, match="not the key's"):
        keys.key_load(key_path.read_bytes(), cert_path.read_bytes())


def test_an_rsa_key_is_refused(settings, tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _, cert_path = _pem_pair(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(ImproperlyConfigured, match="P-256"):
        keys.key_load(pem, cert_path.read_bytes())


def test_development_generates_the_key_once(settings, tmp_path):
    settings.REGISTRY_TOKEN_DIR = tmp_path / "gen"
    first = keys.token_key()
    keys._cached.cache_clear()
    second = keys.token_key()
    assert first.kid == second.kid
    assert (tmp_path / "gen" / keys.DEV_KEY_NAME).stat().st_mode & 0o077 == 0
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "gen" / keys.DEV_CERT_NAME).read_bytes()
    )
    assert cert.public_key() == first.key.public_key()


def test_production_with_a_key_but_no_issuer_fails_the_check(settings, tmp_path):
    key_path, cert_path = _pem_pair(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = "registry"
    settings.REGISTRY_TOKEN_KEY_FILE = str(key_path)
    settings.REGISTRY_TOKEN_CERT_FILE = str(cert_path)
    settings.REGISTRY_TOKEN_ISSUER = ""
    (error,) = registry_token_key_check()
    assert error.id == "registry.E002"
    assert "REGISTRY_TOKEN_ISSUER" in error.msg


@pytest.mark.parametrize("secret", ["", "short"])
def test_production_without_a_notifications_secret_fails_the_check(
    settings, tmp_path, secret
):
    key_path, cert_path = _pem_pair(tmp_path, ec.generate_private_key(ec.SECP256R1()))
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = "registry"
    settings.REGISTRY_TOKEN_KEY_FILE = str(key_path)
    settings.REGISTRY_TOKEN_CERT_FILE = str(cert_path)
    settings.REGISTRY_NOTIFICATIONS_SECRET = secret
    (error,) = registry_token_key_check()
    assert error.id == "registry.E003"
    assert "REGISTRY_NOTIFICATIONS_SECRET" in error.msg
