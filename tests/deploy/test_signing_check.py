"""A production reports worker refuses to start without a usable signing key
(apps/reports/system_checks.py, run by deploy/entrypoint.py before the worker),
instead of failing the first report it signs; other roles and development
start without one."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.checks import run_checks
from django.utils import timezone

from apps.reports.system_checks import REQUIRED_VARIABLE, TAG

from .conftest import DEPLOY, ROOT


def key_pair(directory, *, non_repudiation=True):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "check test")])
    now = timezone.now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=non_repudiation,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = directory / "signing.key", directory / "signing.crt"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file, cert_file


@pytest.fixture
def production(settings, monkeypatch):
    settings.DEV_MODE = False
    settings.REPORT_SIGNING_KEY_FILE = ""
    settings.REPORT_SIGNING_CERT_FILE = ""
    settings.REPORT_SIGNING_KEY_PASSPHRASE = ""
    monkeypatch.delenv(REQUIRED_VARIABLE, raising=False)
    return settings


def ids() -> list[str]:
    return [message.id for message in run_checks(tags=[TAG])]


def test_a_process_that_signs_needs_a_key_in_production(production, monkeypatch):
    monkeypatch.setenv(REQUIRED_VARIABLE, "true")
    assert ids() == ["reports.E001"]


def test_other_production_processes_start_without_the_key(production):
    # web, migrate, the default and ingest workers are never given the key.
    assert ids() == []


def test_development_generates_its_key_and_needs_none(settings, monkeypatch):
    settings.DEV_MODE = True
    settings.REPORT_SIGNING_KEY_FILE = ""
    monkeypatch.setenv(REQUIRED_VARIABLE, "true")
    assert ids() == []


def test_a_usable_configured_key_passes(production, monkeypatch, tmp_path):
    monkeypatch.setenv(REQUIRED_VARIABLE, "true")
    key_file, cert_file = key_pair(tmp_path)
    production.REPORT_SIGNING_KEY_FILE = str(key_file)
    production.REPORT_SIGNING_CERT_FILE = str(cert_file)
    assert ids() == []


@pytest.mark.parametrize("case", ["unreadable", "no nonRepudiation"])
def test_an_unusable_configured_key_is_an_error(production, tmp_path, case):
    key_file, cert_file = key_pair(tmp_path, non_repudiation=case == "unreadable")
    if case == "unreadable":
        key_file = tmp_path / "missing.key"
    production.REPORT_SIGNING_KEY_FILE = str(key_file)
    production.REPORT_SIGNING_CERT_FILE = str(cert_file)
    messages = run_checks(tags=[TAG])
    assert [m.id for m in messages] == ["reports.E002"]
    expected = "cannot be read" if case == "unreadable" else "nonRepudiation"
    assert expected in messages[0].msg


def test_the_entrypoint_checks_before_a_production_reports_worker(
    entrypoint, monkeypatch
):
    monkeypatch.setenv("DJANGO_ENV", "production")
    check = entrypoint.preflight(["worker", "reports"])
    assert check is not None
    assert check[-5:] == ["check", "--tag", TAG, "--fail-level", "ERROR"]
    for other in (["web"], ["migrate"], ["worker", "default"], ["beat"]):
        assert entrypoint.preflight(other) is None
    monkeypatch.setenv("DJANGO_ENV", "development")
    assert entrypoint.preflight(["worker", "reports"]) is None


def test_a_production_reports_worker_without_a_key_refuses_to_start(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("REPORT_SIGNING")},
        "DJANGO_ENV": "production",
        "SECRET_KEY": "signing-check-" + "x" * 50,
        "ALLOWED_HOSTS": "localhost",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        # Nothing listens here: the worker must stop before it connects.
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
    }
    started = subprocess.run(
        [sys.executable, str(DEPLOY / "entrypoint.py"), "worker", "reports"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode != 0
    assert "reports.E001" in started.stderr
    assert "celery" not in started.stdout.lower()
