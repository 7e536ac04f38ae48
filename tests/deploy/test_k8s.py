"""deploy/k8s: valid against a pinned Kubernetes version's schemas (offline,
kubernetes-validate ships them), and consistent with the portal."""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from django.urls import Resolver404, resolve

from .conftest import DEPLOY, portal_reads

KUBERNETES_VERSION = "1.33.0"
KUSTOMIZATION = DEPLOY / "k8s" / "kustomization.yaml"
MANIFESTS = sorted(p for p in (DEPLOY / "k8s").glob("*.yaml") if p != KUSTOMIZATION)


def documents() -> list[tuple[Path, dict]]:
    return [
        (path, doc)
        for path in MANIFESTS
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def by_kind(kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def pod_specs() -> list[dict]:
    specs = []
    for _, doc in documents():
        if doc["kind"] in {"Deployment", "Job"}:
            specs.append(doc["spec"]["template"]["spec"])
    return specs


PORTAL_IMAGE = "registry.example.com/portal"


def runs_the_portal(container: dict) -> bool:
    return container["image"].rsplit(":", 1)[0] == PORTAL_IMAGE


def portal_deployments() -> dict[str, dict]:
    """The Deployments of the portal's image (not the image registry's)."""
    return {
        name: doc
        for name, doc in by_kind("Deployment").items()
        if runs_the_portal(doc["spec"]["template"]["spec"]["containers"][0])
    }


@pytest.mark.parametrize(
    ("path", "doc"),
    documents(),
    ids=lambda v: v.name if isinstance(v, Path) else v["metadata"]["name"],
)
def test_manifest_is_valid_for_the_pinned_kubernetes_version(path, doc):
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_rejects_a_broken_manifest():
    broken = by_kind("Deployment")["portal-web"] | {"spec": {"replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_one_deployment_per_queue_and_a_single_recreated_beat(entrypoint):
    deployments = portal_deployments()
    queues = set()
    for doc in deployments.values():
        args = doc["spec"]["template"]["spec"]["containers"][0]["args"]
        entrypoint.argv_for(args)
        if args[0] == "worker":
            queues.add(args[1])
    assert queues == set(entrypoint.QUEUES)
    beat = deployments["portal-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert "portal-beat" not in by_kind("HorizontalPodAutoscaler")


def test_web_and_every_worker_have_a_pdb_and_an_autoscaler():
    scalable = {n for n in portal_deployments() if n != "portal-beat"}
    pdbs = by_kind("PodDisruptionBudget")
    hpas = by_kind("HorizontalPodAutoscaler")
    assert scalable == set(hpas)
    assert set(pdbs) == scalable | {"portal-beat"}
    # beat's refuses every eviction: a replacement would start while it stops.
    assert pdbs["portal-beat"]["spec"]["maxUnavailable"] == 0
    beat_labels = by_kind("Deployment")["portal-beat"]["spec"]["selector"]
    assert pdbs["portal-beat"]["spec"]["selector"] == beat_labels
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == name


def test_migration_job_runs_migrate():
    job = by_kind("Job")["portal-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_web_probes_point_at_health_endpoints_that_exist():
    web = by_kind("Deployment")["portal-web"]["spec"]["template"]["spec"]
    container = web["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        path = container[probe]["httpGet"]["path"]
        try:
            assert resolve(path).url_name in {"healthz", "readyz"}
        except Resolver404:
            pytest.fail(f"{probe} asks for {path}, which the portal does not serve")
        host = {
            h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]
        }
        config = by_kind("ConfigMap")["portal-config"]["data"]
        assert host["Host"] in config["ALLOWED_HOSTS"].split(",")


def test_every_pod_is_locked_down_with_resources_and_a_writable_tmp():
    for spec in pod_specs():
        assert spec["securityContext"]["runAsNonRoot"] is True
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert {"requests", "limits"} <= set(container["resources"])
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]]  # noqa: S108
            if not runs_the_portal(container):
                continue
            refs = [
                next(iter(source.values()))["name"] for source in container["envFrom"]
            ]
            # The schema owner's URL reaches the migration Job alone, last so
            # it wins (deploy/postgres/app-role.sql).
            if container["name"] == "migrate":
                assert refs == ["portal-config", "portal-secrets", "portal-migrate"]
            else:
                assert refs == ["portal-config", "portal-secrets"], container["name"]


def test_no_secret_values_in_the_manifests():
    assert by_kind("Secret") == {}


def test_every_variable_a_manifest_sets_is_read_by_the_portal():
    names = set(by_kind("ConfigMap")["portal-config"]["data"])
    for spec in pod_specs():
        for container in spec["containers"]:
            names |= {e["name"] for e in container.get("env", [])}
    reads = portal_reads()
    unread = sorted(n for n in names if f'"{n}"' not in reads)
    assert unread == []


def test_only_the_reports_workers_mount_the_signing_key():
    signing = "REPORT_SIGNING_KEY_FILE"
    for name, doc in by_kind("Deployment").items():
        pod = doc["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        secrets = {
            v["secret"]["secretName"]: v["name"]
            for v in pod.get("volumes", [])
            if "secret" in v
        }
        if name != "portal-worker-reports":
            assert signing not in env, name
            assert "portal-report-signing" not in secrets, name
            continue
        volume = secrets["portal-report-signing"]
        mount = next(m for m in container["volumeMounts"] if m["name"] == volume)
        assert mount["readOnly"] is True
        for variable in (signing, "REPORT_SIGNING_CERT_FILE"):
            assert env[variable].startswith(mount["mountPath"] + "/")


def test_the_kustomization_lists_every_manifest_and_sets_the_image_once():
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == [p.name for p in MANIFESTS]
    names = [image["name"] for image in kustomization["images"]]
    assert len(names) == len(set(names))
    assert PORTAL_IMAGE in names
    for spec in pod_specs():
        for container in spec["containers"]:
            name = container["image"].rsplit(":", 1)[0]
            assert name in names, container["name"]


def test_worker_liveness_does_not_depend_on_the_broker():
    # The health check pings Celery through Redis: readiness only, never
    # liveness, or a Redis outage restarts every worker.
    for name, doc in by_kind("Deployment").items():
        if not name.startswith("portal-worker-"):
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        assert "healthcheck" in container["readinessProbe"]["exec"]["command"]
        liveness = container["livenessProbe"]["exec"]["command"]
        assert liveness[-2:] == ["healthcheck", "--liveness"], name


def test_beat_liveness_is_its_heartbeat():
    container = by_kind("Deployment")["portal-beat"]["spec"]["template"]["spec"][
        "containers"
    ][0]
    command = container["livenessProbe"]["exec"]["command"]
    assert command[-2:] == ["healthcheck", "--liveness"]


def _policy(name: str) -> dict:
    return by_kind("NetworkPolicy")[name]["spec"]


def _namespaces(peers: list[dict]) -> set[str]:
    return {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in peers
    }


def test_network_policies_deny_by_default_and_open_only_what_is_needed():
    deny = _policy("portal-default-deny-ingress")
    assert deny["podSelector"] == {}
    assert deny["policyTypes"] == ["Ingress"]
    assert "ingress" not in deny

    web = _policy("portal-web-ingress")
    web_labels = by_kind("Deployment")["portal-web"]["spec"]["selector"]
    assert web["podSelector"] == web_labels
    (rule,) = web["ingress"]
    assert _namespaces(rule["from"]) == {"ingress-nginx", "monitoring"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8000}]

    metrics = _policy("portal-worker-metrics")
    (rule,) = metrics["ingress"]
    assert _namespaces(rule["from"]) == {"monitoring"}
    assert rule["ports"] == [{"protocol": "TCP", "port": 9808}]
    workers = {
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for n, d in by_kind("Deployment").items()
        if n.startswith("portal-worker-")
    }
    (selector,) = metrics["podSelector"]["matchExpressions"]
    assert set(selector["values"]) == workers


def test_workers_beat_and_migrate_reach_only_the_database_broker_s3_and_dns():
    egress = _policy("portal-backend-egress")
    (selector,) = egress["podSelector"]["matchExpressions"]
    components = {
        doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        for _, doc in documents()
        if doc["kind"] in {"Deployment", "Job"}
    }
    # web's egress is not limited; the registry's is its own (test_registry.py).
    assert set(selector["values"]) == components - {"web", "registry"}
    assert egress["policyTypes"] == ["Egress"]
    ports = {p["port"] for rule in egress["egress"] for p in rule["ports"]}
    assert ports == {53, 5432, 6379, 443}
    # Mail only from the queue that sends it.
    mail = _policy("portal-worker-default-egress")
    assert mail["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == (
        "worker-default"
    )
    assert {p["port"] for rule in mail["egress"] for p in rule["ports"]} == {587, 465}
