"""The deployment files are checked without Docker or Grafana.

- docker-compose.yml is validated by docker-compose 1.29 (`config` needs no engine) and its
  parsed form is held to what the stack needs;
- the Prometheus config and alert rules are checked and unit-tested by the real `promtool`;
- Grafana dashboards get structural checks, and their PromQL is parsed by `promtool`.

A missing `docker-compose` or `promtool` skips the test on a laptop and fails it under `CI=true`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.kafka import skip_or_fail
from tools.dashboards import (
    dashboard_files,
    expand_variables,
    iter_panel_queries,
    iter_panels,
    iter_row_panels,
    iter_variable_queries,
    load_dashboard,
    promql_metric_names,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
RULES_DIR = PROMETHEUS_DIR / "rules"
GRAFANA_DIR = REPO / "deploy" / "grafana"
DATASOURCE_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "pantau.yml"
DATASOURCE_UID = "pantau-prometheus"

SERVICE_PORTS = {"meetings": 8001, "monitoring": 8002, "notifications": 8003, "analytics": 8004}
EXPECTED_SERVICES = {"kafka", "topics-init", *SERVICE_PORTS, "prometheus", "grafana"}
ALLOWED_SEVERITIES = {"critical", "warning", "info"}
REQUIRED_ANNOTATIONS = {"summary", "description", "summary_id", "description_id"}

RULE_FILES = sorted(RULES_DIR.glob("*.rules.yml"))
RULE_TEST_FILES = sorted(RULES_DIR.glob("*.test.yml"))
DASHBOARD_FILES = dashboard_files(GRAFANA_DIR / "dashboards")


def require_binary(name: str, install_hint: str) -> str:
    """Path of ``name``; a missing binary skips locally but fails in CI, where it is a setup bug."""
    path = shutil.which(name)
    if path is None:
        skip_or_fail(f"`{name}` is not on PATH ({install_hint})")
    return path


def run(args: list[str], *, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def iter_alert_rules() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    yield path, rule


def iter_rule_exprs() -> Iterator[tuple[str, str]]:
    for path in RULE_FILES:
        for group in load_yaml(path)["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}: {rule.get('alert') or rule.get('record')}", str(rule["expr"])


def volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(type, source, target)`` per mount; compose 1.29 prints short strings, v2 long mappings."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *_ = volume.split(":")
            kind = "bind" if source.startswith(("/", ".")) else "volume"
            mounts.append((kind, source, target))
        else:
            mounts.append((volume["type"], volume.get("source", ""), volume["target"]))
    return mounts


def published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """``(host port, container port)`` pairs, from either the short or the long syntax."""
    pairs = set()
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            host, container = str(port).rsplit(":", 2)[-2:]
            pairs.add((int(host), int(container.split("/")[0])))
    return pairs


def is_allowed_metric(name: str) -> bool:
    return name == "up" or name.startswith("pantau_")


# --- docker-compose ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_config() -> dict[str, Any]:
    """The compose file as docker-compose itself resolves it (anchors, merges, absolute paths)."""
    binary = require_binary("docker-compose", "apt-get install docker-compose")
    full = run([binary, "-f", str(COMPOSE_FILE), "config"])
    assert_ok(full)
    config = yaml.safe_load(full.stdout)
    assert isinstance(config, dict)
    return config


def test_compose_config_is_valid() -> None:
    binary = require_binary("docker-compose", "apt-get install docker-compose")
    assert_ok(run([binary, "-f", str(COMPOSE_FILE), "config", "-q"]))


def test_compose_has_every_service(compose_config: dict[str, Any]) -> None:
    assert set(compose_config["services"]) == EXPECTED_SERVICES


def test_compose_builds_point_at_existing_dockerfiles(compose_config: dict[str, Any]) -> None:
    built = {name: svc["build"] for name, svc in compose_config["services"].items() if "build" in svc}
    assert set(built) >= {"topics-init", *SERVICE_PORTS}
    for name, build in built.items():
        context = Path(build["context"] if isinstance(build, dict) else build)
        dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
        assert context.resolve() == REPO, f"{name}: build context must be the repository root"
        assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"
    for name in SERVICE_PORTS:
        assert Path(built[name]["dockerfile"]) == Path("services") / name / "Dockerfile"


def test_compose_kafka_disables_auto_create(compose_config: dict[str, Any]) -> None:
    kafka = compose_config["services"]["kafka"]
    assert kafka["image"] == "apache/kafka:3.9.1"
    env = kafka["environment"]
    assert str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false"
    assert str(env["KAFKA_PROCESS_ROLES"]) == "broker,controller"
    assert "EXTERNAL://localhost:29092" in str(env["KAFKA_ADVERTISED_LISTENERS"])
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


def test_compose_start_order(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    init = services["topics-init"]
    assert init["command"][:4] == ["python", "-m", "tools.topics", "create"]
    assert "kafka:9092" in init["command"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init.get("restart", "no") == "no"
    for name in SERVICE_PORTS:
        condition = services[name]["depends_on"]["topics-init"]["condition"]
        assert condition == "service_completed_successfully", name


def test_compose_services_environment(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    for name, port in SERVICE_PORTS.items():
        svc = services[name]
        env = {key: str(value) for key, value in svc["environment"].items()}
        assert env["PANTAU_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name
        assert env["PANTAU_ENVIRONMENT"] == "development", name
        port_var = "PORT" if name in {"meetings", "notifications"} else "WEB_PORT"
        host_var = "HOST" if name in {"meetings", "notifications"} else "WEB_HOST"
        assert env[f"PANTAU_{name.upper()}_{port_var}"] == str(port), name
        assert env[f"PANTAU_{name.upper()}_{host_var}"] == "0.0.0.0", name
        assert (port, port) in published_ports(svc), name
        assert any(kind == "volume" for kind, _, _ in volume_mounts(svc)), f"{name}: no named volume"
    secret = str(services["notifications"]["environment"]["PANTAU_NOTIFICATIONS_WEBHOOK_SECRET"])
    assert secret.startswith("whsec_")


def test_compose_secrets_are_the_recognised_development_placeholders(compose_config: dict[str, Any]) -> None:
    """The demo's secrets are exactly the ones the services refuse outside development."""
    from shared.settings import DEVELOPMENT_SECRETS

    services = compose_config["services"]
    secrets = {
        "PANTAU_AUTH_JWT_SECRET": services["meetings"]["environment"]["PANTAU_AUTH_JWT_SECRET"],
        "PANTAU_MEETINGS_PSEUDONYM_KEY": services["meetings"]["environment"]["PANTAU_MEETINGS_PSEUDONYM_KEY"],
        "PANTAU_NOTIFICATIONS_WEBHOOK_SECRET": services["notifications"]["environment"][
            "PANTAU_NOTIFICATIONS_WEBHOOK_SECRET"
        ],
    }
    for name, value in secrets.items():
        assert value in DEVELOPMENT_SECRETS, f"{name} is not a recognised development placeholder"


def test_compose_mounts_monitoring_config(compose_config: dict[str, Any]) -> None:
    services = compose_config["services"]
    mounts = {
        name: {
            Path(source).resolve(): target for kind, source, target in volume_mounts(services[name]) if kind == "bind"
        }
        for name in ("prometheus", "grafana")
    }
    assert mounts["prometheus"][PROMETHEUS_CONFIG] == "/etc/prometheus/prometheus.yml"
    assert mounts["prometheus"][RULES_DIR] == "/etc/prometheus/rules"
    assert mounts["grafana"][GRAFANA_DIR / "provisioning"] == "/etc/grafana/provisioning"
    dashboards_target = mounts["grafana"][GRAFANA_DIR / "dashboards"]
    provider = load_yaml(DASHBOARD_PROVIDER_FILE)["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == dashboards_target
    for source in (*mounts["prometheus"], *mounts["grafana"]):
        assert source.exists(), source


# --- Dockerfiles (no binary needed) ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICE_PORTS))
def test_dockerfile(name: str) -> None:
    text = (REPO / "services" / name / "Dockerfile").read_text(encoding="utf-8")
    port = SERVICE_PORTS[name]
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert '"uv==0.13.9"' in text
    assert "uv sync --frozen --no-dev" in text
    assert re.search(rf"^EXPOSE {port}$", text, re.MULTILINE)
    assert re.search(r"^USER (?!root\b|0\b)\S+", text, re.MULTILINE), "must run as a non-root user"
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.MULTILINE | re.DOTALL)
    assert f'CMD ["python", "-m", "services.{name}"]' in text
    for path in ("shared/", "services/", "tools/", "deploy/"):
        assert re.search(rf"^COPY {re.escape(path)} ", text, re.MULTILINE), path
    assert re.search(r"^COPY pyproject\.toml uv\.lock README\.md ", text, re.MULTILINE)


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".cache", "var", ".git"} <= entries
    assert entries & {"__pycache__", "**/__pycache__"}


# --- Prometheus -----------------------------------------------------------------------------------


def test_prometheus_scrapes_every_service() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    assert config["global"]["scrape_interval"] == "15s"
    targets = {
        job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]] for job in config["scrape_configs"]
    }
    assert targets == {f"pantau-{name}": [f"{name}:{port}"] for name, port in SERVICE_PORTS.items()}
    matched = {p for pattern in config["rule_files"] for p in PROMETHEUS_DIR.glob(pattern)}
    assert matched == set(RULE_FILES), "rule_files must load every *.rules.yml and nothing else"


def test_promtool_check_config() -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    # promtool resolves rule_files relative to the config file, so the cwd does not matter.
    result = run([promtool, "check", "config", str(PROMETHEUS_CONFIG)])
    assert_ok(result)
    found = re.search(r"SUCCESS: (\d+) rule files found", result.stdout + result.stderr)
    assert found, "promtool found no rule files: check rule_files in prometheus.yml"
    assert int(found.group(1)) == len(RULE_FILES)


def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    assert RULE_FILES
    assert_ok(run([promtool, "check", "rules", *map(str, RULE_FILES)]))


@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    promtool = require_binary("promtool", "apt-get install prometheus")
    assert_ok(run([promtool, "test", "rules", str(test_file)], cwd=test_file.parent))


def test_every_alert_is_labelled_annotated_and_unit_tested() -> None:
    cases = [
        case
        for path in RULE_TEST_FILES
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    fires = {case["alertname"] for case in cases if case.get("exp_alerts")}
    quiet = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    alerts = list(iter_alert_rules())
    assert alerts
    for path, rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in ALLOWED_SEVERITIES, f"{path.name}: {name}"
        assert set(rule["annotations"]) >= REQUIRED_ANNOTATIONS, f"{path.name}: {name}"
        assert name in fires, f"{name}: no promtool test shows it firing"
        assert name in quiet, f"{name}: no promtool test shows it staying quiet"


def test_rules_use_only_pantau_metrics() -> None:
    for where, expr in iter_rule_exprs():
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        bad = sorted(n for n in names if not is_allowed_metric(n))
        assert not bad, f"{where}: metrics {bad} are neither pantau_* nor up"


# --- Grafana --------------------------------------------------------------------------------------


def test_datasource_provisioning_declares_the_uid() -> None:
    datasources = load_yaml(DATASOURCE_FILE)["datasources"]
    by_uid = {ds["uid"]: ds for ds in datasources}
    assert DATASOURCE_UID in by_uid
    assert by_uid[DATASOURCE_UID]["type"] == "prometheus"
    assert by_uid[DATASOURCE_UID]["url"] == "http://prometheus:9090"


def test_there_is_a_dashboard() -> None:
    assert DASHBOARD_FILES, "no dashboard JSON in deploy/grafana/dashboards"
    uids = [load_dashboard(path).get("uid") for path in DASHBOARD_FILES]
    assert "pantau-overview" in uids
    assert len(uids) == len(set(uids)), "dashboard uids must be unique"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard.get("uid"), "dashboard without uid"
    assert dashboard.get("title"), "dashboard without title"
    assert isinstance(dashboard.get("schemaVersion"), int)
    panels = list(iter_panels(dashboard))
    assert panels, "dashboard has no panels"

    ids = [p.get("id") for p in (*panels, *iter_row_panels(dashboard))]
    assert all(isinstance(i, int) for i in ids), "every panel needs an integer id"
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"

    for panel in panels:
        title = panel.get("title", panel.get("id"))
        assert panel.get("gridPos"), f"{title}: no gridPos"
        assert panel.get("datasource", {}).get("uid") == DATASOURCE_UID, f"{title}: panel datasource"
        targets = panel.get("targets") or []
        assert targets, f"{title}: no targets"
        ref_ids = [t.get("refId") for t in targets]
        assert len(ref_ids) == len(set(ref_ids)), f"{title}: duplicate refId"
        for target in targets:
            assert str(target.get("expr", "")).strip(), f"{title}: empty expr"
            assert target.get("datasource", {}).get("uid") == DATASOURCE_UID, f"{title}: target datasource"

    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            assert variable.get("datasource", {}).get("uid") == DATASOURCE_UID, variable.get("name")


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_uses_only_pantau_metrics(path: Path) -> None:
    dashboard = load_dashboard(path)
    queries = [*iter_panel_queries(dashboard), *iter_variable_queries(dashboard)]
    assert queries
    for title, expr in queries:
        names = promql_metric_names(expr)
        assert names, f"{title}: no metric found in {expr!r}"
        bad = sorted(n for n in names if not is_allowed_metric(n))
        assert not bad, f"{title}: metrics {bad} are neither pantau_* nor up"


def test_overview_dashboard_contents() -> None:
    dashboard = load_dashboard(GRAFANA_DIR / "dashboards" / "pantau-overview.json")
    assert dashboard["uid"] == "pantau-overview"
    assert dashboard["title"] == "Pantau — national overview"
    assert dashboard["schemaVersion"] == 39
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert dict(iter_variable_queries(dashboard))["province"] == "pantau_meetings_recorded_total"
    assert "label_values(pantau_meetings_recorded_total, province)" in json.dumps(variables["province"])

    queries = list(iter_panel_queries(dashboard))
    by_metric: dict[str, list[str]] = {}
    for _, expr in queries:
        for name in promql_metric_names(expr):
            by_metric.setdefault(name, []).append(expr)
    for metric in (
        "pantau_meetings_recorded_total",
        "pantau_deviations_opened_total",
        "pantau_deviations_open",
        "pantau_events_processed_total",
        "up",
    ):
        assert metric in by_metric, f"no panel reads {metric}"
    # Programme metrics follow the province filter; system metrics have no province label.
    for metric in (
        "pantau_meetings_recorded_total",
        "pantau_deviations_opened_total",
        "pantau_deviations_open",
    ):
        for expr in by_metric[metric]:
            assert 'province=~"$province"' in expr, expr
    assert 'up{job=~"pantau-.*"}' in by_metric["up"]
    stat_exprs = [t["expr"] for p in iter_panels(dashboard) if p["type"] == "stat" for t in p["targets"]]
    assert any("pantau_deviations_open{" in e and "severity" in e for e in stat_exprs)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_dashboard_promql_parses(path: Path, tmp_path: Path) -> None:
    """Every panel and variable query, variables expanded, is valid PromQL for promtool."""
    promtool = require_binary("promtool", "apt-get install prometheus")
    dashboard = load_dashboard(path)
    queries = [*iter_panel_queries(dashboard), *iter_variable_queries(dashboard)]
    rules = [
        {"record": f"dashboard:query_{index}:check", "expr": expand_variables(expr)}
        for index, (_, expr) in enumerate(queries)
    ]
    rule_file = tmp_path / "dashboard-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}), encoding="utf-8")
    result = run([promtool, "check", "rules", str(rule_file)])
    index = "\n".join(f"  query_{i}: {title}: {expr}" for i, (title, expr) in enumerate(queries))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\nqueries:\n{index}"


def test_issue_six_dashboards_exist() -> None:
    """National overview, province drill-down (a `province` variable every programme panel follows),
    rule breakdown, supervisor response times and pipeline health."""
    dashboards = {load_dashboard(path)["uid"]: load_dashboard(path) for path in DASHBOARD_FILES}
    assert {"pantau-overview", "pantau-province", "pantau-rules", "pantau-supervisors", "pantau-pipeline"} <= set(
        dashboards
    )
    province = dashboards["pantau-province"]
    assert "province" in {v["name"] for v in province["templating"]["list"]}
    for title, expr in iter_panel_queries(province):
        assert 'province=~"$province"' in expr, f"{title}: does not follow the province variable"
    metrics = {
        name
        for dashboard in dashboards.values()
        for _, expr in iter_panel_queries(dashboard)
        for name in promql_metric_names(expr)
    }
    for metric in (
        "pantau_meeting_compliance_ratio",
        "pantau_meeting_groups_due",
        "pantau_attendance_ratio",
        "pantau_evaluation_score_sum",
        "pantau_alert_ack_seconds_bucket",
        "pantau_detection_latency_seconds_bucket",
        "pantau_consumer_lag_messages",
        "pantau_dead_letter_records_total",
        "pantau_outbox_lag_events",
    ):
        assert metric in metrics, f"no panel reads {metric}"


def test_system_alerts_cover_lag_dead_letters_outbox_and_down() -> None:
    by_name = {rule["alert"]: str(rule["expr"]) for _, rule in iter_alert_rules()}
    assert "pantau_consumer_lag_messages" in by_name["PantauConsumerLagHigh"]
    assert "pantau_dead_letters_total" in by_name["PantauDeadLettersIncreasing"]
    assert "pantau_dead_letter_records_total" in by_name["PantauDeadLetterTopicGrowing"]
    assert "pantau_outbox_lag_events" in by_name["PantauOutboxLagHigh"]
    assert by_name["PantauServiceDown"].startswith("up{")
