"""deploy/compose.yaml: it parses, every portal service runs a role the image's
entry point has, every queue has a worker, and every variable is documented."""

import re

import pytest
import yaml

from .conftest import DEPLOY, documented_variables, portal_reads

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


def portal_services(compose) -> dict:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
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
        if name != "worker-reports":
            assert "REPORT_SIGNING_KEY_FILE" not in env, name
            assert "secrets" not in svc, name
            continue
        # The service keeps every shared setting and adds the key's paths.
        assert env["DATABASE_URL"] == services["web"]["environment"]["DATABASE_URL"]
        targets = {s["target"] for s in svc["secrets"]}
        assert env["REPORT_SIGNING_KEY_FILE"] == "/run/secrets/report-signing.key"
        assert env["REPORT_SIGNING_CERT_FILE"] == "/run/secrets/report-signing.crt"
        assert targets == {"report-signing.key", "report-signing.crt"}
        for secret in svc["secrets"]:
            assert secret["source"] in compose["secrets"]
