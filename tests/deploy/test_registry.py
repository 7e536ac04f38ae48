"""The image registry's wiring: deploy/registry/config.yml, compose's
``registry`` and ``registry-token-init`` services and deploy/k8s/80-registry.yaml.

The registry sends clients to the portal's token endpoint under the names the
portal issues tokens for, trusts the certificate of the key web signs with
(and never sees the key), tells web's receiver of pulls with the shared
secret, and gets nothing else of the portal's. The end-to-end tests
(tests/registry/test_registry_e2e.py) start Debian's docker-registry from the
same file."""

from __future__ import annotations

import os
import posixpath
import stat
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import resolve, reverse

from .conftest import DEPLOY
from .test_compose import env_example

CONFIG = DEPLOY / "registry" / "config.yml"
K8S = DEPLOY / "k8s"
PLACEHOLDER = "@REGISTRY_NOTIFICATIONS_SECRET@"
BLOBS = "application/octet-stream"
# Where the command reads the file and writes the rendered one.
CONFIG_IN_CONTAINER = "/etc/docker/registry/config.yml"
RENDERED = "/tmp/config.yml"  # noqa: S108


@pytest.fixture(scope="module")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict]:
    """Every Kubernetes object, by (kind, name)."""
    objects = {}
    for path in sorted(K8S.glob("[0-9]*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[doc["kind"], doc["metadata"]["name"]] = doc
    return objects


def k8s_config(k8s) -> dict:
    return yaml.safe_load(
        k8s["ConfigMap", "portal-registry-config"]["data"]["config.yml"]
    )


def pod(k8s, kind: str, name: str) -> dict:
    return k8s[kind, name]["spec"]["template"]["spec"]


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def mounts_of(container: dict) -> dict[str, dict]:
    return {m["name"]: m for m in container["volumeMounts"]}


def volume_mounts(service: dict) -> dict[str, tuple[str, str]]:
    """A compose service's volumes: source -> (target, options)."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *options = entry.split(":")
        mounts[source] = (target, options[0] if options else "rw")
    return mounts


# -- the names and addresses agree with the portal's ---------------------------


def test_the_registry_asks_for_tokens_under_the_names_the_portal_issues(config, k8s):
    token_path = reverse("registry:token")
    env = env_example()
    auth = config["auth"]["token"]
    assert auth["service"] == env["REGISTRY_SERVICE"]
    assert auth["issuer"] == env["REGISTRY_TOKEN_ISSUER"]
    assert auth["realm"] == env["SITE_URL"] + token_path

    cluster = k8s["ConfigMap", "portal-config"]["data"]
    auth = k8s_config(k8s)["auth"]["token"]
    assert auth["service"] == cluster["REGISTRY_SERVICE"]
    assert auth["issuer"] == cluster["REGISTRY_TOKEN_ISSUER"]
    assert auth["realm"] == cluster["SITE_URL"] + token_path
    # The host pull commands name is the registry's Ingress.
    (rule,) = k8s["Ingress", "portal-registry"]["spec"]["rules"]
    assert cluster["REGISTRY_PUBLIC_HOST"] == rule["host"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "portal-registry"
    assert env["REGISTRY_PUBLIC_HOST"] == f"127.0.0.1:{env['REGISTRY_PORT']}"


def test_notifications_go_to_webs_receiver_with_the_shared_secret(config, compose, k8s):
    receiver = reverse("registry:notifications")
    assert resolve(receiver).url_name == "notifications"
    env = env_example()
    cluster = k8s["ConfigMap", "portal-config"]["data"]
    for endpoints, allowed, forwarded, web in (
        (
            config["notifications"]["endpoints"],
            env["ALLOWED_HOSTS"],
            env["USE_X_FORWARDED_PROTO"],
            ("web", 8000),
        ),
        (
            k8s_config(k8s)["notifications"]["endpoints"],
            cluster["ALLOWED_HOSTS"],
            cluster["USE_X_FORWARDED_PROTO"],
            ("portal-web", 80),
        ),
    ):
        (endpoint,) = endpoints
        url = urlsplit(endpoint["url"])
        assert url.path == receiver
        assert (url.hostname, url.port or 80) == web
        assert url.hostname in allowed.split(",")
        assert endpoint["headers"]["Authorization"] == [f"Bearer {PLACEHOLDER}"]
        # It claims what the TLS proxy would claim: only where it is trusted.
        assert endpoint["headers"]["X-Forwarded-Proto"] == ["https"]
        assert forwarded == "true"
        assert endpoint["ignoredmediatypes"] == [BLOBS]
    # The addresses are web's: compose's container port, the cluster's Service.
    assert compose["services"]["web"]["ports"][0].endswith(":8000")
    (port,) = k8s["Service", "portal-web"]["spec"]["ports"]
    assert port["port"] == 80


def test_the_cluster_config_is_the_deploy_file_with_the_clusters_addresses(config, k8s):
    cluster = k8s_config(k8s)
    cluster["auth"]["token"]["realm"] = config["auth"]["token"]["realm"]
    cluster["notifications"]["endpoints"][0]["url"] = config["notifications"][
        "endpoints"
    ][0]["url"]
    assert cluster == config


# -- compose: who holds the key, the certificate and the secret ----------------


def test_compose_gives_web_and_migrate_the_key_and_the_registry_the_certificate(
    config, compose
):
    services = compose["services"]
    init = services["registry-token-init"]
    assert {(s["source"], s["target"]) for s in init["secrets"]} == {
        ("registry-token-key", "registry-token.key"),
        ("registry-token-cert", "registry-token.crt"),
    }
    assert compose["secrets"]["registry-token-key"]["file"] == (
        "./secrets/registry-token.key"
    )
    assert compose["secrets"]["registry-token-cert"]["file"] == (
        "./secrets/registry-token.crt"
    )
    copy = init["command"][0]
    init_mounts = volume_mounts(init)
    token_dir = init_mounts["registry-token"][0]
    cert_dir = init_mounts["registry-cert"][0]

    for name in ("web", "migrate"):
        service = services[name]
        target, options = volume_mounts(service)["registry-token"]
        assert options == "ro", name
        env = service["environment"]
        for variable, file in (
            ("REGISTRY_TOKEN_KEY_FILE", "registry-token.key"),
            ("REGISTRY_TOKEN_CERT_FILE", "registry-token.crt"),
        ):
            assert env[variable] == f"{target}/{file}", name
            assert f"{token_dir}/" in copy
        assert (
            service["depends_on"]["registry-token-init"]["condition"]
            == "service_completed_successfully"
        )
    holders = {
        name for name, svc in services.items() if "registry-token" in volume_mounts(svc)
    }
    assert holders == {"registry-token-init", "web", "migrate"}

    registry = services["registry"]
    mounts = volume_mounts(registry)
    assert "registry-token" not in mounts
    bundle = config["auth"]["token"]["rootcertbundle"]
    assert mounts["registry-cert"] == (posixpath.dirname(bundle), "ro")
    assert f"{cert_dir}/{posixpath.basename(bundle)}" in copy
    assert mounts["./registry/config.yml"] == (CONFIG_IN_CONTAINER, "ro")
    # Of the portal's settings, the registry gets the shared secret alone.
    assert "env_file" not in registry
    assert set(registry["environment"]) == {"REGISTRY_NOTIFICATIONS_SECRET"}
    assert registry["environment"]["REGISTRY_NOTIFICATIONS_SECRET"].startswith(
        "${REGISTRY_NOTIFICATIONS_SECRET:?"
    )
    assert registry["read_only"] is True
    assert registry["cap_drop"] == ["ALL"]
    assert registry["image"].startswith("docker.io/library/registry:2.8")


def test_compose_and_kubernetes_start_the_registry_with_the_same_command(compose, k8s):
    service = compose["services"]["registry"]
    (container,) = pod(k8s, "Deployment", "portal-registry")["containers"]
    assert service["entrypoint"] == container["command"] == ["/bin/sh", "-c"]
    # compose writes $ as $$.
    assert service["command"][0].replace("$$", "$") == container["args"][0]
    assert container["image"] == service["image"]


# -- Kubernetes --------------------------------------------------------------------


def test_kubernetes_mounts_the_key_for_web_and_migrate_and_the_certificate_alone_for_the_registry(  # noqa: E501
    config, k8s
):
    for kind, name in (("Deployment", "portal-web"), ("Job", "portal-migrate")):
        spec = pod(k8s, kind, name)
        volumes = {v["name"]: v for v in spec["volumes"]}
        (container,) = spec["containers"]
        mount = mounts_of(container)["registry-token"]
        assert mount["readOnly"] is True
        assert volumes["registry-token"]["secret"]["secretName"] == (
            "portal-registry-token"
        )
        env = env_of(container)
        assert env["REGISTRY_TOKEN_KEY_FILE"]["value"] == (
            f"{mount['mountPath']}/registry-token.key"
        )
        assert env["REGISTRY_TOKEN_CERT_FILE"]["value"] == (
            f"{mount['mountPath']}/registry-token.crt"
        )

    spec = pod(k8s, "Deployment", "portal-registry")
    volumes = {v["name"]: v for v in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = mounts_of(container)
    bundle = config["auth"]["token"]["rootcertbundle"]
    cert = volumes[mounts["token-cert"]["name"]]["secret"]
    assert cert["secretName"] == "portal-registry-token"
    # The certificate only: the key is not projected into the registry's pod.
    assert cert["items"] == [
        {"key": "registry-token.crt", "path": posixpath.basename(bundle)}
    ]
    assert mounts["token-cert"]["mountPath"] == posixpath.dirname(bundle)
    assert mounts["config"]["mountPath"] == posixpath.dirname(CONFIG_IN_CONTAINER)
    assert volumes["config"]["configMap"]["name"] == "portal-registry-config"
    assert (
        mounts["data"]["mountPath"] == config["storage"]["filesystem"]["rootdirectory"]
    )
    env = env_of(container)
    assert set(env) == {"REGISTRY_NOTIFICATIONS_SECRET"}
    assert env["REGISTRY_NOTIFICATIONS_SECRET"]["valueFrom"]["secretKeyRef"] == {
        "name": "portal-secrets",
        "key": "REGISTRY_NOTIFICATIONS_SECRET",
    }
    assert "envFrom" not in container
    # One replica on a ReadWriteOnce volume: never two at once.
    deployment = k8s["Deployment", "portal-registry"]["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"
    (port,) = container["ports"]
    assert port["containerPort"] == int(config["http"]["addr"].rsplit(":", 1)[1])


def _labels(peer: dict) -> dict:
    return peer.get("podSelector", {}).get("matchLabels", {})


def test_network_policies_let_the_registry_reach_web_and_nothing_else(k8s):
    registry = {
        "app.kubernetes.io/name": "portal",
        "app.kubernetes.io/component": "registry",
    }
    web = {"app.kubernetes.io/name": "portal", "app.kubernetes.io/component": "web"}
    assert (
        k8s["Deployment", "portal-registry"]["spec"]["selector"]["matchLabels"]
        == registry
    )

    from_registry = k8s["NetworkPolicy", "portal-web-from-registry"]["spec"]
    assert from_registry["podSelector"]["matchLabels"] == web
    (rule,) = from_registry["ingress"]
    assert [_labels(peer) for peer in rule["from"]] == [registry]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]

    inbound = k8s["NetworkPolicy", "portal-registry-ingress"]["spec"]
    assert inbound["podSelector"]["matchLabels"] == registry
    (rule,) = inbound["ingress"]
    (peer,) = rule["from"]
    assert peer["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    assert rule["ports"] == [{"protocol": "TCP", "port": 5000}]

    outbound = k8s["NetworkPolicy", "portal-registry-egress"]["spec"]
    assert outbound["podSelector"]["matchLabels"] == registry
    assert outbound["policyTypes"] == ["Egress"]
    dns, to_web = outbound["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert [_labels(peer) for peer in to_web["to"]] == [web]
    assert to_web["ports"] == [{"protocol": "TCP", "port": 8000}]


# -- the start command -----------------------------------------------------------


def _start(tmp_path, secret: str | None) -> subprocess.CompletedProcess:
    """The registry's command with its paths moved under tmp_path and a
    ``registry`` that keeps the configuration it was started with."""
    command = k8s_command().replace(CONFIG_IN_CONTAINER, str(CONFIG))
    command = command.replace(RENDERED, str(tmp_path / "config.yml"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "registry"
    fake.write_text('#!/bin/sh\ncp "$2" "$STARTED_WITH"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STARTED_WITH": str(tmp_path / "seen")}
    if secret is not None:
        env["REGISTRY_NOTIFICATIONS_SECRET"] = secret
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def k8s_command() -> str:
    for doc in yaml.safe_load_all((K8S / "80-registry.yaml").read_text()):
        if doc and doc["kind"] == "Deployment":
            return doc["spec"]["template"]["spec"]["containers"][0]["args"][0]
    raise AssertionError("no registry Deployment")


def test_the_start_command_writes_the_secret_into_the_config(tmp_path, config):
    secret = "0123456789abcdef" * 4
    done = _start(tmp_path, secret)
    assert done.returncode == 0, done.stderr
    started = yaml.safe_load((tmp_path / "seen").read_text())
    (endpoint,) = started["notifications"]["endpoints"]
    assert endpoint["headers"]["Authorization"] == [f"Bearer {secret}"]
    endpoint["headers"]["Authorization"] = [f"Bearer {PLACEHOLDER}"]
    assert started == config
    # Readable by the registry alone.
    mode = stat.S_IMODE((tmp_path / "config.yml").stat().st_mode)
    assert mode & 0o077 == 0


BAD_SECRETS = {
    "unset": None,
    "empty": "",
    "pipe": "a|b",
    "ampersand": "a&b",
    "space": "a b",
    "newline": "line\nbreak",
    "dollar": "$(id)",
    "quote": 'quote"d',
    "backslash": "back\\slash",
}


@pytest.mark.parametrize("secret", BAD_SECRETS.values(), ids=BAD_SECRETS.keys())
def test_the_start_command_refuses_a_secret_it_cannot_write(tmp_path, secret):
    done = _start(tmp_path, secret)
    assert done.returncode == 64
    assert "REGISTRY_NOTIFICATIONS_SECRET" in done.stderr
    assert not (tmp_path / "seen").exists()
    assert not (tmp_path / "config.yml").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="install -o needs root")
def test_the_copy_step_gives_uid_10001_the_key_and_the_registry_the_certificate(
    compose, tmp_path
):
    secrets, token, cert = (tmp_path / n for n in ("secrets", "token", "cert"))
    for directory in (secrets, token, cert):
        directory.mkdir()
    for name in ("registry-token.key", "registry-token.crt"):
        (secrets / name).write_text(name)
        (secrets / name).chmod(0o600)
        os.chown(secrets / name, 1000, 1000)
    command = compose["services"]["registry-token-init"]["command"][0]
    command = (
        command.replace(" /run/secrets/", f" {secrets}/")
        .replace(" /registry-token", f" {token}")
        .replace(" /registry-cert", f" {cert}")
    )
    subprocess.run(["/bin/sh", "-c", command], check=True)

    def owner_mode(path):
        st = path.stat()
        return st.st_uid, stat.S_IMODE(st.st_mode)

    assert owner_mode(token / "registry-token.key") == (10001, 0o400)
    assert owner_mode(token / "registry-token.crt") == (10001, 0o444)
    assert owner_mode(token) == (10001, 0o500)
    assert sorted(p.name for p in cert.iterdir()) == ["token.crt"]
    assert (cert / "token.crt").read_text() == "registry-token.crt"
    assert owner_mode(cert / "token.crt")[1] == 0o444
    assert owner_mode(cert)[1] == 0o555
