"""deploy/README.md's first-start steps, run as written from a repository
root: every file compose needs is made, every secret is URL-safe and no
placeholder, and what they make fits together (the production settings
accept the .env, the init script reads the owner's URL). Only the compose
commands themselves ($DC ...) are left out: no compose tool here."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apps.core.production_secrets import production_secret_problems

from .conftest import DEPLOY

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def first_start_block() -> str:
    readme = (DEPLOY / "README.md").read_text()
    section = readme.split("## Running the stack on one host (compose)", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def read_env(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            pairs[name] = value
    return pairs


@pytest.fixture(scope="module")
def checkout(tmp_path_factory) -> Path:
    """A repository root with what the steps read, after running them."""
    root = tmp_path_factory.mktemp("checkout")
    (root / "deploy").mkdir()
    shutil.copy(DEPLOY / ".env.example", root / "deploy" / ".env.example")
    commands = [
        line
        for line in first_start_block().splitlines()
        if not line.lstrip().startswith(("$DC", "DC="))
    ]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return root


def test_the_block_uses_compose_from_the_repository_root():
    block = first_start_block()
    assert 'DC="docker compose -f deploy/compose.yaml --env-file deploy/.env"' in block
    assert "$DC up -d --build" in block
    assert "cd " not in block


def test_every_file_compose_reads_is_made(checkout):
    for path in (
        "deploy/.env",
        "deploy/secrets/admin.env",
        "deploy/secrets/migrate.env",
        "deploy/secrets/report-signing.key",
        "deploy/secrets/report-signing.crt",
        "deploy/secrets/registry-token.key",
        "deploy/secrets/registry-token.crt",
    ):
        assert (checkout / path).is_file(), path
    assert stat.S_IMODE((checkout / "deploy/secrets").stat().st_mode) == 0o700
    for path in (
        "admin.env",
        "migrate.env",
        "report-signing.key",
        "registry-token.key",
    ):
        mode = stat.S_IMODE((checkout / "deploy/secrets" / path).stat().st_mode)
        assert mode & 0o077 == 0, (path, oct(mode))


def test_the_env_passes_production_settings(checkout):
    env = read_env(checkout / "deploy" / ".env")
    for name in (
        "SECRET_KEY",
        "PORTAL_DB_PASSWORD",
        "MINIO_APP_PASSWORD",
        "METRICS_TOKEN",
        "REGISTRY_NOTIFICATIONS_SECRET",
    ):
        assert HEX64.match(env[name]), name
    runtime_url = f"postgres://portal:{env['PORTAL_DB_PASSWORD']}@postgres:5432/portal"
    assert production_secret_problems({**env, "DATABASE_URL": runtime_url}) == []


def test_admin_and_owner_secrets_are_url_safe_and_distinct(checkout):
    admin = read_env(checkout / "deploy/secrets/admin.env")
    assert HEX64.match(admin["POSTGRES_PASSWORD"])
    assert HEX64.match(admin["MINIO_ROOT_PASSWORD"])
    owner_url = urlsplit(
        read_env(checkout / "deploy/secrets/migrate.env")["MIGRATE_DATABASE_URL"]
    )
    assert (owner_url.username, owner_url.hostname, owner_url.path) == (
        "portal_owner",
        "postgres",
        "/portal",
    )
    assert HEX64.match(owner_url.password)
    env = read_env(checkout / "deploy" / ".env")
    passwords = {
        owner_url.password,
        env["PORTAL_DB_PASSWORD"],
        admin["POSTGRES_PASSWORD"],
        admin["MINIO_ROOT_PASSWORD"],
        env["MINIO_APP_PASSWORD"],
    }
    assert len(passwords) == 5


def test_the_init_script_reads_the_owner_from_that_url(checkout, tmp_path):
    """init-app-role.sh's URL parsing, with psql replaced by a recorder."""
    url = read_env(checkout / "deploy/secrets/migrate.env")["MIGRATE_DATABASE_URL"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    recorder = bin_dir / "psql"
    recorder.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$PSQL_ARGS"\n')
    recorder.chmod(0o755)
    args_file = tmp_path / "args"
    subprocess.run(
        ["sh", str(DEPLOY / "postgres" / "init-app-role.sh")],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "PSQL_ARGS": str(args_file),
            "POSTGRES_USER": "postgres",
            "POSTGRES_DB": "portal",
            "PORTAL_DB_USER": "portal",
            "PORTAL_DB_PASSWORD": "r" * 64,
            "MIGRATE_DATABASE_URL": url,
        },
        check=True,
    )
    args = args_file.read_text().splitlines()
    password = urlsplit(url).password
    assert "app_owner=portal_owner" in args
    assert f"app_owner_password={password}" in args
    assert "app_user=portal" in args
    assert args[-1] == "/etc/portal/app-role.sql"


def test_the_signing_key_is_p256_and_matches_its_certificate(checkout):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    secrets = checkout / "deploy" / "secrets"
    key = serialization.load_pem_private_key(
        (secrets / "report-signing.key").read_bytes(), password=None
    )
    cert = x509.load_pem_x509_certificate((secrets / "report-signing.crt").read_bytes())
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == "secp256r1"
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()


def test_the_registry_settings_and_token_key_pass_the_registry_check(
    checkout, settings
):
    """What the steps make is what a production portal with the registry on
    needs: the token key (P-256, its certificate), the issuer, the public
    host and a notifications secret (registry.E001-E003)."""
    from apps.registry.system_checks import registry_token_key_check

    env = read_env(checkout / "deploy" / ".env")
    secrets = checkout / "deploy" / "secrets"
    settings.DEV_MODE = False
    settings.REGISTRY_SERVICE = env["REGISTRY_SERVICE"]
    settings.REGISTRY_TOKEN_ISSUER = env["REGISTRY_TOKEN_ISSUER"]
    settings.REGISTRY_PUBLIC_HOST = env["REGISTRY_PUBLIC_HOST"]
    settings.REGISTRY_NOTIFICATIONS_SECRET = env["REGISTRY_NOTIFICATIONS_SECRET"]
    settings.REGISTRY_TOKEN_KEY_FILE = str(secrets / "registry-token.key")
    settings.REGISTRY_TOKEN_CERT_FILE = str(secrets / "registry-token.crt")
    assert registry_token_key_check() == []
    # Without the key the same settings stop the start.
    settings.REGISTRY_TOKEN_KEY_FILE = str(secrets / "missing.key")
    assert [e.id for e in registry_token_key_check()] == ["registry.E001"]
