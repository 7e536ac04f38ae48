"""deploy/compose.yaml: it parses, every portal service runs a role the image's
entry point has, every queue has a worker, and every variable is documented."""

import json
import os
import re
import stat
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from .conftest import DEPLOY, ROOT, documented_variables, portal_reads

COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            pairs[name.strip()] = value
    return pairs


PORTAL_IMAGE = "${PORTAL_IMAGE:-portal:latest}"
# The superuser's and MinIO root's credentials, made by the operator.
ADMIN_ENV = "./secrets/admin.env"
# The schema owner's URL: for PostgreSQL's init script and the migrate role.
MIGRATE_ENV = "./secrets/migrate.env"
# The command secrets-init runs; .ci/image-smoke runs the same one.
SIGNING_COPY = (
    "set -eu; rm -f /signing/report-signing.key /signing/report-signing.crt;"
    " install -o 10001 -g 10001 -m 0400 /run/secrets/report-signing.key"
    " /run/secrets/report-signing.crt /signing/; chown 10001:10001 /signing;"
    " chmod 0500 /signing"
)


def portal_services(compose) -> dict:
    """The services that run one of the image's roles (not secrets-init)."""
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image") == PORTAL_IMAGE and "entrypoint" not in svc
    }


def test_stack_has_every_piece(compose):
    assert {
        "web",
        "worker-default",
        "worker-ingest",
        "worker-reports",
        "beat",
        "migrate",
        "postgres",
        "redis",
        "minio",
    } <= set(compose["services"])
    assert {"pgdata", "redisdata", "objects"} <= set(compose["volumes"])


def test_portal_services_run_roles_the_entrypoint_has(compose, entrypoint):
    services = portal_services(compose)
    assert set(services) >= {"web", "beat", "migrate"}
    for name, svc in services.items():
        command = svc["command"]
        assert command[0] in entrypoint.COMMANDS, name
        entrypoint.argv_for(command)  # raises on a bad role or queue
        assert svc["read_only"] is True, name


def test_every_queue_has_a_worker_service(compose, entrypoint):
    queues = {
        svc["command"][1]
        for svc in portal_services(compose).values()
        if svc["command"][0] == "worker"
    }
    assert queues == set(entrypoint.QUEUES)


def test_long_running_services_have_health_checks(compose):
    for name, svc in compose["services"].items():
        if svc.get("restart") == "no":
            continue
        assert "healthcheck" in svc, name


def test_services_start_after_migrate_and_their_dependencies(compose):
    for name in ("web", "worker-default", "worker-ingest", "worker-reports", "beat"):
        depends = compose["services"][name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert (
        compose["services"]["migrate"]["depends_on"]["postgres"]["condition"]
        == "service_healthy"
    )


def test_every_compose_variable_is_in_env_example_and_documented():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used, "compose takes its settings from variables"
    example = env_example()
    assert used - set(example) == set()
    assert used - documented_variables() == set()


def test_every_env_example_variable_is_documented_and_read():
    reads = portal_reads() + COMPOSE.read_text()
    for name in env_example():
        assert name in documented_variables(), f"{name} is not documented"
        assert f'"{name}"' in reads or "${" + name in reads, f"nothing reads {name}"


def test_only_the_reports_worker_gets_the_signing_key(compose):
    services = portal_services(compose)
    for name, svc in services.items():
        env = svc.get("environment", {})
        assert "secrets" not in svc, name
        if name != "worker-reports":
            assert "REPORT_SIGNING_KEY_FILE" not in env, name
            assert not any("signing" in v for v in svc.get("volumes", [])), name
            continue
        # The service keeps every shared setting and adds the key's paths.
        assert env["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]
        assert env["REPORT_SIGNING_KEY_FILE"] == "/run/secrets/report-signing.key"
        assert env["REPORT_SIGNING_CERT_FILE"] == "/run/secrets/report-signing.crt"
        # From the volume secrets-init fills, read-only, after it has run.
        assert svc["volumes"] == ["signing:/run/secrets:ro"]
        assert (
            svc["depends_on"]["secrets-init"]["condition"]
            == "service_completed_successfully"
        )


def test_secrets_init_copies_the_key_for_uid_10001_and_nothing_more(compose):
    init = compose["services"]["secrets-init"]
    assert init["image"] == PORTAL_IMAGE
    assert init["restart"] == "no"
    # Root for the copy only: no network, read-only root, three capabilities.
    assert init["user"] == "0:0"
    assert init["network_mode"] == "none"
    assert init["read_only"] is True
    assert init["cap_drop"] == ["ALL"]
    assert set(init["cap_add"]) == {"CHOWN", "DAC_OVERRIDE", "FOWNER"}
    assert "no-new-privileges:true" in init["security_opt"]
    assert init["entrypoint"] == ["/bin/sh", "-c"]
    assert init["command"] == [SIGNING_COPY]
    assert init["volumes"] == ["signing:/signing"]
    assert {(s["source"], s["target"]) for s in init["secrets"]} == {
        ("report-signing-key", "report-signing.key"),
        ("report-signing-cert", "report-signing.crt"),
    }
    for secret in init["secrets"]:
        assert compose["secrets"][secret["source"]]["file"].startswith("./secrets/")
    assert "signing" in compose["volumes"]
    # Nothing else holds the compose secrets (registry-token-init holds the
    # registry token's: test_registry.py).
    holders = {n for n, svc in compose["services"].items() if "secrets" in svc}
    assert holders == {"secrets-init", "registry-token-init"}
    assert {
        s["source"] for s in compose["services"]["registry-token-init"]["secrets"]
    }.isdisjoint({s["source"] for s in init["secrets"]})


def test_the_image_smoke_test_runs_the_same_copy_step():
    smoke = (ROOT / ".ci" / "image-smoke").read_text()
    assert SIGNING_COPY in smoke


@pytest.mark.skipif(os.geteuid() != 0, reason="install -o needs root")
def test_the_copy_step_makes_an_operator_0600_key_readable_by_10001(tmp_path):
    secrets, signing = tmp_path / "run-secrets", tmp_path / "signing"
    secrets.mkdir()
    signing.mkdir()
    for name in ("report-signing.key", "report-signing.crt"):
        (secrets / name).write_text(name)
        (secrets / name).chmod(0o600)
        os.chown(secrets / name, 1000, 1000)
    (signing / "report-signing.key").write_text("the key before a rotation")
    command = SIGNING_COPY.replace("/run/secrets", str(secrets)).replace(
        "/signing", str(signing)
    )
    subprocess.run(["/bin/sh", "-c", command], check=True)
    for name in ("report-signing.key", "report-signing.crt"):
        st = (signing / name).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (10001, 10001, 0o400)
        assert (signing / name).read_text() == name
    st = signing.stat()
    assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (10001, 0o500)


def test_admin_credentials_reach_no_portal_container(compose):
    def readers(path: str) -> set[str]:
        return {
            name
            for name, svc in compose["services"].items()
            if path in str(svc.get("env_file"))
        }

    assert readers(ADMIN_ENV) == {"postgres", "minio", "bucket"}
    # The schema owner's credentials: the database's init and migrate only.
    assert readers(MIGRATE_ENV) == {"postgres", "migrate"}
    for name, svc in portal_services(compose).items():
        expected = [".env", MIGRATE_ENV] if name == "migrate" else ".env"
        assert svc["env_file"] == expected, name
        assert "MIGRATE_DATABASE_URL" not in str(svc.get("environment")), name
    for variable in ("POSTGRES_PASSWORD", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert variable not in env_example()
    # deploy/secrets/ is neither committed nor in the build context.
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text()
    assert "**/secrets" in (ROOT / ".dockerignore").read_text()


def test_build_is_on_one_service_and_every_role_runs_its_image(compose):
    building = {n for n, svc in compose["services"].items() if "build" in svc}
    assert building == {"migrate"}
    assert compose["services"]["migrate"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert set(portal_services(compose)) == {
        "migrate",
        "web",
        "worker-default",
        "worker-ingest",
        "worker-reports",
        "beat",
    }


def test_third_party_images_are_named_in_full(compose):
    # podman refuses short names without a registries.conf alias.
    for name, svc in compose["services"].items():
        if svc["image"] != PORTAL_IMAGE:
            assert svc["image"].startswith("docker.io/"), name


def test_the_portal_connects_as_the_app_role_not_the_superuser(compose):
    postgres = compose["services"]["postgres"]
    env = postgres["environment"]
    url = urlsplit(compose["services"]["web"]["environment"]["DATABASE_URL"])
    assert url.username == env["PORTAL_DB_USER"] != env["POSTGRES_USER"]
    assert url.password == "${PORTAL_DB_PASSWORD}"
    assert env["PORTAL_DB_PASSWORD"].startswith("${PORTAL_DB_PASSWORD:?")
    # The superuser's password reaches PostgreSQL from a file no portal
    # container reads.
    assert "POSTGRES_PASSWORD" not in env
    assert postgres["env_file"] == [ADMIN_ENV, MIGRATE_ENV]
    mounts = dict(v.rsplit(":", 2)[:2] for v in postgres["volumes"][1:])
    assert mounts == {
        "./postgres/app-role.sql": "/etc/portal/app-role.sql",
        "./postgres/init-app-role.sh": "/docker-entrypoint-initdb.d/10-app-role.sh",
    }
    init = (DEPLOY / "postgres" / "init-app-role.sh").read_text()
    assert "/etc/portal/app-role.sql" in init
    for source in mounts:
        assert (DEPLOY / source).is_file(), source
    # Ready means the real server, over TCP, not the init scripts' socket-only one.
    assert "127.0.0.1" in postgres["healthcheck"]["test"]


def test_the_portal_uses_the_bucket_user_not_minio_root(compose):
    env = compose["services"]["web"]["environment"]
    assert env["AWS_ACCESS_KEY_ID"] == "${MINIO_APP_USER}"
    assert env["AWS_SECRET_ACCESS_KEY"] == "${MINIO_APP_PASSWORD}"
    for name, svc in portal_services(compose).items():
        assert "MINIO_ROOT" not in str(svc.get("environment")), name
    assert "MINIO_ROOT" not in ENV_EXAMPLE.read_text()
    assert compose["services"]["minio"]["env_file"] == ADMIN_ENV
    assert compose["services"]["bucket"]["env_file"] == ADMIN_ENV
    job = compose["services"]["bucket"]["command"][0]
    assert "mc admin user add store ${MINIO_APP_USER" in job
    assert "mc admin policy attach store portal-bucket --user ${MINIO_APP_USER}" in job
    policy = job[job.index("<<'POLICY'\n") + 11 : job.index("\nPOLICY")]
    statements = json.loads(policy)["Statement"]
    resources = {r for s in statements for r in s["Resource"]}
    assert resources == {
        "arn:aws:s3:::${AWS_STORAGE_BUCKET_NAME}",
        "arn:aws:s3:::${AWS_STORAGE_BUCKET_NAME}/*",
    }
    actions = {a for s in statements for a in s["Action"]}
    assert not any(a.startswith("s3:*") or a.startswith("admin:") for a in actions)


def test_env_example_site_url_fits_the_stack_it_describes(settings):
    """As shipped, .env.example describes the plain-HTTP stack on 127.0.0.1:
    its SITE_URL (every mailed link, the first admin's set-password link)
    must pass migrate's check --deploy there."""
    from apps.core.checks import site_url_check

    example = env_example()
    settings.PRODUCTION = True
    settings.INSECURE_HTTP = example.get("PORTAL_INSECURE_HTTP") == "1"
    settings.SITE_URL = example["SITE_URL"]
    settings.ALLOWED_HOSTS = example["ALLOWED_HOSTS"].split(",")
    assert site_url_check() == []
    assert example["SITE_URL"].endswith(":" + example["WEB_PORT"])
    assert example["SITE_URL"] in example["CSRF_TRUSTED_ORIGINS"].split(",")
