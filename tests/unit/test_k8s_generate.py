"""The Kubernetes generator and its checks (tools/k8s.py), without kustomize or kubeconform."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tools import k8s
from tools.topics import TopicSpec, load_topic_specs

pytestmark = pytest.mark.unit


def _topics(text: str) -> dict[str, dict[str, Any]]:
    return {doc["spec"]["topicName"]: doc for doc in yaml.safe_load_all(text) if doc and doc["kind"] == "KafkaTopic"}


def test_generated_files_are_committed_as_their_sources_give_them() -> None:
    assert k8s.stale_generated_files() == []


def test_generated_topics_equal_topics_yaml() -> None:
    specs = load_topic_specs()
    topics = _topics((k8s.GENERATED_DIR / "kafka.yaml").read_text())
    assert list(topics) == [spec.name for spec in specs]
    for spec in specs:
        topic = topics[spec.name]
        assert topic["metadata"]["name"] == spec.name
        assert topic["metadata"]["labels"] == {"strimzi.io/cluster": k8s.KAFKA_CLUSTER}
        assert topic["spec"]["partitions"] == spec.partitions
        assert topic["spec"]["replicas"] == spec.replication_factor
        assert {key: str(value) for key, value in (topic["spec"].get("config") or {}).items()} == spec.config
    assert k8s.topic_problems(list(yaml.safe_load_all((k8s.GENERATED_DIR / "kafka.yaml").read_text())), specs) == []


def test_broker_follows_the_declared_replication_and_never_auto_creates() -> None:
    specs = [TopicSpec(name="a", partitions=6, replication_factor=3, config={}, key="k")]
    pool, kafka, topic = k8s.kafka_resources(specs)
    assert pool["spec"]["replicas"] == 3
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert topic["spec"] == {"topicName": "a", "partitions": 6, "replicas": 3}


def test_prometheus_rule_holds_every_rule_of_the_rule_files() -> None:
    rule_files = sorted(k8s.RULES_DIR.glob("*.rules.yml"))
    expected = [
        rule for path in rule_files for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]
    generated = yaml.safe_load((k8s.GENERATED_DIR / "prometheus-rules.yaml").read_text())
    assert generated["kind"] == "PrometheusRule"
    assert [rule for group in generated["spec"]["groups"] for rule in group["rules"]] == expected
    assert expected, "no alert rules found"


def test_topic_problems_name_every_difference() -> None:
    specs = [
        TopicSpec(name="a", partitions=12, replication_factor=1, config={"cleanup.policy": "compact"}, key="k"),
        TopicSpec(name="b", partitions=3, replication_factor=1, config={}, key="k"),
    ]
    rendered = [
        {"kind": "KafkaTopic", "metadata": {"name": "a"}, "spec": {"partitions": 6, "replicas": 3, "config": {}}},
        {"kind": "KafkaTopic", "metadata": {"name": "c"}, "spec": {"topicName": "c", "partitions": 3}},
    ]
    assert k8s.topic_problems(rendered, specs) == [
        "topic b is declared but not rendered",
        "topic c is rendered but not declared",
        "topic a: 6 partitions, topics.yaml says 12",
        "topic a: cleanup.policy=None, topics.yaml says 'compact'",
    ]
    # Replication and extra configs are the overlay's to choose.
    rendered[0]["spec"] = {"partitions": 12, "replicas": 3, "config": {"cleanup.policy": "compact", "x": 1}}
    assert k8s.topic_problems(rendered[:1], specs[:1]) == []


def _scaled_object(maximum: Any, *topics: str) -> dict[str, Any]:
    return {
        "kind": "ScaledObject",
        "metadata": {"name": "w"},
        "spec": {
            "maxReplicaCount": maximum,
            "triggers": [{"type": "kafka", "metadata": {"topic": topic, "consumerGroup": "g"}} for topic in topics],
        },
    }


@pytest.mark.parametrize(
    ("scaled", "problems"),
    [
        (_scaled_object(12, "twelve"), []),
        (_scaled_object(3, "twelve", "three"), []),
        (_scaled_object(13, "twelve"), ["ScaledObject w: maxReplicaCount 13 exceeds 12 partitions"]),
        (_scaled_object(12, "twelve", "three"), ["ScaledObject w: maxReplicaCount 12 exceeds 3 partitions"]),
        (_scaled_object(1, "nowhere"), ["ScaledObject w: trigger topic 'nowhere' is not in topics.yaml"]),
        (_scaled_object(None, "three"), ["ScaledObject w: maxReplicaCount must be set"]),
        (_scaled_object(1), ["ScaledObject w: no kafka trigger (workers scale on consumer lag)"]),
    ],
)
def test_scalers_never_exceed_the_partitions_of_what_they_consume(scaled: dict[str, Any], problems: list[str]) -> None:
    specs = [
        TopicSpec(name="twelve", partitions=12, replication_factor=1, config={}, key="k"),
        TopicSpec(name="three", partitions=3, replication_factor=1, config={}, key="k"),
    ]
    assert k8s.scaling_problems([scaled], specs) == problems


def test_standalone_schema_inlines_only_what_it_reaches_and_survives_recursion() -> None:
    definitions = {
        "Spec": {"properties": {"child": {"$ref": "#/$defs/Node"}}},
        "Node": {"properties": {"next": {"$ref": "#/$defs/Node"}}},
        "Unused": {"type": "string"},
    }
    schema = {"properties": {"spec": {"$ref": "/api/_definitions.json#/$defs/Spec"}}}
    result = k8s.standalone_schema(schema, definitions)
    assert result["properties"]["spec"] == {"$ref": "#/$defs/Spec"}
    assert set(result["$defs"]) == {"Spec", "Node"}
    assert result["$defs"]["Node"]["properties"]["next"] == {"$ref": "#/$defs/Node"}


def test_crd_schemas_are_strict_and_keep_open_objects_open() -> None:
    crd = {
        "spec": {
            "group": "example.io",
            "names": {"kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "dropped",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "size": {"type": "integer", "description": "dropped"},
                                        "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                        # A property named like a keyword is still a property.
                                        "description": {"type": "string"},
                                    },
                                }
                            },
                        }
                    },
                },
                {"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": {}}},
            ],
        }
    }
    schemas = k8s.crd_schemas(crd)
    assert list(schemas) == ["example.io/widget_v1.json"]
    schema = schemas["example.io/widget_v1.json"]
    spec = schema["properties"]["spec"]
    assert schema["additionalProperties"] is False
    assert "description" not in schema
    assert spec["additionalProperties"] is False
    assert spec["properties"]["size"] == {"type": "integer"}
    assert "additionalProperties" not in spec["properties"]["config"]
    assert spec["properties"]["description"] == {"type": "string"}
