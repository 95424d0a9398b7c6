"""deploy/kubernetes/ rendered by the real kustomize and validated by the real kubeconform against
the Kubernetes, Strimzi, CloudNativePG, Prometheus Operator and KEDA schemas (all offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.analytics.settings import AnalyticsSettings
from services.monitoring.loop import LoopNames
from services.monitoring.settings import MonitoringSettings
from tests.integration.kubernetes_support import by_kind, rendered, rendered_text, require_k8s_tools
from tools import k8s
from tools.topics import load_topic_specs

pytestmark = pytest.mark.integration

KUSTOMIZATIONS = k8s.kustomizations()
SERVICES = {"meetings": 8001, "monitoring": 8002, "notifications": 8003, "analytics": 8004}


@pytest.fixture(autouse=True)
def _tools() -> None:
    require_k8s_tools()


def _id(directory: Path) -> str:
    return str(directory.relative_to(k8s.KUBERNETES_DIR))


def test_there_is_a_national_overlay() -> None:
    assert k8s.OVERLAYS_DIR / "national" in KUSTOMIZATIONS


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_every_resource_validates_against_its_schema(directory: Path) -> None:
    result = k8s.validate(rendered_text(directory))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Invalid: 0, Errors: 0, Skipped: 0" in result.stdout


def test_kubeconform_rejects_a_misspelt_field_in_every_kind_we_use() -> None:
    # The schemas must bite: a typo in any kind's spec is an error, never a silent pass or a skip.
    text = rendered_text(k8s.OVERLAYS_DIR / "national")
    broken = {
        "KafkaTopic": ("  partitions: 12\n", "  partitons: 12\n"),
        "Cluster": ("  instances: 3\n", "  instance: 3\n"),
        "ScaledObject": ("  maxReplicaCount: 12\n", "  maxReplicas: 12\n"),
        "ServiceMonitor": ("honorLabels: true", "honourLabels: true"),
        "Deployment": ("readinessProbe:", "readynessProbe:"),
    }
    for kind, (good, bad) in broken.items():
        assert good in text, kind
        result = k8s.validate(text.replace(good, bad))
        assert result.returncode != 0, kind
        assert f"{kind} " in result.stdout, result.stdout
        assert "is invalid" in result.stdout, result.stdout


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_rendered_topics_equal_topics_yaml(directory: Path) -> None:
    resources = rendered(directory)
    assert k8s.topic_problems(resources, load_topic_specs()) == []
    kafka = by_kind(resources, "Kafka")[k8s.KAFKA_CLUSTER]["spec"]["kafka"]["config"]
    pools = by_kind(resources, "KafkaNodePool")
    brokers = sum(pool["spec"]["replicas"] for pool in pools.values())
    for topic in by_kind(resources, "KafkaTopic").values():
        # Every replica needs its own broker, and a write must survive one broker down when there are three.
        assert topic["spec"]["replicas"] <= brokers
        assert kafka["min.insync.replicas"] < topic["spec"]["replicas"] or topic["spec"]["replicas"] == 1
    assert kafka["auto.create.topics.enable"] is False


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_scalers_stay_within_partitions_and_watch_the_workers_own_group(directory: Path) -> None:
    resources = rendered(directory)
    specs = load_topic_specs()
    assert k8s.scaling_problems(resources, specs) == []
    scaled = by_kind(resources, "ScaledObject")
    assert scaled, "no KEDA ScaledObject"
    monitoring = MonitoringSettings()
    # The group the default consumer joins: the loop consumer's own (`loop.LoopNames`), or Faust's app id.
    monitoring_group = LoopNames.of(monitoring).group if monitoring.consumer == "loop" else monitoring.app_id
    groups = {"pantau-monitoring": monitoring_group, "pantau-analytics": AnalyticsSettings().app_id}
    deployments = by_kind(resources, "Deployment")
    for name, scaler in scaled.items():
        assert scaler["spec"]["scaleTargetRef"]["name"] in deployments
        for trigger in scaler["spec"]["triggers"]:
            assert trigger["metadata"]["consumerGroup"] == groups[scaler["spec"]["scaleTargetRef"]["name"]], name
            assert trigger["metadata"]["bootstrapServers"] == k8s.KAFKA_BOOTSTRAP


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_each_service_is_probed_budgeted_and_scraped(directory: Path) -> None:
    resources = rendered(directory)
    deployments = by_kind(resources, "Deployment")
    services = by_kind(resources, "Service")
    budgets = by_kind(resources, "PodDisruptionBudget")
    monitors = by_kind(resources, "ServiceMonitor")
    assert set(deployments) == {f"pantau-{name}" for name in SERVICES}
    for short, port in SERVICES.items():
        name = f"pantau-{short}"
        pod = deployments[name]["spec"]["template"]
        labels = pod["metadata"]["labels"]
        (container,) = pod["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert {p["containerPort"] for p in container["ports"]} == {port}
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        # The Service, the budget and the scrape all find the pods by the same labels.
        for selector in (
            services[name]["spec"]["selector"],
            budgets[name]["spec"]["selector"]["matchLabels"],
            deployments[name]["spec"]["selector"]["matchLabels"],
        ):
            assert selector.items() <= labels.items()
        assert monitors[name]["spec"]["selector"]["matchLabels"].items() <= services[name]["metadata"]["labels"].items()
        (endpoint,) = monitors[name]["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["honorLabels"] is True


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_single_instance_services_never_run_twice(directory: Path) -> None:
    # Notifications' SQLite store and analytics' reports are not safe with two processes at once
    # (docs/scaling.md): one replica, and updates that stop the old pod first.
    deployments = by_kind(rendered(directory), "Deployment")
    for name in ("pantau-notifications", "pantau-analytics"):
        assert deployments[name]["spec"]["replicas"] == 1, name
        assert deployments[name]["spec"]["strategy"]["type"] == "Recreate", name


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=_id)
def test_meetings_runs_several_pods_one_process_each_scaled_on_cpu(directory: Path) -> None:
    resources = rendered(directory)
    meetings = by_kind(resources, "Deployment")["pantau-meetings"]["spec"]
    (container,) = meetings["template"]["spec"]["containers"]
    assert {"name": "PANTAU_MEETINGS_WORKERS", "value": "1"} in container["env"]
    assert meetings["strategy"]["type"] == "RollingUpdate"
    autoscaler = by_kind(resources, "HorizontalPodAutoscaler")["pantau-meetings"]["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == "pantau-meetings"
    assert 2 <= autoscaler["minReplicas"] <= autoscaler["maxReplicas"]
    # Each pod's pool may open 15 connections (SQLAlchemy's 5 + 10); the database must have room.
    cluster = by_kind(resources, "Cluster")["pantau-db"]["spec"]
    assert autoscaler["maxReplicas"] * 15 < int(cluster["postgresql"]["parameters"]["max_connections"])


def test_rules_and_database_are_rendered() -> None:
    resources = rendered(k8s.OVERLAYS_DIR / "national")
    assert by_kind(resources, "PrometheusRule")["pantau-system"]["spec"]["groups"]
    cluster = by_kind(resources, "Cluster")["pantau-db"]["spec"]
    assert cluster["instances"] == 3
    meetings = by_kind(resources, "Deployment")["pantau-meetings"]["spec"]["template"]["spec"]["containers"][0]
    url = next(env["value"] for env in meetings["env"] if env["name"] == "PANTAU_MEETINGS_DATABASE_URL")
    assert url.startswith("postgresql+psycopg://")
    assert "@pantau-db-rw:5432/" in url
    assert all(r["metadata"].get("namespace") == "pantau" for r in resources if r["kind"] != "Namespace")
